"""Benchmark: shared-cell over N seeds per robot, with people and, for the same seeds, without.

For each robot and seed it runs the task twice, one run after the other in this process: with the
task's default people, and with ``params.people=0`` (the same cell, objects and procedure, nobody
walking). It prints per robot: the success rate, separation violations (must be 0), the smallest
separation and margin, the protective stops, the in-run ``cycle_time_lost_pct`` and the cycle
time lost measured against the run without people (mean and range), and the CPU time per run.

    .venv/bin/python benchmarks/bench_shared_cell.py [--n 20] [--robots panda,iiwa,ur5e]
        [--set params.n_objects=2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _runs(robot: str, seeds: list[int], overrides: list[str], out: Path) -> dict[int, dict]:
    from officina.runner import execute_run, resolve_config  # noqa: PLC0415

    runs = {}
    for seed in seeds:
        cpu0 = time.process_time()
        res = execute_run(resolve_config("shared-cell", robot=robot, seed=seed, overrides=list(overrides)),
                          out / f"seed{seed}")
        runs[seed] = {**res.metrics, "cpu_time_s": time.process_time() - cpu0}
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--robots", default="panda,iiwa,ur5e")
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    seeds = list(range(a.n))
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for robot in a.robots.split(","):
            people = _runs(robot, seeds, a.overrides, Path(tmp) / f"{robot}-people")
            alone = _runs(robot, seeds, a.overrides + ["params.people=0"], Path(tmp) / f"{robot}-alone")
            rows = [(people[s], alone[s]) for s in seeds if s in people and s in alone]
            lost = [100.0 * (p["cycle_time_s"] - q["cycle_time_s"]) / q["cycle_time_s"] for p, q in rows]
            r = {
                "runs": len(rows),
                "success_rate": sum(bool(p.get("success")) for p, _ in rows) / max(1, len(rows)),
                "success_rate_without_people": sum(bool(q.get("success")) for _, q in rows) / max(1, len(rows)),
                "separation_violations": sum(int(p.get("separation_violations") or 0) for p, _ in rows),
                "min_separation_m": min((p["min_separation_m"] for p, _ in rows
                                         if p.get("min_separation_m") is not None), default=None),
                "min_margin_m": min((p["min_margin_m"] for p, _ in rows if p.get("min_margin_m") is not None),
                                    default=None),
                "ssm_stops_mean": sum(p.get("ssm_stops", 0) for p, _ in rows) / max(1, len(rows)),
                "cycle_time_lost_pct_in_run_mean": sum(p["cycle_time_lost_pct"] for p, _ in rows) / max(1, len(rows)),
                "cycle_time_lost_pct_vs_no_people_mean": sum(lost) / max(1, len(lost)),
                "cycle_time_lost_pct_vs_no_people_range": [min(lost, default=0.0), max(lost, default=0.0)],
                "cpu_s_per_run": sum(p.get("cpu_time_s", 0.0) for p, _ in rows) / max(1, len(rows)),
            }
            report[robot] = r
            if not a.json:
                print(f"{robot}: {r['runs']} seeds, success {100 * r['success_rate']:.0f} % "
                      f"(without people {100 * r['success_rate_without_people']:.0f} %), "
                      f"violations {r['separation_violations']}, min separation {r['min_separation_m']} m, "
                      f"min margin {r['min_margin_m']} m, SSM stops/run {r['ssm_stops_mean']:.1f}, "
                      f"cycle time lost {r['cycle_time_lost_pct_vs_no_people_mean']:.1f} % against no people "
                      f"(range {r['cycle_time_lost_pct_vs_no_people_range'][0]:.1f}.."
                      f"{r['cycle_time_lost_pct_vs_no_people_range'][1]:.1f}), in-run estimate "
                      f"{r['cycle_time_lost_pct_in_run_mean']:.1f} %", flush=True)
    if a.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
