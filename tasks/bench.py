"""Benchmark: officina's run loop against raw PyBullet stepping of the same world.

Measured in one process, interleaved, as ratios, on the pick-place world of a robot. The
machine is shared and noisy: the loop rows count the CPU time of the measuring thread
(``time.thread_time``, so time other processes take from it does not count) and report the
smallest of the repeats.

* raw: ``p.stepSimulation`` of the world, the arm's motors holding a pose;
* hand-written: the loop one writes with PyBullet's API alone (read the joint states, send the
  position targets, step) following the loop rows' trajectory: what any loop has to do;
* loop rows: the run loop (`officina.tasks.runtime.Clock` with its `Recorder`) following a
  reference trajectory, one position command per control period through `SafeArm`:
  as run (the safety filter with its fast path, and the state log streamed to an MCAP file by its
  writer process), without the state log (what the log costs the loop), with the fast path off
  (every command through the full checks), and without the filter or the log (the loop's own
  cost);
* a whole headless ``officina run pick-place`` (the command line's own ``main``, plots and log
  included) in a fresh interpreter: its real-time factor and where its time goes (start-up, the
  procedure, writing the run folder), by the wall clock and by the CPU time of the process tree
  (the run's process, its state log writer and its plot process), which the machine's other
  load does not inflate; and the same run at a 4 ms step and 250 Hz control (`STEP_4MS`).

Goals: the loop as run <= 1.5x raw stepping; pick-place >= 20x real time; start-up and the work
after the simulation together < 20 % of the whole process's wall time (the CPU-time share is
reported beside it).

    python benchmarks/bench_sim.py [--robot panda] [--steps 5000] [--repeats 3] [--json]
    officina bench sim ...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Callable, Sequence

import numpy as np

__all__ = ["run", "print_result", "main", "raw_stepping", "STEP_4MS"]

# pick-place at a 4 ms physics step and 250 Hz control, the rate of ABB's EGM and KUKA's RSI
# (docs/physics.md, "A 4 ms step": what that step keeps of the tasks)
STEP_4MS = ("--set", "sim.dt=0.004", "--set", "sim.control_dt=0.004")


def _cell(robot: str, seed: int):
    from officina.robots import load_robot
    from officina.tasks import get_task
    from officina.tasks.runtime import build_sim_cell

    task = get_task("pick-place")
    return build_sim_cell(task, task.Params(), load_robot(robot), rng=np.random.default_rng(seed))


def bench_raw(robot: str, steps: int, seed: int = 0) -> float:
    """Seconds of thread CPU time per raw ``p.stepSimulation`` of the pick-place world."""
    (cpu_s, _, _), = raw_stepping(robot, steps, 1, seed)
    return cpu_s / steps


def raw_stepping(robot: str, steps: int, repeats: int, seed: int = 0,
                 ready: Callable[[], None] | None = None) -> list[tuple[float, float, float]]:
    """Raw stepping of the pick-place world, the arm's motors holding a pose: ``repeats`` times
    ``steps`` calls of ``p.stepSimulation`` on one cell, each as (thread CPU s, wall s, wall
    clock at its start: ``time.perf_counter``, comparable across processes on Linux).
    ``ready``: called once the cell is built, before the first step (e.g. a barrier that starts
    several processes' stepping at once)."""
    from officina.sim.bullet import pybullet as p

    sim = _cell(robot, seed)
    cid = sim.world.client_id
    if ready is not None:
        ready()
    out = []
    for _ in range(repeats):
        w0, t0 = time.perf_counter(), time.thread_time()
        for _ in range(steps):
            p.stepSimulation(physicsClientId=cid)
        out.append((time.thread_time() - t0, time.perf_counter() - w0, w0))
    sim.close()
    return out


def bench_hand(robot: str, steps: int, seed: int = 0) -> float:
    """Seconds per control period of the loop one writes by hand with PyBullet's API: read the
    arm's joint states, send the position targets (with velocity feed-forward, the efforts and
    gains `SimArm` uses), step; following the same trajectory as `bench_loop`."""
    import inspect

    from officina.sim.arm import SimArm
    from officina.sim.bullet import pybullet as p

    sim = _cell(robot, seed)
    cid, body, spec = sim.world.client_id, sim.robot.body_id, sim.robot.spec
    idx = [sim.robot.joint_index[n] for n in spec.joint_names]
    defaults = inspect.signature(SimArm.__init__).parameters
    kp = [defaults["position_gain"].default] * len(idx)
    kd = [defaults["velocity_gain"].default] * len(idx)
    forces = spec.limits.effort.tolist()
    qs, qds = _trajectory(sim)
    n = len(qs)
    t0 = time.thread_time()
    for k in range(steps):
        i = min(k, n - 1)
        p.getJointStates(body, idx, physicsClientId=cid)
        p.setJointMotorControlArray(body, idx, p.POSITION_CONTROL, targetPositions=qs[i].tolist(),
                                    targetVelocities=qds[i].tolist(), forces=forces, positionGains=kp,
                                    velocityGains=kd, physicsClientId=cid)
        for _ in range(sim.substeps):
            p.stepSimulation(physicsClientId=cid)
    dt = time.thread_time() - t0
    sim.close()
    return dt / steps


def _trajectory(sim) -> tuple[np.ndarray, np.ndarray]:
    """The reference the loop rows follow: a jerk-limited move 30 % of the way from the arm's
    pose to the middle of its joint ranges."""
    from officina.controllers.trajectory import plan_joint_move

    spec = sim.robot.spec
    q0 = sim.arm.read().position
    q1 = q0 + 0.3 * (spec.limits.mid() - q0)
    traj = plan_joint_move(q0, q1, spec.limits, sim.control_dt, velocity_scale=0.3, acceleration_scale=0.3,
                           jerk_scale=0.3)
    return traj.q, traj.qd


class _Unfiltered:
    """The SimArm as the loop sees a SafeArm, without the filter (to measure what it costs)."""

    def __init__(self, arm) -> None:
        self._arm = arm
        self.read = arm.read
        self.mode = arm.mode
        self.last_command = None

    def monitor(self) -> None:
        pass

    def command_positions(self, q, qd=None) -> None:
        self._arm.command_positions(q, qd)
        self.last_command = q


def bench_loop(robot: str, steps: int, seed: int = 0, mode: str = "run") -> tuple[float, int]:
    """Seconds per control period of the run loop, and the safety events it caused.
    ``mode``: "run" (as `officina run` has it), "nolog" (as run, without the state log), "full"
    (the filter without its fast path), "bare" (no filter, no log)."""
    from officina.controllers.safe_arm import SafeArm
    from officina.controllers.safety import SafetyConfig, SafetyFilter
    from officina.tasks.runtime import Clock, Recorder

    sim = _cell(robot, seed)
    spec = sim.robot.spec
    if mode == "bare":
        arm = _Unfiltered(sim.arm)
    else:
        cfg = SafetyConfig(watchdog_periods=50, fast_path=mode != "full")
        arm = SafeArm(sim.arm, SafetyFilter(spec.limits, sim.control_dt, cfg, gravity=sim.model.gravity))
    rec = Recorder(sim.world, arm, sim.scene.objects, sim.control_dt)
    observers: list = [rec]
    log = None
    if mode in ("run", "full"):
        import tempfile

        from officina.statelog import StateLogObserver

        tmp = tempfile.TemporaryDirectory()
        log = StateLogObserver.for_cell(f"{tmp.name}/state.mcap", sim)
        log.attach(rec)
        observers.append(log)
    clock = Clock(sim.world, arm, sim.substeps, observers)
    qs, qds = _trajectory(sim)
    n = len(qs)
    t0 = time.thread_time()
    for k in range(steps):
        i = min(k, n - 1)
        arm.command_positions(qs[i], qds[i])
        clock.tick()
    dt = time.thread_time() - t0
    sim.close()
    if log is not None:
        log.close()
        tmp.cleanup()
    return dt / steps, (0 if mode == "bare" else arm.total_events)


_PROFILE = r"""
import json, resource, sys, tempfile, time
t_start, c_start = time.perf_counter(), time.process_time()
from officina.cli import main
phases = {}
import officina.tasks.runtime as rt
orig_run_episode = rt.run_episode
def timed_episode(*a, **k):
    t, c = time.perf_counter(), time.process_time()
    out = orig_run_episode(*a, **k)
    phases["procedure_s"] = time.perf_counter() - t
    phases["procedure_cpu_s"] = time.process_time() - c
    phases["after_start"], phases["after_start_cpu"] = time.perf_counter(), time.process_time()
    return out
rt.run_episode = timed_episode
robot, seed, report = sys.argv[1:4]
with tempfile.TemporaryDirectory() as d:
    t_run, c_run = time.perf_counter(), time.process_time()
    try:
        main(["run", "pick-place", "--robot", robot, "--seed", seed, "--out", d + "/run", *sys.argv[4:]])
    except SystemExit as exc:
        if exc.code not in (0, 1, None):
            raise
    t_end, c_end = time.perf_counter(), time.process_time()
    with open(d + "/run/metrics.json") as f:
        m = json.load(f)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
phases["after_s"] = t_end - phases.pop("after_start")
phases["after_cpu_s"] = c_end - phases.pop("after_start_cpu")
phases["startup_s"] = t_run - t_start
phases["startup_cpu_s"] = c_run - c_start
phases["setup_s"] = (t_end - t_run) - phases["procedure_s"] - phases["after_s"]
phases["setup_cpu_s"] = (c_end - c_run) - phases["procedure_cpu_s"] - phases["after_cpu_s"]
phases["children_cpu_s"] = ru.ru_utime + ru.ru_stime
phases["interpreter_start_cpu_s"] = c_start
phases["cpu_at_report_s"] = time.process_time()
with open(report, "w") as f:
    json.dump({"metrics": {k: m[k] for k in ("success", "cycle_time_s", "real_time_factor", "wall_time_s")},
               "phases": phases, "in_process_s": time.perf_counter() - t_start}, f)
"""

#: officina's packages, each a folder of sources (pyproject.toml's package-dir)
_PACKAGES = ("officina", "officina.sim", "officina.controllers", "officina.vision", "officina.exoskeleton",
             "officina.tasks", "officina.ros", "officina.benchmarks")


def compile_officina() -> None:
    """Compile officina's modules into their bytecode caches (``__pycache__`` beside the sources,
    up-to-date ones are left alone), as an installed officina has them: pip compiles a package
    when it installs it, and Python caches a module at its first import, unless told not to
    write bytecode (PYTHONDONTWRITEBYTECODE). Where that is set and the caches are missing,
    every process of a run compiles officina's sources as it starts (about 0.1 s of CPU in the
    run's process), which a user's runs do not; the benchmark measures what they do."""
    import compileall
    import importlib.util

    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or ()) if spec is not None else ():
            compileall.compile_dir(folder, quiet=2)  # a read-only install: nothing written, no error


