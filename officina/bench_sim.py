"""Benchmark: officina's control loop against raw PyBullet stepping of the same world.

Measured in one run, on one core, as ratios (the machine is shared and noisy):

* raw:  ``p.stepSimulation`` of the pick-place world (robot motors holding a pose);
* loop: officina's loop on an identical world - sample the reference trajectory, command the
  arm through the safety filter (SafeArm), step, read the joint state, log (the same pieces
  `officina run` uses);
* a full headless pick-place: its real-time factor (sim time / wall time of the procedure).

Goal (issue 2): loop <= 1.5x raw; pick-place >= 20x real time.

    python benchmarks/bench_sim.py   (or python -m officina.bench_sim) [--robot panda] [--steps 5000] [--repeats 3] [--json]
    officina bench sim ...
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np


def _world(robot: str, seed: int):
    from officina.robots import load_robot
    from officina.sim.world import SimWorld
    from officina.tasks import get_task

    spec = load_robot(robot)
    task = get_task("pick-place")
    params = task.Params()
    w = SimWorld()
    h = w.load_robot(spec)
    scene = task.build_scene(w, params, np.random.default_rng(seed))
    return w, h, spec, scene


def bench_raw(robot: str, steps: int, seed: int = 0) -> float:
    import pybullet as p

    from officina.sim.arm import SimArm, SimGripper

    w, h, spec, _ = _world(robot, seed)
    SimArm(w, h)
    SimGripper(w, h)
    cid = w.client_id
    t0 = time.perf_counter()
    for _ in range(steps):
        p.stepSimulation(physicsClientId=cid)
    dt = time.perf_counter() - t0
    w.close()
    return dt / steps


def bench_loop(robot: str, steps: int, seed: int = 0, safe: bool = True) -> tuple[float, int]:
    """officina's loop as `officina run` has it: reference -> SafeArm (safety filter) -> SimArm,
    step, read, tracking error, log. Returns (seconds per step, safety events)."""
    from officina.config import RunConfig
    from officina.controllers.model import RobotModel
    from officina.controllers.trajectory import plan_joint_move
    from officina.runner import _Recorder, _TapArm, make_safe_arm
    from officina.sim.arm import SimArm, SimGripper

    w, h, spec, scene = _world(robot, seed)
    model = RobotModel.from_spec(spec)
    cfg = RunConfig(task="pick-place", robot=robot)
    sim_arm = SimArm(w, h)
    SimGripper(w, h)
    safety = None
    if safe:
        safe_arm, safety = make_safe_arm(sim_arm, model, cfg)
    arm = _TapArm(safe_arm if safe else sim_arm)
    rec = _Recorder(w, arm, scene.objects, cfg)
    q0 = arm.read().position
    q1 = q0 + 0.3 * (spec.limits.mid() - q0)
    traj = plan_joint_move(q0, q1, spec.limits, 0.001, velocity_scale=0.3, acceleration_scale=0.3, jerk_scale=0.3)
    qs, qds = traj.q, traj.qd
    n = len(qs)
    t0 = time.perf_counter()
    for k in range(steps):
        i = min(k, n - 1)
        arm.command_positions(qs[i], qds[i])  # the reference of this period, through the filter
        rec.tick()  # step + read state + tracking error + log
    dt = time.perf_counter() - t0
    w.close()
    return dt / steps, (safety.total_events if safety is not None else 0)


def bench_pick_place(robot: str, seed: int = 0) -> dict:
    import tempfile

    from officina.runner import execute_run, resolve_config

    cfg = resolve_config("pick-place", robot=robot, seed=seed, overrides=["log.plots=false"])
    with tempfile.TemporaryDirectory() as d:
        m = execute_run(cfg, f"{d}/run").metrics
    return {"real_time_factor": m["real_time_factor"], "cycle_time_s": m["cycle_time_s"],
            "wall_time_s": m["wall_time_s"], "success": m["success"]}


def run(robot: str = "panda", steps: int = 5000, repeats: int = 3, seed: int = 0) -> dict:
    raw, loop, bare = [], [], []
    for _ in range(repeats):  # interleaved, so all see the same machine load
        raw.append(bench_raw(robot, steps, seed))
        bare.append(bench_loop(robot, steps, seed, safe=False)[0])
        per_step, events = bench_loop(robot, steps, seed)
        loop.append(per_step)
    r, lp, lb = statistics.median(raw), statistics.median(loop), statistics.median(bare)
    pp = bench_pick_place(robot, seed)
    return {
        "robot": robot,
        "steps": steps,
        "repeats": repeats,
        "raw_step_us": r * 1e6,
        "loop_step_us": lp * 1e6,
        "loop_over_raw": lp / r,
        "loop_without_safety_filter_step_us": lb * 1e6,
        "loop_without_safety_filter_over_raw": lb / r,
        "loop_safety_events": events,
        "raw_real_time_factor": 0.001 / r,
        "pick_place": pp,
        "goals": {"loop_over_raw_max": 1.5, "pick_place_rtf_min": 20.0},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="panda")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    res = run(a.robot, a.steps, a.repeats, a.seed)
    print_result(res, a.json)
    return 0


def print_result(res: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(res, indent=2))
        return
    pp = res["pick_place"]
    print(f"robot {res['robot']}: {res['steps']} steps x {res['repeats']} repeats (medians), 1 ms physics step")
    print(f"  raw PyBullet stepping      {res['raw_step_us']:8.1f} us/step  ({res['raw_real_time_factor']:.1f}x real time)")
    print(f"  officina loop, no filter   {res['loop_without_safety_filter_step_us']:8.1f} us/step  "
          f"{res['loop_without_safety_filter_over_raw']:5.2f}x raw  (read, reference, command, step, log)")
    print(f"  officina loop as run       {res['loop_step_us']:8.1f} us/step  "
          f"{res['loop_over_raw']:5.2f}x raw  (the same through the safety filter; goal <= 1.5x)")
    print(f"  pick-place real-time factor {pp['real_time_factor']:7.1f}x   (goal >= 20x; cycle {pp['cycle_time_s']:.1f} s sim, "
          f"{pp['wall_time_s']:.1f} s wall, success {pp['success']})")


if __name__ == "__main__":
    sys.exit(main())
