"""Benchmark: what PyBullet's physics costs on the pick-place cell, and what the physics settings
keep, over a fixed set of seeds on every robot.

A *variant* is a set of physics settings: the physics step and the control period, the solver's
iteration cap and residual threshold, whether objects and fixtures are maximal-coordinate rigid
bodies, and the objects' rolling friction. For every robot, seed and variant the pick-place
procedure runs to its end on a fresh world, through the run loop as `officina run` has it (safety
filter, recorder), without writing a run folder. Per robot and variant the table shows:

* ``phys ms/s``: thread CPU time of PyBullet's ``stepSimulation`` per simulated second, and
  ``phys RTF``, the real-time factor of the physics alone;
* ``loop ms/s`` and ``loop RTF``: the same for the whole episode (procedure, planning, camera,
  safety filter, recorder and physics; start-up and the run folder are not in it);
* the outcomes: runs that succeeded, objects placed, safety events (all runs);
* ``err run``: the largest ``max_joint_tracking_error_rad`` as `officina run` reports it
  (|measured - last command| at the end of each control period: about one period of motion
  while the arm moves, so it grows with the control period by construction);
* ``err same t``: the largest |measured - commanded| at the instant the command is for (each
  command against the state read when it is sent), which does not depend on the period;
* ``slip mm`` / ``turn deg``: how far the held object moved and turned in the hand while it
  was lifted and held, the largest over all grasps (ground truth sampled every 10 ms).

Timings are thread CPU time (``time.thread_time``): time other processes take from this one on a
shared machine does not count; ``--repeats N`` runs everything N times, interleaved, and keeps
the fastest; outcomes must be identical between repeats (checked: the same seed gives the same
metrics). The variant ``default`` is what `officina run` uses (``SimSettings`` and `SimWorld`
defaults); ``pybullet`` is PyBullet's own solver settings (50 iterations, residual 1e-7) with
one-link multibody objects and fixtures, rolling friction 1e-4 m on the objects and on the
parallel gripper's pads, at a 1 ms step and control period. The other variants change one
thing at a time from ``pybullet`` (``rigid``, ``no_rolling``, ``residual``, ``step_2ms``), or
add the cheaper solver options to the defaults (``fast``), also at a 2 ms step and control
period (``fast_2ms``), or lower the cap on the solver's iterations from the defaults (``iter30``,
``iter20``, and ``iter20_2ms`` at a 2 ms step and control period), or run the defaults and the
cheaper options at a 4 ms step and control period (``step_4ms``, ``fast_4ms``).

    python benchmarks/bench_physics.py [--robots panda,iiwa,ur5e] [--seeds 0-9]
        [--variants pybullet,default] [--repeats 1] [--json]
    officina bench physics ...
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

__all__ = ["Variant", "variants", "sim_cell", "GraspSlip", "run_one", "run", "print_result", "main", "parse_seeds"]


@dataclass(frozen=True)
class Variant:
    """Physics settings of one benchmark variant (`SimWorld` arguments and the control period)."""

    sim_dt: float
    control_dt: float
    solver_iterations: int
    solver_residual_threshold: float
    rigid_bodies: bool
    object_rolling_friction: float
    pad_rolling_friction: float | None = None  # parallel gripper's finger pads; None: as its URDF has it

    def world_kwargs(self) -> dict[str, Any]:
        return {"sim_dt": self.sim_dt, "solver_iterations": self.solver_iterations,
                "solver_residual_threshold": self.solver_residual_threshold,
                "rigid_bodies": self.rigid_bodies, "object_rolling_friction": self.object_rolling_friction}


def _default_variant() -> Variant:
    from officina.config import SimSettings
    from officina.sim.world import SimWorld

    sim = SimSettings()
    world = inspect.signature(SimWorld.__init__).parameters
    return Variant(sim.dt, sim.control_dt, sim.solver_iterations, world["solver_residual_threshold"].default,
                   world["rigid_bodies"].default, world["object_rolling_friction"].default)


def variants() -> dict[str, Variant]:
    """The named variants: officina's defaults, PyBullet's, and each step between them."""
    d = _default_variant()
    pb = Variant(0.001, 0.001, 50, 1e-7, False, 1e-4, 1e-4)
    return {
        "pybullet": pb,
        "default": d,
        # one change at a time on top of "pybullet", to attribute the gain
        "rigid": replace(pb, rigid_bodies=d.rigid_bodies),
        "no_rolling": replace(pb, object_rolling_friction=d.object_rolling_friction,
                              pad_rolling_friction=d.pad_rolling_friction),
        "residual": replace(pb, solver_residual_threshold=d.solver_residual_threshold),
        "step_2ms": replace(pb, sim_dt=0.002, control_dt=0.002),
        # the defaults with the cheaper solver options on top (a looser residual, rigid bodies)
        "fast": replace(d, solver_residual_threshold=1e-6, rigid_bodies=True),
        # the same at a 2 ms step and control period (500 Hz)
        "fast_2ms": replace(d, solver_residual_threshold=1e-6, rigid_bodies=True, sim_dt=0.002, control_dt=0.002),
        # the defaults with a lower cap on the solver's iterations (a held part keeps the solver
        # from reaching the residual threshold: those steps run to the cap)
        "iter30": replace(d, solver_iterations=30),
        "iter20": replace(d, solver_iterations=20),
        "iter20_2ms": replace(d, solver_iterations=20, sim_dt=0.002, control_dt=0.002),
        # a 4 ms step and control period (250 Hz), about PyBullet's own default step of 1/240 s
        "step_4ms": replace(d, sim_dt=0.004, control_dt=0.004),
        "fast_4ms": replace(d, solver_residual_threshold=1e-6, rigid_bodies=True, sim_dt=0.004, control_dt=0.004),
    }


def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` -> 0..9, ``"0,3,5"`` -> [0, 3, 5]; ValueError with one line otherwise."""
    out: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                a, b = part.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise ValueError(f"seeds {text!r}: expected a range such as 0-9 or a list such as 0,3,5") from None
    if not out or min(out) < 0:
        raise ValueError(f"seeds {text!r}: expected non-negative seeds")
    return out


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