def _children_cpu_s() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bench_pick_place(robot: str, seed: int = 0, options: Sequence[str] = ()) -> dict:
    """A whole `officina run pick-place` in a fresh interpreter (``options``: more of `officina
    run`'s options): its phases, its total wall time, and the CPU time of the whole process tree
    (the run's process, its state log writer and its plot process).

    On a machine other work shares, wall-clock figures measure the load as much as the code; the
    CPU-time figures do not: ``cpu_real_time_factor`` is simulated time over the CPU time the
    run's process spent in the procedure (its wall time on a free core, the writer running on
    another), ``overhead_share_cpu`` the CPU time of everything but the procedure (interpreter,
    imports, set-up, plots, metrics, and all of the writer's encoding) over the tree's. The
    ``*_cpu_s`` phases are the CPU time of the run's process alone. officina's modules are
    compiled first (`compile_officina`), so that the run starts as an installed officina does."""
    import tempfile

    compile_officina()
    with tempfile.TemporaryDirectory() as d:
        report = os.path.join(d, "phases.json")
        c0 = _children_cpu_s()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _PROFILE, robot, str(seed), report, *options], capture_output=True,
                       check=True)
        total = time.perf_counter() - t0
        cpu_total = _children_cpu_s() - c0
        with open(report) as f:
            res = json.load(f)
    ph = res["phases"]
    ph["interpreter_s"] = total - res["in_process_s"]
    # the run's process: the tree less its children; the interpreter's CPU is what it took
    # before the first import and after the report
    run_cpu = cpu_total - ph["children_cpu_s"]
    ph["interpreter_cpu_s"] = ph.pop("interpreter_start_cpu_s") + run_cpu - ph.pop("cpu_at_report_s")
    m = res["metrics"]
    return {**m, "process_wall_s": total, "process_tree_cpu_s": cpu_total, "phases": ph,
            "overhead_share": (total - ph["procedure_s"]) / total,
            "process_real_time_factor": m["cycle_time_s"] / total,
            "cpu_real_time_factor": m["cycle_time_s"] / ph["procedure_cpu_s"],
            "overhead_share_cpu": (cpu_total - ph["procedure_cpu_s"]) / cpu_total}


