"""Where a task's procedure spends its CPU time: one `officina run` in this process, with the
thread CPU time of named functions accumulated exclusively (a timed call's timed callees are
taken out of it), grouped into items: physics, the run loop, the contact monitor, the skills,
planning, camera, localisation, metrics. What no timed function claims counts as "other".

    python benchmarks/profile_procedure.py [--task pick-place] [--robot panda] [--seed 0]
        [--json] [-- --set sim.dt=0.002 ...]

Every timed call costs two reads of the thread's CPU clock (about 0.5 us each), about 10 per
control period: the items' total is some 10-15 % above the unprofiled procedure's (printed
too, from a second run without the timers). Thread CPU time, so other processes' load counts
only through the caches they share.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

# (module, class or None, function, item)
TIMED = [
    ("officina.sim.world", "SimWorld", "step", "physics (stepSimulation)"),
    ("officina.tasks.runtime", "Clock", "tick", "run loop"),
    ("officina.controllers.safe_arm", "SafeArm", "monitor", "run loop"),
    ("officina.controllers.safe_arm", "SafeArm", "command_positions", "run loop"),
    ("officina.sim.arm", "SimArm", "command_positions", "run loop"),
    ("officina.sim.arm", "SimArm", "read", "run loop"),
    ("officina.tasks.runtime", "Recorder", "on_tick", "run loop"),
    ("officina.statelog", "StateLogObserver", "on_tick", "run loop"),
    ("officina.controllers.contact", "ContactMonitor", "check", "contact monitor"),
    ("officina.controllers.contact", "ExternalTorqueObserver", "update", "contact monitor"),
    ("officina.sim.arm", "SimGripper", "width", "gripper (commands, width reads)"),
    ("officina.sim.arm", "SimGripper", "open", "gripper (commands, width reads)"),
    ("officina.sim.arm", "SimGripper", "close", "gripper (commands, width reads)"),
    ("officina.controllers.skills", "Skills", "execute", "skills' own work (per period and per call)"),
    ("officina.controllers.skills", "Skills", "_wait_gripper", "skills' own work (per period and per call)"),
    ("officina.controllers.skills", "Skills", "settle", "skills' own work (per period and per call)"),
    ("officina.controllers.skills", "Skills", "grasp", "skills' own work (per period and per call)"),
    ("officina.controllers.skills", "Skills", "release", "skills' own work (per period and per call)"),
    ("officina.controllers.skills", "Skills", "move_line", "skills' own work (per period and per call)"),
    ("officina.controllers.skills", "Skills", "move_to_pose", "skills' own work (per period and per call)"),
    ("officina.controllers.skills", "Skills", "move_joints", "skills' own work (per period and per call)"),
    ("officina.controllers.skills", "Skills", "ik", "IK"),
    ("officina.controllers.ik", None, "solve_ik", "IK"),
    ("officina.controllers.planning.planner", "MotionPlanner", "plan", "planning (collision checks, OMPL)"),
    ("officina.controllers.planning.planner", "MotionPlanner", "goal_configurations", "planning (collision checks, OMPL)"),
    ("officina.controllers.planning.planner", "MotionPlanner", "check_trajectory", "planning (collision checks, OMPL)"),
    ("officina.controllers.planning.collision", "CollisionChecker", "__init__", "planning (collision checks, OMPL)"),
    ("officina.controllers.planning.collision", "CollisionChecker", "_sync", "planning (collision checks, OMPL)"),
    ("officina.controllers.planning.planner", "MotionPlanner", "_timed", "trajectories (Ruckig, TOPP-RA, lines)"),
    ("officina.controllers.trajectory", None, "plan_cartesian_line", "trajectories (Ruckig, TOPP-RA, lines)"),
    ("officina.controllers.trajectory", None, "plan_joint_move", "trajectories (Ruckig, TOPP-RA, lines)"),
    ("officina.sim.camera", "SimCamera", "capture", "camera renders"),
    ("officina.vision.localize", None, "localize_objects", "localisation"),
    ("officina.tasks.runtime", None, "max_tcp_speed", "metrics after the procedure"),
    ("officina.tasks.runtime", "Recorder", "record", "metrics after the procedure"),
]


class Timers:
    """Exclusive thread CPU time per item."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.calls: collections.Counter = collections.Counter()
        self._stack: list[list[float]] = []

    def wrap(self, fn, item: str):
        clock, stack, seconds, calls = time.thread_time, self._stack, self.seconds, self.calls

        def timed(*a, **k):
            stack.append([clock(), 0.0])
            try:
                return fn(*a, **k)
            finally:
                t1 = clock()
                t0, inner = stack.pop()
                seconds[item] += t1 - t0 - inner
                calls[item] += 1
                if stack:
                    stack[-1][1] += t1 - t0

        timed.__wrapped__ = fn
        return timed

    def install(self) -> None:
        """Time every function of ``TIMED``, also under the names other modules imported it as."""
        for mod_name, cls_name, fn_name, item in TIMED:
            mod = importlib.import_module(mod_name)
            if cls_name is not None:
                cls = getattr(mod, cls_name)
                setattr(cls, fn_name, self.wrap(cls.__dict__[fn_name], item))
                continue
            fn = getattr(mod, fn_name)
            timed = self.wrap(fn, item)
            for other in list(sys.modules.values()):
                if getattr(other, "__name__", "").startswith("officina") and getattr(other, fn_name, None) is fn:
                    setattr(other, fn_name, timed)