class GraspSlip:
    """Observer: how far each held object moves and turns in the hand (ground truth).

    Every ``period_s`` of simulated time, for each object lifted ``lift_m`` above where it
    started, within ``near_m`` of the hand, while the gripper reports HOLDING: its position and
    orientation in the frame of the link that carries the tcp, against the first such sample of
    the same grasp."""

    def __init__(self, world, robot, gripper, objects, *, period_s: float = 0.01, lift_m: float = 0.02,
                 near_m: float = 0.2) -> None:
        self._world = world
        self._body = robot.body_id
        self._link = robot.link_index[robot.spec.tcp_parent]
        self._gripper = gripper
        self._objects = list(objects)
        self._z0 = [float(world.object_pose(o.body_id)[0][2]) for o in self._objects]
        self._ref: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(self._objects)
        self._period = period_s
        self._next = 0.0
        self._lift = lift_m
        self._near = near_m
        self.max_slip_m = 0.0
        self.max_turn_rad = 0.0
        self.samples = 0
        self.cpu_s = 0.0

    def on_tick(self, k: int, state) -> None:
        if state.stamp + 1e-9 < self._next or self._gripper is None:
            return
        t0 = time.thread_time()
        self._next = state.stamp + self._period
        from officina.interfaces import GraspState

        holding = self._gripper.grasp_state() == GraspState.HOLDING
        p_h, q_h = self._world.link_pose(self._body, self._link)
        R_h = _quat_matrix(q_h)
        for i, o in enumerate(self._objects):
            p_o, q_o = self._world.object_pose(o.body_id)
            carried = (holding and p_o[2] > self._z0[i] + self._lift
                       and float(np.linalg.norm(p_o - p_h)) < self._near)
            if not carried:
                self._ref[i] = None
                continue
            rel_p = R_h.T @ (p_o - p_h)
            rel_R = R_h.T @ _quat_matrix(q_o)
            self.samples += 1
            if self._ref[i] is None:
                self._ref[i] = (rel_p, rel_R)
                continue
            ref_p, ref_R = self._ref[i]
            self.max_slip_m = max(self.max_slip_m, float(np.linalg.norm(rel_p - ref_p)))
            c = (np.trace(ref_R.T @ rel_R) - 1.0) / 2.0
            self.max_turn_rad = max(self.max_turn_rad, float(np.arccos(np.clip(c, -1.0, 1.0))))
        self.cpu_s += time.thread_time() - t0


