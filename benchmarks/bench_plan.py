"""Motion planning benchmark: officina's planner (OMPL RRTConnect + Pinocchio/coal + Ruckig)
against pybullet-planning's ``plan_joint_motion`` (RRT-Connect with PyBullet collision checks)
on the same URDFs, obstacles and seeded problems, measured in the same run.

    .venv/bin/python benchmarks/bench_plan.py [--n 50] [--robots panda,iiwa,ur5e] [--verify] [--json FILE]

Scenes: a shelf (two boards, sides, back), a deep bin (0.3 m walls), a machine whose front
wall has a 0.34 x 0.30 m door. The machine is placed for each robot's reach (`DOORS`: where
its front wall stands and how high the door is, so that the robot can hold its tcp level
through the door). Problems: start and goal are collision-free IK solutions (with the 1 cm
padding) for tcp poses drawn from a seeded Generator: the start above the table beside the
target (in front of the machine), the goal inside the shelf, the bin or the machine.

Reported per robot and scene: success rate, median and p95 planning time, wall clock and the
planning thread's CPU time (the machine is shared: CPU time is what the planner itself costs; our
time is the whole request: checks, OMPL, shortcutting, Ruckig timing and the final trajectory
check), path length (joint space, rad), trajectory duration (s), the speed-up over the
baseline on the problems both solved, where our time goes, and the cost of one collision
check (ours vs PyBullet's getClosestPoints as pybullet-planning runs it, on the same
configurations, CPU time), and the issue's goals met or not (success >= 99 % and >= the
baseline's on every scene; the Panda's median <= 20 ms on the shelf and the bin, in wall clock
and in CPU time; at least 5 times faster than the baseline). ``--verify`` checks every trajectory we return in
PyBullet (tests/planning_check.py, an independent checker) at every control sample.
Needs the ``bench`` extra (pybullet-planning).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from officina.controllers.model import RobotModel
from officina.controllers.planning.collision import CollisionChecker
from officina.controllers.planning.planner import MotionPlanner, PlannerSettings
from officina.controllers.planning.scene import Box, Obstacle, PlanningScene
from officina.robots import load_robot

TABLE = Obstacle("table", Box((1.2, 1.6, 0.04)), (0.35, 0.0, -0.02))
R_DOWN = np.diag([1.0, -1.0, -1.0])  # tcp z down
R_FWD = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # tcp z along +x
PADDING_M = 0.01
DT = 0.001

# The machine for each robot: x of its front wall (m), height of the door's centre (m), and the
# goal region's depth inside (tcp x from the front wall, m). The door is the same for every
# robot; the machine stands where the robot can hold its tcp level and pointing through the
# door from the goal back out past the front wall (mapped with the IK): the Panda cannot at its
# shoulder's height, the iiwa not closer than about 0.65 m to its base.
DOORS = {
    "panda": {"front_x": 0.60, "door_z": 0.50, "goal_depth": (0.10, 0.15)},
    "iiwa": {"front_x": 0.65, "door_z": 0.50, "goal_depth": (0.10, 0.15)},
    "ur5e": {"front_x": 0.50, "door_z": 0.45, "goal_depth": (0.10, 0.15)},
}


def shelf() -> PlanningScene:
    x0, d, w, t = 0.56, 0.3, 0.8, 0.02
    xc = x0 + d / 2
    return PlanningScene([
        TABLE,
        Obstacle("board_1", Box((d, w, t)), (xc, 0.0, 0.30)),
        Obstacle("board_2", Box((d, w, t)), (xc, 0.0, 0.60)),
        Obstacle("top", Box((d, w, t)), (xc, 0.0, 0.90)),
        Obstacle("side_l", Box((d, t, 0.9)), (xc, w / 2 + t / 2, 0.45)),
        Obstacle("side_r", Box((d, t, 0.9)), (xc, -w / 2 - t / 2, 0.45)),
        Obstacle("back", Box((t, w, 0.9)), (x0 + d + t / 2, 0.0, 0.45)),
    ])


def deep_bin() -> PlanningScene:
    cx, cy, ix, iy, h, t = 0.5, 0.0, 0.3, 0.3, 0.3, 0.01
    return PlanningScene([
        TABLE,
        Obstacle("floor", Box((ix + 2 * t, iy + 2 * t, t)), (cx, cy, t / 2)),
        Obstacle("wall_x+", Box((t, iy + 2 * t, h)), (cx + ix / 2 + t / 2, cy, h / 2)),
        Obstacle("wall_x-", Box((t, iy + 2 * t, h)), (cx - ix / 2 - t / 2, cy, h / 2)),
        Obstacle("wall_y+", Box((ix, t, h)), (cx, cy + iy / 2 + t / 2, h / 2)),
        Obstacle("wall_y-", Box((ix, t, h)), (cx, cy - iy / 2 - t / 2, h / 2)),
    ])


def machine_door(front_x: float, door_z: float, depth: float = 0.4, width: float = 0.8,
                 door_w: float = 0.34, door_h: float = 0.30, t: float = 0.02) -> PlanningScene:
    """A closed machine (front, back, sides, roof) on the table, a door in its front wall."""
    xf, xb = front_x, front_x + depth
    hgt = door_z + door_h / 2 + 0.2
    side = (width - door_w) / 2
    low = door_z - door_h / 2
    return PlanningScene([
        TABLE,
        Obstacle("front_l", Box((t, side, hgt)), (xf, door_w / 2 + side / 2, hgt / 2)),
        Obstacle("front_r", Box((t, side, hgt)), (xf, -door_w / 2 - side / 2, hgt / 2)),
        Obstacle("front_low", Box((t, door_w, low)), (xf, 0.0, low / 2)),
        Obstacle("front_top", Box((t, door_w, hgt - low - door_h)), (xf, 0.0, (hgt + low + door_h) / 2)),
        Obstacle("roof", Box((xb - xf, width, t)), ((xf + xb) / 2, 0.0, hgt)),
        Obstacle("back", Box((t, width, hgt)), (xb, 0.0, hgt / 2)),
        Obstacle("side_l", Box((xb - xf, t, hgt)), ((xf + xb) / 2, width / 2, hgt / 2)),
        Obstacle("side_r", Box((xb - xf, t, hgt)), ((xf + xb) / 2, -width / 2, hgt / 2)),
    ])


SCENE_NAMES = ("shelf", "bin", "door")


def scene_spec(robot: str, name: str):
    """(scene, start region (lo, hi), start orientation, goal region, goal orientation)."""
    if name == "shelf":
        return shelf(), ((0.25, -0.45, 0.30), (0.45, -0.25, 0.50)), R_DOWN, ((0.60, -0.2, 0.40), (0.68, 0.2, 0.46)), R_FWD
    if name == "bin":
        return (deep_bin(), ((0.25, 0.30, 0.35), (0.45, 0.45, 0.50)), R_DOWN, ((0.45, -0.05, 0.12), (0.55, 0.05, 0.18)),
                R_DOWN)
    if name == "door":
        if robot not in DOORS:
            raise ValueError(f"no machine door placed for robot {robot!r}: add it to DOORS ({', '.join(DOORS)})")
        d = DOORS[robot]
        xf, z = d["front_x"], d["door_z"]
        (g0, g1) = d["goal_depth"]
        start = ((0.25, -0.30, 0.30), (xf - 0.10, 0.30, 0.50))
        goal = ((xf + g0, -0.04, z - 0.02), (xf + g1, 0.04, z + 0.02))
        return machine_door(xf, z), start, R_DOWN, goal, R_FWD
    raise ValueError(f"unknown scene {name!r}: expected one of {', '.join(SCENE_NAMES)}")


def _pose(rng, region, R) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = rng.uniform(region[0], region[1])
    return T


def make_problems(planner: MotionPlanner, spec, spec_scene, n: int, seed: int):
    _, start_region, R0, goal_region, R1 = spec_scene
    rng = np.random.default_rng(seed)
    problems = []
    for _ in range(n * 20):
        if len(problems) >= n:
            break
        qs, err0 = planner.goal_configurations(_pose(rng, start_region, R0), "tcp", spec.home, rng)
        qg, err1 = planner.goal_configurations(_pose(rng, goal_region, R1), "tcp", spec.home, rng)
        if err0 or err1:
            continue
        q0, q1 = qs[0], qg[0]
        if planner.checker.is_valid(q0) and planner.checker.is_valid(q1):
            problems.append((q0, q1))
    return problems


def _stats(times_s, ok) -> dict:
    """Median and p95 (ms) over the solved problems."""
    t = np.array([x for x, o in zip(times_s, ok) if o]) * 1e3
    return {
        "median_ms": float(np.median(t)) if len(t) else float("nan"),
        "p95_ms": float(np.percentile(t, 95)) if len(t) else float("nan"),
    }


def _median(xs) -> float:
    return float(np.median(xs)) if len(xs) else float("nan")


class Baseline:
    """pybullet-planning on a PyBullet world with the same URDF and obstacles."""

    def __init__(self, spec, scene, padding_m: float) -> None:
        import pybullet as p
        from pybullet_planning.utils import shared_const

        from officina.controllers.planning.collision import _disabled_pairs
        from officina.sim.world import SimWorld

        self.p = p
        self.world = SimWorld()
        self.robot = self.world.load_robot(spec)
        self.obstacles = [o.body_id for o in self.world.add_planning_scene(scene)]
        shared_const.set_client(self.world.client_id)
        cid = self.world.client_id
        if spec.gripper:
            for n in spec.gripper.finger_joints:
                p.resetJointState(self.robot.body_id, self.robot.joint_index[n],
                                  spec.gripper.max_width_m / len(spec.gripper.finger_joints), physicsClientId=cid)
        self.joints = [self.robot.joint_index[n] for n in spec.joint_names]
        li = self.robot.link_index
        self.disabled = set()
        for pair in _disabled_pairs(spec):
            a, b = tuple(pair)
            if a in li and b in li:
                self.disabled |= {(li[a], li[b]), (li[b], li[a])}
        self.spec = spec
        self.padding = padding_m

    def _set(self, q) -> None:
        for j, v in zip(self.joints, q):
            self.p.resetJointState(self.robot.body_id, j, float(v), physicsClientId=self.world.client_id)

    def collision_fn(self):
        from pybullet_planning import get_collision_fn

        return get_collision_fn(self.robot.body_id, self.joints, obstacles=self.obstacles, self_collisions=True,
                                disabled_collisions=self.disabled, max_distance=self.padding)

    def plan(self, q0, q1, seed: int, max_time: float):
        from pybullet_planning import plan_joint_motion

        random.seed(seed)
        np.random.seed(seed % 2**32)
        self._set(q0)
        t, c = time.perf_counter(), time.thread_time()
        path = plan_joint_motion(self.robot.body_id, self.joints, list(map(float, q1)), obstacles=self.obstacles,
                                 self_collisions=True, disabled_collisions=self.disabled, max_distance=self.padding,
                                 max_time=max_time)
        return path, time.perf_counter() - t, time.thread_time() - c

    def close(self) -> None:
        self.world.close()


def _silence_stdout():
    """pybullet-planning prints a line per failed check; keep the report readable."""
    import contextlib
    import io

    return contextlib.redirect_stdout(io.StringIO())


def _pybullet_scene():
    """tests/planning_check.py: the independent PyBullet check the tests use."""
    tests = str(Path(__file__).resolve().parent.parent / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from planning_check import PyBulletScene

    return PyBulletScene


PHASES = ("direct", "setup", "solve", "simplify", "timing", "final", "repair")


def run_scene(rname: str, sname: str, n: int, seed: int, budget_s: float, verify: bool,
              n_checks: int = 2000) -> dict:
    spec = load_robot(rname)
    model = RobotModel.from_spec(spec)
    spec_scene = scene_spec(rname, sname)
    scene = spec_scene[0]
    checker = CollisionChecker(model, scene, padding_m=PADDING_M)
    planner = MotionPlanner(model, checker, DT, PlannerSettings(time_budget_s=budget_s))
    problems = make_problems(planner, spec, spec_scene, n, seed)
    wall, cpu, ok, lengths, durations, phases, checks, results = [], [], [], [], [], [], [], []
    for k, (q0, q1) in enumerate(problems):
        c0, n0 = time.thread_time(), checker.n_checks
        r = planner.plan(q0, q1, seed=k)
        cpu.append(time.thread_time() - c0)
        wall.append(r.planning_time_s)
        ok.append(r.success)
        results.append(r)
        if r.success:
            lengths.append(r.path_length_rad)
            durations.append(r.trajectory.duration)
            phases.append([r.stats.get(p + "_s", 0.0) for p in PHASES] + [r.stats.get(p + "_cpu_s", 0.0) for p in PHASES])
            checks.append(checker.n_checks - n0)
    out: dict = {"problems": len(problems)}
    ours = {"success_rate": float(np.mean(ok)) if ok else float("nan"), **_stats(wall, ok),
            "cpu": _stats(cpu, ok), "path_length_rad": _median(lengths), "duration_s": _median(durations),
            "direct": int(sum(1 for r in results if r.success and r.direct)),
            "checks_per_plan": _median(checks),
            "repaired": int(sum(1 for r in results if r.success and r.stats.get("repairs", 0))),
            "repair_mean_cpu_ms": float(np.mean([x[2 * len(PHASES) - 1] * 1e3 for x in phases])) if phases else 0.0,
            "phases_median_ms": {p: _median([x[i] * 1e3 for x in phases]) for i, p in enumerate(PHASES)},
            "phases_median_cpu_ms": {p: _median([x[len(PHASES) + i] * 1e3 for x in phases])
                                     for i, p in enumerate(PHASES)}}
    if verify:
        pb = _pybullet_scene()(spec, scene)
        try:
            dmin = [pb.min_distance_along(np.vstack([q0, r.trajectory.q]))
                    for (q0, _), r in zip(problems, results) if r.success]
        finally:
            pb.close()
        ours["verified"] = {"trajectories": len(dmin), "samples": "every control sample",
                            "min_distance_m": float(min(dmin)) if dmin else float("nan"),
                            "in_collision": int(sum(d < 0.0 for d in dmin))}
    base = Baseline(spec, scene, PADDING_M)
    try:
        b_wall, b_cpu, b_ok, b_len = [], [], [], []
        with _silence_stdout():
            for k, (q0, q1) in enumerate(problems):
                path, dt, dc = base.plan(q0, q1, seed=k, max_time=budget_s)
                b_wall.append(dt)
                b_cpu.append(dc)
                b_ok.append(path is not None)
                if path is not None:
                    b_len.append(float(np.sum(np.linalg.norm(np.diff(np.array(path), axis=0), axis=1))))
        # one collision check, same configurations
        rng = np.random.default_rng(seed)
        Q = rng.uniform(spec.limits.lower, spec.limits.upper, (n_checks, spec.dof))
        t = time.thread_time()
        for q in Q:
            checker.is_valid(q)
        ours_check = (time.thread_time() - t) / n_checks
        fn = base.collision_fn()
        with _silence_stdout():
            t = time.thread_time()
            for q in Q:
                fn(q)
            base_check = (time.thread_time() - t) / n_checks
    finally:
        base.close()
    out["ours"] = ours
    out["baseline"] = {"success_rate": float(np.mean(b_ok)) if b_ok else float("nan"), **_stats(b_wall, b_ok),
                       "cpu": _stats(b_cpu, b_ok), "path_length_rad": _median(b_len)}
    # speed on the problems both solved (each planner's own median favours the one that fails
    # the hard problems)
    both = [o and b for o, b in zip(ok, b_ok)]
    out["both_solved"] = int(sum(both))
    out["speedup_median"] = _stats(b_wall, both)["median_ms"] / _stats(wall, both)["median_ms"]
    out["speedup_median_cpu"] = _stats(b_cpu, both)["median_ms"] / _stats(cpu, both)["median_ms"]
    out["check_us"] = {"ours": ours_check * 1e6, "pybullet": base_check * 1e6, "ratio": base_check / ours_check}
    out["per_problem"] = {"ours_ok": ok, "ours_ms": [1e3 * x for x in wall], "ours_cpu_ms": [1e3 * x for x in cpu],
                          "baseline_ok": b_ok, "baseline_ms": [1e3 * x for x in b_wall],
                          "baseline_cpu_ms": [1e3 * x for x in b_cpu]}
    return out


def run(robots, n: int, seed: int, budget_s: float, verify: bool = False, scenes=SCENE_NAMES) -> dict:
    out: dict = {"n": n, "seed": seed, "budget_s": budget_s, "padding_m": PADDING_M, "robots": {}}
    for rname in robots:
        out["robots"][rname] = {s: run_scene(rname, s, n, seed, budget_s, verify) for s in scenes}
    return out


def report(res: dict) -> str:
    hdr = (f"{'robot':6} {'scene':5} {'n':>3} | {'ok%':>5} {'med ms':>7} {'p95 ms':>7} {'cpu ms':>6} {'p95':>6} "
           f"{'len rad':>7} {'dur s':>5} | {'base ok%':>8} {'med ms':>7} {'p95 ms':>7} {'cpu ms':>6} | {'both':>4} "
           f"{'speedup':>7} {'cpu':>5} | {'check us':>8} {'pb us':>6}")
    lines = [hdr, "-" * len(hdr)]
    for rname, rs in res["robots"].items():
        for sname, s in rs.items():
            o, b, c = s["ours"], s["baseline"], s["check_us"]
            lines.append(
                f"{rname:6} {sname:5} {s['problems']:3d} | {100 * o['success_rate']:5.1f} {o['median_ms']:7.1f} "
                f"{o['p95_ms']:7.1f} {o['cpu']['median_ms']:6.1f} {o['cpu']['p95_ms']:6.1f} {o['path_length_rad']:7.2f} "
                f"{o['duration_s']:5.2f} | "
                f"{100 * b['success_rate']:8.1f} {b['median_ms']:7.1f} {b['p95_ms']:7.1f} {b['cpu']['median_ms']:6.1f} | "
                f"{s['both_solved']:4d} {s['speedup_median']:6.1f}x {s['speedup_median_cpu']:4.1f}x | "
                f"{c['ours']:8.1f} {c['pybullet']:6.1f}")
    lines.append("ok%: solved within the budget; med/p95: wall clock over the solved problems, cpu: the planning "
                 "thread's CPU time; speedup: baseline / ours, medians over the problems both solved ('both'); "
                 "check/pb us: CPU time of one collision check")
    lines.append("")
    lines.append("where our time goes (median CPU ms over solved problems; checks = configurations checked per plan):")
    for rname, rs in res["robots"].items():
        for sname, s in rs.items():
            ph = s["ours"]["phases_median_cpu_ms"]
            ver = s["ours"].get("verified")
            v = (f"; PyBullet: {ver['trajectories']} trajectories, min distance {ver['min_distance_m'] * 1e3:.1f} mm, "
                 f"{ver['in_collision']} in collision") if ver else ""
            lines.append(
                f"  {rname}/{sname}: direct {ph['direct']:.1f}, OMPL setup {ph['setup']:.1f}, solve "
                f"{ph['solve']:.1f}, shortcut {ph['simplify']:.1f}, timing {ph['timing']:.1f}, final check "
                f"{ph['final']:.1f}, repair {s['ours']['repair_mean_cpu_ms']:.1f} (mean; {s['ours']['repaired']} plans "
                f"repaired); {s['ours']['checks_per_plan']:.0f} checks, {s['ours']['direct']} direct{v}")
    lines.append("")
    lines.append("goals:")
    lines.extend("  " + g for g in goals(res))
    return "\n".join(lines)


def goals(res: dict) -> list[str]:
    """The issue's goals, each with the figure measured and met or NOT met."""
    out = []

    def line(ok: bool, text: str) -> None:
        out.append(f"{'met    ' if ok else 'NOT met'} {text}")

    for rname, rs in res["robots"].items():
        for sname, s in rs.items():
            o, b = s["ours"]["success_rate"], s["baseline"]["success_rate"]
            line(o >= 0.99 and o >= b, f"{rname}/{sname}: success {100 * o:.0f} % (>= 99 % and >= the baseline's "
                 f"{100 * b:.0f} %)")
            line(s["speedup_median"] >= 5.0 and s["speedup_median_cpu"] >= 5.0,
                 f"{rname}/{sname}: {s['speedup_median']:.1f}x wall, {s['speedup_median_cpu']:.1f}x CPU faster than "
                 f"the baseline (>= 5x, on the {s['both_solved']} problems both solved)")
    for sname in ("shelf", "bin"):
        s = res["robots"].get("panda", {}).get(sname)
        if s is not None:
            w, c = s["ours"]["median_ms"], s["ours"]["cpu"]["median_ms"]
            line(w <= 20.0, f"panda/{sname}: median {w:.1f} ms wall (<= 20 ms)")
            line(c <= 20.0, f"panda/{sname}: median {c:.1f} ms CPU (<= 20 ms)")
    return out