def _run(task: str, robot: str, seed: int, extra: list[str], timers: Timers | None) -> dict:
    from officina.cli import main
    from officina.tasks import get_task

    get_task(task)  # its module imported, so that the names it imported are timed too
    if timers is not None:
        timers.install()
    import officina.tasks.runtime as rt

    out: dict = {}
    run_episode = rt.run_episode

    def measured(*a, **k):
        if timers is not None:  # the cell's set-up stepped the world too: not the procedure's
            timers.seconds.clear()
            timers.calls.clear()
        c0 = time.thread_time()
        res = run_episode(*a, **k)
        out["procedure_cpu_s"] = time.thread_time() - c0
        return res

    rt.run_episode = measured
    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(sys.stderr):  # the run's own summary
        try:
            main(["run", task, "--robot", robot, "--seed", str(seed), "--out", d + "/run", *extra])
        except SystemExit as exc:
            if exc.code not in (0, 1, None):
                raise
        with open(d + "/run/metrics.json") as f:
            m = json.load(f)
    out["cycle_time_s"] = m["cycle_time_s"]
    out["success"] = m["success"]
    if timers is not None:
        out["items"] = dict(timers.seconds)
        out["calls"] = dict(timers.calls)
    return out


def profile(task: str, robot: str, seed: int, extra: list[str]) -> dict:
    """One timed run in this process and one plain run in a fresh interpreter (its CPU time)."""
    plain = subprocess.run([sys.executable, __file__, "--plain", "--task", task, "--robot", robot, "--seed", str(seed),
                            "--", *extra], capture_output=True, text=True, check=True)
    res = _run(task, robot, seed, extra, Timers())
    res["items"]["other"] = max(0.0, res["procedure_cpu_s"] - sum(res["items"].values()))
    res["plain_procedure_cpu_s"] = json.loads(plain.stdout.strip().splitlines()[-1])["procedure_cpu_s"]
    res.update(task=task, robot=robot, seed=seed, set=extra, load_average=os.getloadavg()[0])
    return res


def print_table(res: dict) -> None:
    total = res["procedure_cpu_s"]
    print(f"{res['task']} on {res['robot']}, seed {res['seed']} {' '.join(res['set'])}: {res['cycle_time_s']:.2f} s "
          f"simulated; procedure {res['plain_procedure_cpu_s']:.2f} s CPU unprofiled "
          f"({res['cycle_time_s'] / res['plain_procedure_cpu_s']:.1f}x real time), {total:.2f} s profiled; "
          f"load average {res['load_average']:.1f}")
    print("| item | CPU s | share |")
    print("|---|---|---|")
    for item, s in sorted(res["items"].items(), key=lambda kv: -kv[1]):
        print(f"| {item} | {s:.2f} | {100 * s / total:.0f} % |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="pick-place")
    ap.add_argument("--robot", default="panda")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("extra", nargs="*", help="more options of `officina run` (after --)")
    a = ap.parse_args(argv)
    if a.plain:
        print(json.dumps(_run(a.task, a.robot, a.seed, a.extra, None)))
        return 0
    res = profile(a.task, a.robot, a.seed, a.extra)
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