def run(robot: str = "panda", steps: int = 5000, repeats: int = 3, seed: int = 0) -> dict:
    rows: dict[str, list[float]] = {"raw": [], "hand": [], "run": [], "nolog": [], "full": [], "bare": []}
    events = 0
    for _ in range(repeats):  # interleaved, so all see the same machine load
        rows["raw"].append(bench_raw(robot, steps, seed))
        rows["hand"].append(bench_hand(robot, steps, seed))
        for mode in ("bare", "full", "nolog", "run"):
            per_step, ev = bench_loop(robot, steps, seed, mode)
            rows[mode].append(per_step)
            events = max(events, ev)
    med = {k: min(v) for k, v in rows.items()}
    return {
        "robot": robot, "steps": steps, "repeats": repeats,
        "raw_step_us": med["raw"] * 1e6,
        "hand_loop_step_us": med["hand"] * 1e6, "hand_loop_over_raw": med["hand"] / med["raw"],
        "loop_step_us": med["run"] * 1e6, "loop_over_raw": med["run"] / med["raw"],
        "loop_over_hand_loop": med["run"] / med["hand"],
        "loop_without_state_log_step_us": med["nolog"] * 1e6, "loop_over_loop_without_state_log": med["run"] / med["nolog"],
        "loop_full_checks_step_us": med["full"] * 1e6, "loop_full_checks_over_raw": med["full"] / med["raw"],
        "loop_without_safety_filter_step_us": med["bare"] * 1e6,
        "loop_without_safety_filter_over_raw": med["bare"] / med["raw"],
        "loop_safety_events": events,
        "raw_real_time_factor": 0.001 / med["raw"],
        "pick_place": bench_pick_place(robot, seed),
        "pick_place_4ms": bench_pick_place(robot, seed, STEP_4MS),
        "load_average": os.getloadavg()[0],
        "goals": {"loop_over_raw_max": 1.5, "pick_place_rtf_min": 20.0, "overhead_share_max": 0.2},
    }