def rows(slow: bool = False, robots: tuple[str, ...] | None = None, n: int | None = None,
         budget_s: float | None = None) -> list:
    """The benchmark as `officina.benchmarks.Row` s, per robot and scene: success rate and median
    planning time against pybullet-planning on the same problems, and one collision check.
    Goals (the issue's): success >= 99 % and >= the baseline's; median >= 5x faster than the
    baseline, and <= 20 ms for the Panda on the shelf and the bin. Quick: the Panda, 10 problems
    per scene, 2 s budget; ``slow``: Panda, iiwa, UR5e, 30 problems, 5 s."""
    robots = robots or (("panda", "iiwa", "ur5e") if slow else ("panda",))
    try:
        import pybullet_planning  # noqa: F401
    except ImportError:
        from officina.benchmarks import row

        return [row("motion planning", "ms", None, note="needs the bench extra (pybullet-planning)")]
    with _silence_stdout():
        res = run(list(robots), n or (30 if slow else 10), 0, budget_s or (5.0 if slow else 2.0))
    return rows_from_result(res)


def rows_from_result(res: dict) -> list:
    from officina.benchmarks import row

    out = []
    for rname, scenes in res["robots"].items():
        for sname, s in scenes.items():
            o, b = s["ours"], s["baseline"]
            note = f"{s['problems']} problems; {o['direct']} direct"
            out.append(row(f"planning success ({rname}, {sname})", "%", 100 * o["success_rate"],
                           100 * b["success_rate"], baseline_name="pybullet-planning",
                           goals=[("value", ">=", 99.0), ("ratio", ">=", 1.0)], better="higher", note=note))
            goals = [("ratio", "<=", 0.2)]
            if rname == "panda" and sname in ("shelf", "bin"):
                goals.append(("value", "<=", 20.0))
            out.append(row(f"planning median time ({rname}, {sname})", "ms", o["median_ms"], b["median_ms"],
                           baseline_name="pybullet-planning", goals=goals, note=f"p95 {o['p95_ms']:.0f} ms"))
        first = next(iter(scenes.values()))
        out.append(row(f"one collision check ({rname})", "us", first["check_us"]["ours"],
                       first["check_us"]["pybullet"], baseline_name="pybullet-planning's check",
                       note="same configurations, 1 cm padding"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30, help="problems per robot and scene")
    ap.add_argument("--robots", default="panda,iiwa,ur5e")
    ap.add_argument("--scenes", default=",".join(SCENE_NAMES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=5.0, help="time budget per plan [s], both planners")
    ap.add_argument("--verify", action="store_true", help="check every trajectory in PyBullet (slow)")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    a = ap.parse_args()
    res = run(a.robots.split(","), a.n, a.seed, a.budget, a.verify, tuple(a.scenes.split(",")))
    print(report(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