def sim_cell(robot: str, seed: int, v: Variant, *, mirror: bool = False):
    """The pick-place cell of ``robot`` and ``seed`` with the variant's physics: `build_sim_cell`'s
    own for the ``default`` variant (unless ``mirror``), else the same steps on a world with the
    variant's settings (`build_sim_cell` takes no world settings beyond the solver's iterations)."""
    from officina.controllers.model import RobotModel
    from officina.robots import load_robot
    from officina.sim.arm import SimArm, SimGripper, control_substeps
    from officina.sim.world import SimWorld
    from officina.tasks import get_task
    from officina.tasks.runtime import SimCell, build_sim_cell

    task = get_task("pick-place")
    params = task.Params()
    spec = load_robot(robot)
    rng = np.random.default_rng(seed)
    if v == _default_variant() and not mirror:
        return build_sim_cell(task, params, spec, rng=rng, control_dt=v.control_dt, sim_dt=v.sim_dt,
                              solver_iterations=v.solver_iterations)
    control_substeps(v.control_dt, v.sim_dt)
    world = SimWorld(control_dt=v.control_dt, **v.world_kwargs())
    try:
        handle = world.load_robot(spec)
        scene = task.build_scene(world, params, rng)
        world.restart_clock()
        camera = task.make_camera(world, params)
        arm = SimArm(world, handle, v.control_dt)
        gripper = SimGripper(world, handle) if spec.gripper is not None else None
        model = RobotModel.from_spec(spec)
        if v.pad_rolling_friction is not None and spec.gripper is not None and spec.gripper.kind == "parallel":
            import pybullet as p

            for name in spec.gripper.finger_joints:
                p.changeDynamics(handle.body_id, handle.joint_index[name], rollingFriction=v.pad_rolling_friction,
                                 physicsClientId=world.client_id)
    except BaseException:
        world.close()
        raise
    return SimCell(task, params, world, handle, scene, arm, gripper, camera, model, rng, float(v.control_dt))


def run_one(robot: str, seed: int, v: Variant) -> dict[str, Any]:
    """One pick-place episode with the variant's physics: its outcome, fidelity and timings."""
    from officina.config import RunConfig
    from officina.runner import safety_config
    from officina.tasks.runtime import run_episode

    sim = sim_cell(robot, seed, v)
    world, arm = sim.world, sim.arm
    physics = [0.0]
    step = world.step

    def timed_step(n: int = 1) -> None:
        t0 = time.thread_time()
        step(n)
        physics[0] += time.thread_time() - t0

    world.step = timed_step
    err_same_t = [0.0]
    command = arm.command_positions

    def checked_command(q, qd=None) -> None:
        err_same_t[0] = max(err_same_t[0], float(np.max(np.abs(arm.read().position - np.asarray(q)))))
        command(q, qd)

    arm.command_positions = checked_command
    slip = GraspSlip(world, sim.robot, sim.gripper, sim.scene.objects)
    try:
        t0 = time.thread_time()
        ep = run_episode(sim, safety_config(RunConfig(task="pick-place")), observers=[slip])
        loop_s = time.thread_time() - t0 - slip.cpu_s
    finally:
        sim.close()
    m = ep.metrics
    sim_s = float(m["cycle_time_s"])
    return {
        "robot": robot, "seed": seed, "success": bool(m["success"]), "objects_placed": m["objects_placed"],
        "objects_total": m["objects_total"], "safety_events_total": m["safety_events_total"],
        "max_joint_tracking_error_rad": m["max_joint_tracking_error_rad"],
        "max_error_same_instant_rad": err_same_t[0], "max_grasp_slip_m": slip.max_slip_m,
        "max_grasp_turn_rad": slip.max_turn_rad, "grasp_samples": slip.samples,
        "cycle_time_s": sim_s, "sim_steps": m["sim_steps"],
        "physics_s": physics[0], "loop_s": loop_s,
    }


_OUTCOME_KEYS = ("success", "objects_placed", "safety_events_total", "max_joint_tracking_error_rad",
                 "max_error_same_instant_rad", "max_grasp_slip_m", "max_grasp_turn_rad", "cycle_time_s", "sim_steps")


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    sim_s = sum(r["cycle_time_s"] for r in runs)
    phys = sum(r["physics_s"] for r in runs)
    loop = sum(r["loop_s"] for r in runs)
    return {
        "runs": len(runs), "sim_s": sim_s,
        "physics_ms_per_sim_s": 1e3 * phys / sim_s, "physics_rtf": sim_s / phys,
        "loop_ms_per_sim_s": 1e3 * loop / sim_s, "loop_rtf": sim_s / loop,
        "successes": sum(r["success"] for r in runs),
        "objects_placed": sum(r["objects_placed"] for r in runs),
        "objects_total": sum(r["objects_total"] for r in runs),
        "safety_events_total": sum(r["safety_events_total"] for r in runs),
        "max_joint_tracking_error_rad": max(r["max_joint_tracking_error_rad"] for r in runs),
        "max_error_same_instant_rad": max(r["max_error_same_instant_rad"] for r in runs),
        "max_grasp_slip_m": max(r["max_grasp_slip_m"] for r in runs),
        "max_grasp_turn_rad": max(r["max_grasp_turn_rad"] for r in runs),
    }