def print_result(res: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(res, indent=2))
        return
    pp = res["pick_place"]
    ph = pp["phases"]
    print(f"robot {res['robot']}: {res['steps']} control periods x {res['repeats']} repeats (fastest, "
          f"thread CPU time), 1 ms physics step")
    print(f"  raw PyBullet stepping        {res['raw_step_us']:8.1f} us/step  ({res['raw_real_time_factor']:.1f}x real time)")
    print(f"  hand-written PyBullet loop   {res['hand_loop_step_us']:8.1f} us/step  "
          f"{res['hand_loop_over_raw']:5.2f}x raw  (read, command, step)")
    print(f"  loop without the filter      {res['loop_without_safety_filter_step_us']:8.1f} us/step  "
          f"{res['loop_without_safety_filter_over_raw']:5.2f}x raw")
    print(f"  loop, filter's full checks   {res['loop_full_checks_step_us']:8.1f} us/step  "
          f"{res['loop_full_checks_over_raw']:5.2f}x raw  (fast path off)")
    print(f"  loop without the state log   {res['loop_without_state_log_step_us']:8.1f} us/step")
    print(f"  loop as run                  {res['loop_step_us']:8.1f} us/step  "
          f"{res['loop_over_raw']:5.2f}x raw  (goal <= 1.5x); the state log "
          f"{res['loop_over_loop_without_state_log']:.3f}x")
    print(f"  pick-place real-time factor  {pp['real_time_factor']:7.1f}x wall clock, "
          f"{pp['cpu_real_time_factor']:.1f}x CPU time (goal >= 20x; raw stepping {res['raw_real_time_factor']:.1f}x; "
          f"cycle {pp['cycle_time_s']:.1f} s sim, success {pp['success']}; load average {res['load_average']:.1f})")
    p4 = res["pick_place_4ms"]
    print(f"  the same at a 4 ms step      {p4['real_time_factor']:7.1f}x wall clock, "
          f"{p4['cpu_real_time_factor']:.1f}x CPU time (250 Hz control; cycle {p4['cycle_time_s']:.1f} s sim, "
          f"success {p4['success']})")
    print(f"  whole process {pp['process_wall_s']:.2f} s: interpreter {ph['interpreter_s']:.2f}, imports "
          f"{ph['startup_s']:.2f}, configuration and cell set-up {ph['setup_s']:.2f}, procedure "
          f"{ph['procedure_s']:.2f}, run folder {ph['after_s']:.2f}; CPU {pp['process_tree_cpu_s']:.2f} s, of "
          f"which the procedure {ph['procedure_cpu_s']:.2f}, the state log writer and plot processes "
          f"{ph['children_cpu_s']:.2f}")
    print(f"  start-up + run folder: {100 * pp['overhead_share']:.0f} % of the process's wall time (goal < 20 %), "
          f"{100 * pp['overhead_share_cpu']:.0f} % of the process tree's CPU time")
    print(f"  the run's process, CPU time: interpreter {ph['interpreter_cpu_s']:.2f}, imports {ph['startup_cpu_s']:.2f}, "
          f"configuration and cell set-up {ph['setup_cpu_s']:.2f}, procedure {ph['procedure_cpu_s']:.2f}, run folder "
          f"{ph['after_cpu_s']:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="panda")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    print_result(run(a.robot, a.steps, a.repeats, a.seed), a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
