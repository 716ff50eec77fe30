"""Benchmark: palletizing over seeds per robot, the issue's goal and where the time goes.

Runs the default pattern (a EUR pallet, 2 interlocked layers of 12 cartons) for each seed on each
robot, each run in its own process (``--workers`` at a time), and prints per robot the success rate
and the KPIs: cartons per minute (mean, min), largest placement error, stable stacks, smallest
supported area fraction, protective stops, the real-time factor. Robots run in the mode their cell
would: the UR10e collaborative (tool speed capped at 1.0 m/s, ``velocity_scale`` 0.8: the task's
defaults), the IRB 2600 industrial (no tool speed cap, ``velocity_scale`` 0.8: at 1.0 the timed
trajectories leave no margin to the safety filter's acceleration limits, which then clamp them).

Goal (issue): >= 6 cartons/min on the UR10e with a stable stack on 20 seeds; anchors: collaborative
palletizers about 6-8 picks/min at 1 m/s (Robotiq), industrial cells 10-18/min.

``--profile`` runs one seed more under cProfile and splits its wall time: physics steps, the vacuum
gripper's per-step seal test, the contact monitor, the safety filter, the state log, motion
planning and IK, perception (render + localize), and the rest.

    python benchmarks/bench_palletizing.py [--robots ur10e,irb2600] [--seeds 0-19] [--workers 2]
        [--n-boxes N] [--profile] [--json] [--out rows.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

__all__ = ["MODES", "run_one", "summarize", "profile_one", "main"]

MODES = {
    "ur10e": ("collaborative", []),
    "irb2600": ("industrial", ["params.max_tcp_speed_m_s=null"]),
}
KEYS = ("success", "boxes_placed", "boxes_total", "boxes_per_min", "placement_error_max_mm", "stack_stable",
        "max_shift_mm", "support_ratio_min", "protective_stops", "safety_events_total", "max_tcp_speed_m_s",
        "cycle_time_s", "real_time_factor", "wall_time_s", "procedure_message")


def _overrides(robot: str, n_boxes: int | None) -> list[str]:
    out = list(MODES.get(robot, ("", []))[1]) + ["log.plots=false"]
    if n_boxes is not None:
        out.append(f"params.n_boxes={n_boxes}")
    return out


def run_one(robot: str, seed: int, n_boxes: int | None = None) -> dict:
    """One run in a scratch folder; its key metrics."""
    from officina.runner import execute_run, resolve_config

    cfg = resolve_config("palletizing", robot=robot, seed=seed, overrides=_overrides(robot, n_boxes))
    t0 = time.thread_time()
    with tempfile.TemporaryDirectory() as d:
        m = execute_run(cfg, f"{d}/run").metrics
    row = {"robot": robot, "seed": seed, **{k: m.get(k) for k in KEYS}}
    row["cpu_s"] = time.thread_time() - t0
    return row


def summarize(rows: list[dict]) -> dict:
    """Per robot: success rate and KPIs over its seeds."""
    out = {}
    for robot in dict.fromkeys(r["robot"] for r in rows):
        rs = [r for r in rows if r["robot"] == robot]
        ok = [r for r in rs if r["success"]]
        rate = np.array([r["boxes_per_min"] or 0.0 for r in rs])
        err = [r["placement_error_max_mm"] for r in rs if r["placement_error_max_mm"] is not None]
        out[robot] = {
            "mode": MODES.get(robot, ("default",))[0],
            "seeds": len(rs),
            "success_rate": len(ok) / len(rs),
            "stable_rate": sum(bool(r["stack_stable"]) for r in rs) / len(rs),
            "boxes_per_min_mean": float(rate.mean()),
            "boxes_per_min_min": float(rate.min()),
            "seeds_at_6_per_min": int(sum(bool(r["success"]) and (r["boxes_per_min"] or 0) >= 6.0 for r in rs)),
            "placement_error_max_mm": float(max(err)) if err else None,
            "support_ratio_min": float(min(r["support_ratio_min"] for r in rs)),
            "max_shift_mm": float(max((r["max_shift_mm"] or 0.0) for r in rs)),
            "protective_stops": int(sum(r["protective_stops"] or 0 for r in rs)),
            "max_tcp_speed_m_s": float(max(r["max_tcp_speed_m_s"] for r in rs)),
            "cycle_time_s_mean": float(np.mean([r["cycle_time_s"] for r in rs])),
            "real_time_factor_mean": float(np.mean([r["real_time_factor"] for r in rs])),
            "cpu_s_per_run": float(np.mean([r["cpu_s"] for r in rs])),
            "failures": [f"seed {r['seed']}: {r['procedure_message'] or 'metrics'}" for r in rs if not r["success"]],
        }
    return out


_BUCKETS = (
    ("physics step", ("stepSimulation",)),
    ("vacuum seal test", ("vacuum.py",)),
    ("contact monitor", ("contact.py",)),
    ("safety filter", ("safety.py", "safe_arm.py:85")),
    ("state log", ("statelog.py",)),
    ("planning + IK", ("planner.py", "collision.py", "ik.py", "trajectory.py")),
    ("perception", ("camera.py", "localize.py")),
)


def profile_one(robot: str, seed: int = 0, n_boxes: int | None = 4) -> dict:
    """Where the wall time of one run goes (cProfile's own time, grouped by module)."""
    import cProfile
    import pstats

    from officina.runner import execute_run, resolve_config

    cfg = resolve_config("palletizing", robot=robot, seed=seed, overrides=_overrides(robot, n_boxes))
    pr = cProfile.Profile()
    with tempfile.TemporaryDirectory() as d:
        pr.enable()
        m = execute_run(cfg, f"{d}/run").metrics
        pr.disable()
    st = pstats.Stats(pr)
    total = sum(v[2] for v in st.stats.values())
    split = {name: 0.0 for name, _ in _BUCKETS}
    split["other"] = 0.0
    for (file, line, func), v in st.stats.items():
        key = f"{file}:{line}({func})"
        for name, pats in _BUCKETS:
            if any(p in key for p in pats):
                split[name] += v[2]
                break
        else:
            split["other"] += v[2]
    return {"robot": robot, "seed": seed, "n_boxes": n_boxes, "sim_s": m["cycle_time_s"],
            "profiled_wall_s": total, "share": {k: v / total for k, v in split.items()},
            "real_time_factor_unprofiled_note": "cProfile slows Python code more than PyBullet's C steps"}


def print_summary(summary: dict) -> None:
    print(f"{'robot':9} {'mode':13} {'seeds':>5} {'success':>7} {'stable':>6} {'box/min':>7} {'min':>5} "
          f"{'>=6/min':>7} {'err mm':>6} {'support':>7} {'stops':>5} {'tcp m/s':>7} {'RTF':>5}")
    for robot, s in summary.items():
        err = "-" if s["placement_error_max_mm"] is None else f"{s['placement_error_max_mm']:.1f}"
        print(f"{robot:9} {s['mode']:13} {s['seeds']:5d} {100 * s['success_rate']:6.0f}% "
              f"{100 * s['stable_rate']:5.0f}% {s['boxes_per_min_mean']:7.2f} {s['boxes_per_min_min']:5.2f} "
              f"{s['seeds_at_6_per_min']:7d} {err:>6} {s['support_ratio_min']:7.3f} {s['protective_stops']:5d} "
              f"{s['max_tcp_speed_m_s']:7.2f} {s['real_time_factor_mean']:5.2f}")
        for f in s["failures"]:
            print(f"    failed {f}")


def main(argv: list[str] | None = None) -> int:
    from officina.sweep import parse_seeds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robots", default="ur10e,irb2600")
    ap.add_argument("--seeds", default="0-19")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n-boxes", type=int, default=None, help="only the first N places (default: the whole pattern)")
    ap.add_argument("--profile", action="store_true", help="also profile one 4-carton run per robot")
    ap.add_argument("--out", default=None, help="append each run's row to this JSON-lines file as it ends")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    robots = [r.strip() for r in a.robots.split(",") if r.strip()]
    seeds = parse_seeds(a.seeds)
    rows = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, a.workers)) as ex:
        futs = {ex.submit(run_one, r, s, a.n_boxes): (r, s) for r in robots for s in seeds}
        for f in as_completed(futs):
            row = f.result()
            rows.append(row)
            if a.out:
                with open(a.out, "a") as fh:
                    fh.write(json.dumps(row, default=str) + "\n")
            if not a.json:
                print(f"  {row['robot']} seed {row['seed']}: success={row['success']} "
                      f"{row['boxes_per_min']} /min, err {row['placement_error_max_mm']} mm, "
                      f"RTF {row['real_time_factor']:.2f}", file=sys.stderr, flush=True)
    rows.sort(key=lambda r: (robots.index(r["robot"]), r["seed"]))
    out = {"summary": summarize(rows), "rows": rows, "wall_s": time.perf_counter() - t0}
    if a.profile:
        out["profile"] = [profile_one(r) for r in robots]
    if a.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    print_summary(out["summary"])
    for pr in out.get("profile", []):
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in sorted(pr["share"].items(), key=lambda kv: -kv[1]))
        print(f"where the time goes ({pr['robot']}, {pr['n_boxes']} cartons, {pr['sim_s']:.1f} s simulated, "
              f"{pr['profiled_wall_s']:.1f} s profiled): {shares}")
    print(f"wall {out['wall_s']:.0f} s for {len(rows)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