def run(robots: list[str], seeds: list[int], names: list[str], repeats: int = 1,
        progress=None) -> dict[str, Any]:
    """Every robot x seed x variant, ``repeats`` times interleaved; the fastest timings kept."""
    table = variants()
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; expected some of {', '.join(table)}")
    best: dict[tuple[str, str, int], dict[str, Any]] = {}
    deterministic = True
    for _ in range(repeats):
        for robot in robots:
            for seed in seeds:
                for name in names:
                    r = run_one(robot, seed, table[name])
                    key = (name, robot, seed)
                    old = best.get(key)
                    if old is None:
                        best[key] = r
                    else:
                        deterministic &= all(old[k] == r[k] for k in _OUTCOME_KEYS)
                        old["physics_s"] = min(old["physics_s"], r["physics_s"])
                        old["loop_s"] = min(old["loop_s"], r["loop_s"])
                    if progress is not None:
                        progress(name, r)
    rows = {name: {robot: _summary([best[(name, robot, s)] for s in seeds]) for robot in robots} for name in names}
    return {
        "robots": robots, "seeds": seeds, "repeats": repeats, "deterministic": deterministic,
        "variants": {n: asdict(table[n]) for n in names},
        "rows": rows, "runs": [best[(n, r, s)] for n in names for r in robots for s in seeds],
    }


def print_result(res: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(res, indent=2))
        return
    names = list(res["variants"])
    seeds = res["seeds"]
    print(f"pick-place, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} runs per robot and variant), "
          f"thread CPU time, fastest of {res['repeats']}")
    for n, v in res["variants"].items():
        pad = "URDF's" if v["pad_rolling_friction"] is None else f"{v['pad_rolling_friction']:g} m"
        print(f"  {n:12s} step {v['sim_dt'] * 1e3:g} ms, control {v['control_dt'] * 1e3:g} ms, "
              f"{v['solver_iterations']} iterations, residual {v['solver_residual_threshold']:g}, "
              f"rigid bodies {'yes' if v['rigid_bodies'] else 'no'}, "
              f"rolling friction: objects {v['object_rolling_friction']:g} m, pads {pad}")
    head = (f"{'robot':6s} {'variant':12s} {'phys ms/s':>9s} {'phys RTF':>8s} {'loop ms/s':>9s} {'loop RTF':>8s} "
            f"{'success':>7s} {'placed':>7s} {'safety':>6s} {'err run':>8s} {'err same t':>10s} "
            f"{'slip mm':>7s} {'turn deg':>8s}")
    print(head)
    base = names[0]
    for robot in res["robots"]:
        for n in names:
            r = res["rows"][n][robot]
            print(f"{robot:6s} {n:12s} {r['physics_ms_per_sim_s']:9.1f} {r['physics_rtf']:7.1f}x "
                  f"{r['loop_ms_per_sim_s']:9.1f} {r['loop_rtf']:7.1f}x "
                  f"{r['successes']:>3d}/{r['runs']:<3d} {r['objects_placed']:>3d}/{r['objects_total']:<3d} "
                  f"{r['safety_events_total']:6d} {r['max_joint_tracking_error_rad']:8.2e} "
                  f"{r['max_error_same_instant_rad']:10.2e} {1e3 * r['max_grasp_slip_m']:7.2f} "
                  f"{np.degrees(r['max_grasp_turn_rad']):8.2f}")
        if len(names) > 1:
            b = res["rows"][base][robot]
            ratios = ", ".join(
                f"{n} {res['rows'][n][robot]['physics_ms_per_sim_s'] / b['physics_ms_per_sim_s']:.2f}/"
                f"{res['rows'][n][robot]['loop_ms_per_sim_s'] / b['loop_ms_per_sim_s']:.2f}" for n in names[1:])
            print(f"{'':6s} cost against {base} (physics/loop): {ratios}")
    print(f"same seed, same outcome between repeats: {'yes' if res['deterministic'] else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robots", default="panda,iiwa,ur5e")
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--variants", default="pybullet,default", help=f"some of: {', '.join(variants())}")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="one line per run on stderr")
    a = ap.parse_args(argv)
    try:
        seeds = parse_seeds(a.seeds)
        if a.repeats < 1:
            raise ValueError("--repeats must be at least 1")
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2

    def progress(name: str, r: dict[str, Any]) -> None:
        print(f"{name:12s} {r['robot']:6s} seed {r['seed']:2d}: success {r['success']}, "
              f"placed {r['objects_placed']}, safety {r['safety_events_total']}, "
              f"err {r['max_joint_tracking_error_rad']:.2e}, physics {1e3 * r['physics_s'] / r['cycle_time_s']:.1f} "
              f"ms/s, loop {1e3 * r['loop_s'] / r['cycle_time_s']:.1f} ms/s", file=sys.stderr, flush=True)

    try:
        res = run([r.strip() for r in a.robots.split(",") if r.strip()], seeds,
                  [v.strip() for v in a.variants.split(",") if v.strip()], a.repeats,
                  progress if a.verbose else None)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print_result(res, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
