"""machine-tending over many seeds per robot: success rates, the cell's KPIs, the real-time
factor and where the time goes.

    .venv/bin/python benchmarks/bench_tending.py [--seeds 0-19] [--robots panda,iiwa,ur5e]
        [--workers 2] [--set params.n_parts=2 ...] [--json FILE]

Jobs go seed by seed over the robots; each run prints one line (stderr) as it finishes.
Each run is `officina run machine-tending --robot R --seed N` (the run loop without its run
folder) in a worker process. Reported per robot: success rate, parts done, cycle time per part
and the steady-state interval between parts (sim time), placement errors in the fixture (median,
95th percentile, largest), enclosure contacts (all runs), the share of the run the machine waited
for the robot and the spindle utilisation; the real-time factor (sim time over wall time, and over
the process's CPU time: the machine is shared, CPU time is what the run itself costs); and where
the CPU time goes, by exclusive sections: the physics steps, the machine (the task's before_step
and after_step: door, part sensor, light curtain, contact counting), the camera's rendering, the
localisation of what it saw, motion planning and IK (the planner, the collision checks, IK and
Cartesian lines), and the rest (the control loop: safety filter, protective-stop monitor, skills,
recorder).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections import defaultdict

import numpy as np

TASK = "machine-tending"
SECTIONS = ("physics", "machine", "render", "localise", "planning", "rest")


class _Sections:
    """Exclusive thread-CPU time per section: time in a wrapped call minus the wrapped calls it
    makes."""

    def __init__(self) -> None:
        self.cpu = defaultdict(float)
        self._stack: list[list] = []

    def wrap(self, owner, attr: str, section: str) -> None:
        fn = getattr(owner, attr)
        me = self

        def timed(*a, **kw):
            me._stack.append([section, time.thread_time(), 0.0])
            try:
                return fn(*a, **kw)
            finally:
                sec, t0, inner = me._stack.pop()
                dt = time.thread_time() - t0
                me.cpu[sec] += dt - inner
                if me._stack:
                    me._stack[-1][2] += dt

        setattr(owner, attr, timed)


def _one(job: tuple[str, int, list[str]]) -> dict:
    robot, seed, sets = job
    from officina.controllers import ik, skills, trajectory
    from officina.controllers.planning import collision, planner
    from officina.robots import load_robot
    from officina.runner import resolve_config, safety_config, task_params
    from officina.sim import camera, world
    from officina.tasks import get_task
    from officina.tasks.runtime import build_sim_cell, run_episode
    from officina.vision import localize

    task = get_task(TASK)
    prof = _Sections()
    prof.wrap(world.SimWorld, "step", "physics")
    prof.wrap(type(task), "before_step", "machine")
    prof.wrap(type(task), "after_step", "machine")
    prof.wrap(camera.SimCamera, "capture", "render")
    prof.wrap(localize, "localize_objects", "localise")
    from officina.tasks import machine_tending

    machine_tending.localize_objects = localize.localize_objects
    for owner, attr in ((planner.MotionPlanner, "plan"), (planner.MotionPlanner, "check_trajectory"),
                        (planner.MotionPlanner, "goal_configurations"), (collision.CollisionChecker, "is_valid"),
                        (collision.CollisionChecker, "contacts")):
        prof.wrap(owner, attr, "planning")
    prof.wrap(skills.Skills, "ik", "planning")
    skills.plan_cartesian_line = _wrapped_fn(prof, trajectory.plan_cartesian_line, "planning")
    skills.solve_ik = _wrapped_fn(prof, ik.solve_ik, "planning")

    cfg = resolve_config(TASK, robot=robot, seed=seed, overrides=list(sets))
    params = task_params(cfg)
    sim = build_sim_cell(task, params, load_robot(robot), rng=np.random.default_rng(seed),
                         control_dt=cfg.sim.control_dt, sim_dt=cfg.sim.dt)
    try:
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        prof._stack.append(["rest", cpu0, 0.0])
        ep = run_episode(sim, safety_config(cfg), protective_stop=cfg.safety.protective_stop,
                         contact_rate_hz=cfg.safety.contact_rate_hz)
        sec, t0, inner = prof._stack.pop()
        cpu = time.thread_time() - cpu0
        prof.cpu["rest"] += cpu - inner
        wall = time.perf_counter() - wall0
    finally:
        sim.close()
    m = ep.metrics
    keep = ("success", "parts_done", "parts_total", "cycle_time_s", "cycle_time_per_part_s", "part_interval_s",
            "placement_error_mm", "placement_error_deg", "enclosure_contacts", "fixture_contacts",
            "machine_wait_share", "spindle_utilisation", "protective_stops", "procedure_message")
    return {"robot": robot, "seed": seed, **{k: m.get(k) for k in keep}, "wall_s": wall, "cpu_s": cpu,
            "sections_cpu_s": {k: prof.cpu.get(k, 0.0) for k in SECTIONS}}


def _wrapped_fn(prof: _Sections, fn, section: str):
    class _Holder:
        pass

    _Holder.f = staticmethod(fn)
    prof.wrap(_Holder, "f", section)
    return _Holder.f


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def _stats(vals) -> str:
    v = np.array([x for x in vals if x is not None], float)
    if not len(v):
        return "-"
    return f"{np.median(v):.3g} / {np.percentile(v, 95):.3g} / {v.max():.3g}"


def summarise(rows: list[dict]) -> dict:
    out = {}
    for robot in dict.fromkeys(r["robot"] for r in rows):
        rs = [r for r in rows if r["robot"] == robot]
        sim, wall, cpu = (sum(r[k] for r in rs) for k in ("cycle_time_s", "wall_s", "cpu_s"))
        sec = {k: sum(r["sections_cpu_s"][k] for r in rs) for k in SECTIONS}
        mean = lambda k: float(np.mean([r[k] for r in rs if r[k] is not None])) if any(r[k] is not None for r in rs) else None  # noqa: E731
        out[robot] = {
            "runs": len(rs), "success_rate": sum(bool(r["success"]) for r in rs) / len(rs),
            "parts_done": f"{sum(r['parts_done'] for r in rs)}/{sum(r['parts_total'] for r in rs)}",
            "cycle_time_per_part_s": mean("cycle_time_per_part_s"), "part_interval_s": mean("part_interval_s"),
            "placement_error_mm (median/p95/max)": _stats(r["placement_error_mm"] for r in rs),
            "placement_error_deg (median/p95/max)": _stats(r["placement_error_deg"] for r in rs),
            "enclosure_contacts": sum(r["enclosure_contacts"] for r in rs),
            "machine_wait_share": mean("machine_wait_share"), "spindle_utilisation": mean("spindle_utilisation"),
            "real_time_factor_wall": sim / wall, "real_time_factor_cpu": sim / cpu,
            "cpu_share": {k: sec[k] / cpu for k in SECTIONS},
            "failures": [f"seed {r['seed']}: {r['procedure_message'] or 'metrics'}" for r in rs if not r["success"]],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--robots", default="panda,iiwa,ur5e")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="a config override, e.g. params.n_parts=3")
    ap.add_argument("--json", default=None, help="write every run and the summary to this file")
    a = ap.parse_args(argv)
    # seed by seed, every robot: a sweep stopped early (Ctrl-C) has covered each robot alike
    jobs = [(r, s, a.sets) for s in _seeds(a.seeds) for r in a.robots.split(",")]
    rows = []
    t0 = time.perf_counter()
    stopped = False
    with mp.get_context("spawn").Pool(a.workers, maxtasksperchild=1) as pool:
        results = pool.imap_unordered(_one, jobs)
        try:
            while len(rows) < len(jobs):
                try:  # a wait with a timeout: Ctrl-C reaches the loop while the workers run
                    row = results.next(timeout=0.5)
                except mp.TimeoutError:
                    continue
                rows.append(row)
                print(f"  {row['robot']:6s} seed {row['seed']:3d}: {'ok  ' if row['success'] else 'FAIL'} "
                      f"parts {row['parts_done']}/{row['parts_total']} sim {row['cycle_time_s']:.1f} s "
                      f"cpu {row['cpu_s']:.1f} s placement {row['placement_error_mm'] or 0:.2f} mm "
                      f"{row['placement_error_deg'] or 0:.2f} deg contacts {row['enclosure_contacts']} "
                      f"{row['procedure_message'] or ''}", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            stopped = True
            pool.terminate()
    if not rows:
        return 1
    rows.sort(key=lambda r: (r["robot"], r["seed"]))
    summary = summarise(rows)
    done = f"stopped after {len(rows)} of {len(jobs)} runs, " if stopped else ""
    print(f"machine-tending, seeds {a.seeds}, {' '.join(a.sets) or 'default parameters'} "
          f"({done}{time.perf_counter() - t0:.0f} s wall, {a.workers} workers)")
    for robot, s in summary.items():
        print(f"\n{robot}: success {100 * s['success_rate']:.0f} % of {s['runs']} runs, parts {s['parts_done']}")
        for k, v in s.items():
            if k in ("runs", "success_rate", "parts_done", "cpu_share", "failures"):
                continue
            print(f"  {k:38s} {v:.3g}" if isinstance(v, float) else f"  {k:38s} {v}")
        print("  CPU time: " + ", ".join(f"{k} {100 * v:.0f} %" for k, v in s["cpu_share"].items()))
        for f in s["failures"]:
            print(f"  failed: {f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": rows, "summary": summary}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
