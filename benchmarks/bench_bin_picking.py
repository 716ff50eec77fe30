"""bin-picking benchmark: the task's goal over N seeds per robot, and where the time goes.

    .venv/bin/python benchmarks/bench_bin_picking.py [--seeds 20] [--robots panda,iiwa,ur5e]
                                                     [--jobs 1] [--json FILE]

Every run is ``officina run bin-picking --robot R --seed S`` with the default parameters (8
parts, 3 of one type). Reported per robot: runs that moved every pickable part, the pick
success rate over all grasp attempts (parts delivered / attempts), picks per hour of simulated
time (mean and worst run), failed grasps, parts given up (and why), collisions of the arm or
gripper with the bins or the table (and what touched what), protective stops, localisation error
(mean and largest over all picks; the largest extent error),
the real-time factor, and the CPU time of a run split into physics (SimWorld.step), rendering
(SimCamera.capture), perception (localize_parts), grasp selection (IK and collision checks of
the candidates), motion planning (MotionPlanner.plan) and the rest (control loop, logging).

The issue's goal: >= 95 % pick success over 20 seeds per robot, >= 600 picks/h, 0 collisions.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

PARTS = ("physics", "rendering", "perception", "grasp selection", "planning")


def _timed(owner, attr: str, bucket: str, acc: dict[str, float]) -> None:
    """Wrap ``owner.attr`` so that its CPU time (this thread) adds to ``acc[bucket]``; calls
    nested inside an already timed call are not counted twice."""
    fn = getattr(owner, attr)

    def wrapper(*a, **kw):
        if acc.get("_depth", 0):
            return fn(*a, **kw)
        acc["_depth"] = 1
        t0 = time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            acc[bucket] = acc.get(bucket, 0.0) + time.thread_time() - t0
            acc["_depth"] = 0

    setattr(owner, attr, wrapper)


def run_one(robot: str, seed: int) -> dict:
    from officina.controllers.planning.planner import MotionPlanner
    from officina.runner import execute_run, resolve_config
    from officina.sim.camera import SimCamera
    from officina.sim.world import SimWorld
    from officina.tasks import bin_picking

    acc: dict[str, float] = {}
    _timed(SimWorld, "step", "physics", acc)
    _timed(SimCamera, "capture", "rendering", acc)
    _timed(bin_picking, "localize_parts", "perception", acc)
    _timed(bin_picking._Picker, "choose", "grasp selection", acc)
    _timed(MotionPlanner, "plan", "planning", acc)
    t0 = time.thread_time()
    with tempfile.TemporaryDirectory() as d:
        cfg = resolve_config("bin-picking", robot=robot, seed=seed)
        res = execute_run(cfg, Path(d) / "run")
        m = res.metrics
        events = json.loads((res.run_dir / "events.json").read_text())
    total = time.thread_time() - t0
    gave_up = [e["reason"] for e in events if e.get("event") == "give_up"]
    cpu = {k: acc.get(k, 0.0) for k in PARTS}
    cpu["rest"] = max(0.0, total - sum(cpu.values()))
    return {"robot": robot, "seed": seed, "cpu_s": total, "cpu": cpu, "give_up_reasons": gave_up,
            **{k: m[k] for k in ("success", "parts_delivered", "parts_pickable", "grasp_attempts", "failed_grasps",
                                 "picks_per_hour", "given_up", "collisions", "protective_stops", "cycle_time_s",
                                 "real_time_factor", "localisation_error_mm", "localisation_error_deg",
                                 "localisation_size_error_mm", "collision_log")}}


def summarise(rows: list[dict]) -> dict:
    delivered = sum(r["parts_delivered"] for r in rows)
    attempts = sum(r["grasp_attempts"] for r in rows)
    mm = [v for r in rows for v in r["localisation_error_mm"]]
    deg = [v for r in rows for v in r["localisation_error_deg"]]
    size = [v for r in rows for v in r["localisation_size_error_mm"]]
    reasons: dict[str, int] = {}
    for r in rows:
        for why in r["give_up_reasons"]:
            reasons[why] = reasons.get(why, 0) + 1
    sim_s = sum(r["cycle_time_s"] for r in rows)
    cpu = {k: sum(r["cpu"][k] for r in rows) for k in (*PARTS, "rest")}
    cpu_s = sum(r["cpu_s"] for r in rows)
    return {
        "runs": len(rows),
        "runs_succeeded": sum(bool(r["success"]) for r in rows),
        "failed_seeds": [r["seed"] for r in rows if not r["success"]],
        "parts_delivered": delivered,
        "parts_pickable": sum(r["parts_pickable"] for r in rows),
        "grasp_attempts": attempts,
        "pick_success_rate": delivered / attempts if attempts else 0.0,
        "picks_per_hour_mean": float(np.mean([r["picks_per_hour"] for r in rows])),
        "picks_per_hour_min": float(np.min([r["picks_per_hour"] for r in rows])),
        "failed_grasps": sum(r["failed_grasps"] for r in rows),
        "given_up": sum(r["given_up"] for r in rows),
        "collisions": sum(r["collisions"] for r in rows),
        "protective_stops": sum(r["protective_stops"] for r in rows),
        "localisation_error_mm_mean": float(np.mean(mm)) if mm else 0.0,
        "localisation_error_mm_max": max(mm, default=0.0),
        "localisation_error_deg_mean": float(np.mean(deg)) if deg else 0.0,
        "localisation_error_deg_max": max(deg, default=0.0),
        "localisation_size_error_mm_max": max(size, default=0.0),
        "give_up_reasons": reasons,
        "collision_log": {r["seed"]: r["collision_log"] for r in rows if r["collision_log"]},
        "real_time_factor_cpu": sim_s / cpu_s if cpu_s else 0.0,
        "cpu_share": {k: v / cpu_s for k, v in cpu.items()} if cpu_s else {},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 per robot (default 20)")
    ap.add_argument("--robots", default="panda,iiwa,ur5e")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    ap.add_argument("--json", default=None, help="also write every run and the summary here")
    a = ap.parse_args(argv)
    if a.seeds < 1 or a.jobs < 1:
        print("--seeds and --jobs must be at least 1", file=sys.stderr)
        return 2
    robots = [r.strip() for r in a.robots.split(",") if r.strip()]
    jobs = [(r, s) for r in robots for s in range(a.seeds)]
    rows: list[dict] = []
    if a.jobs == 1:
        for r, s in jobs:
            rows.append(run_one(r, s))
            _progress(rows[-1])
    else:
        with ProcessPoolExecutor(a.jobs) as ex:
            for row in ex.map(run_one, *zip(*jobs)):
                rows.append(row)
                _progress(row)
    out = {r: summarise([x for x in rows if x["robot"] == r]) for r in robots}
    print()
    print(f"bin-picking, seeds 0-{a.seeds - 1}, default parameters (8 parts)")
    hdr = f"{'robot':<7}{'runs ok':>9}{'pick %':>8}{'picks/h':>9}{'min p/h':>9}{'failed':>7}{'gave up':>8}" \
          f"{'coll.':>6}{'stops':>6}{'loc mm':>8}{'max mm':>8}{'max deg':>8}{'size mm':>8}{'RTF':>6}"
    print(hdr)
    for r, s in out.items():
        print(f"{r:<7}{s['runs_succeeded']:>4}/{s['runs']:<4}{100 * s['pick_success_rate']:>8.1f}"
              f"{s['picks_per_hour_mean']:>9.0f}{s['picks_per_hour_min']:>9.0f}{s['failed_grasps']:>7}"
              f"{s['given_up']:>8}{s['collisions']:>6}{s['protective_stops']:>6}"
              f"{s['localisation_error_mm_mean']:>8.2f}{s['localisation_error_mm_max']:>8.2f}"
              f"{s['localisation_error_deg_max']:>8.2f}{s['localisation_size_error_mm_max']:>8.1f}"
              f"{s['real_time_factor_cpu']:>6.2f}")
    print("\nCPU time of a run (RTF: simulated s per CPU s of this process):")
    for r, s in out.items():
        print(f"  {r:<6}" + "  ".join(f"{k} {100 * v:.0f}%" for k, v in s["cpu_share"].items()))
    for r, s in out.items():
        if s["failed_seeds"]:
            print(f"  {r}: seeds that did not move every part: {s['failed_seeds']}")
        for why, n in sorted(s["give_up_reasons"].items(), key=lambda kv: -kv[1]):
            print(f"  {r}: {n} given up: {why}")
        for seed, log in s["collision_log"].items():
            print(f"  {r} seed {seed}: " + "; ".join(log))
    if a.json:
        Path(a.json).write_text(json.dumps({"runs": rows, "summary": out}, indent=1))
    return 0


def _progress(row: dict) -> None:
    print(f"{row['robot']} seed {row['seed']}: {'ok ' if row['success'] else 'FAIL'} "
          f"{row['parts_delivered']}/{row['parts_pickable']} parts, {row['grasp_attempts']} grasps, "
          f"{row['picks_per_hour']:.0f} picks/h, {row['collisions']} collisions, "
          f"{row['protective_stops']} stops, cpu {row['cpu_s']:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
