"""Benchmark: the same N pick-place runs (seeds 0..N-1) in a plain loop, then through officina's
sweep path on a Dask LocalCluster of 1 and of 2 worker processes.

Reports, against the plain loop measured in the same run:

* parallel efficiency on 2 workers: T_loop / (2 T_2) (goal >= 90 %), and T_1 / (2 T_2);
* Dask's per-run overhead: (T_1 - T_loop) / N, the cost of the sweep path on one worker (task
  submission, the results coming back, the start marker, each worker's first imports);
* per-run CPU time in each mode (time.process_time of the run's process), and the share of the
  workers' wall time they were on a CPU: on a shared machine that share, not Dask, is what bounds
  the efficiency;
* figures the machine's other load does not skew: the workers' occupancy (the share of
  workers x T spent inside runs; the rest is Dask's scheduling and transfer, per run), the CPU
  time per run on 2 workers against the loop, and from both the efficiency to expect on two free
  cores: occupancy x CPU per run (loop) / CPU per run (2 workers);
* the load average before and after each phase.

The cluster's start-up (its processes, and each worker importing officina as this process did
before its loop) is timed apart: once per sweep, not per run. Every mode must give the same
metrics per seed (checked). Nothing is written outside a temporary folder unless --out is given.

    .venv/bin/python benchmarks/bench_sweep.py [--n 40] [--set params.n_objects=3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

SAME = ("cycle_time_s", "sim_steps", "success", "objects_placed", "max_joint_tracking_error_rad")


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def plain_loop(points, root: Path) -> dict:
    from officina.config import RunConfig
    from officina.runner import execute_run

    runs = {}
    load0, t0 = _load(), time.perf_counter()
    for p in points:
        w0, c0 = time.perf_counter(), time.process_time()
        res = execute_run(RunConfig.model_validate(p.config), root / p.name)
        runs[p.seed] = {"metrics": res.metrics, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0}
    return {"wall_s": time.perf_counter() - t0, "runs": runs, "load_before": load0, "load_after": _load(),
            "workers": 1}


def _warm_up() -> None:
    import officina.runner  # noqa: F401
    import officina.sweep  # noqa: F401
    import officina.tasks  # noqa: F401


def dask_sweep(points, root: Path, n_workers: int) -> dict:
    from dask.distributed import Client, LocalCluster, as_completed

    from officina.sweep import _run_point

    load0, t0 = _load(), time.perf_counter()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    client.wait_for_workers(n_workers)
    client.run(_warm_up)  # each worker imports what this process imported before its loop
    t_start = time.perf_counter() - t0
    runs = {}
    try:
        t1 = time.perf_counter()
        futures = {client.submit(_run_point, p.config, str(root / p.name), str(root / ".started" / p.name),
                                 pure=False): p for p in points}
        for fut in as_completed(list(futures)):
            p = futures.pop(fut)
            r = fut.result()
            fut.release()
            if r["status"] != "ok":
                raise RuntimeError(f"run {p.name} failed: {r.get('error')}")
            runs[p.seed] = r
        wall = time.perf_counter() - t1
    finally:
        client.close()
        cluster.close()
    return {"wall_s": wall, "cluster_start_s": t_start, "runs": runs, "load_before": load0, "load_after": _load(),
            "workers": n_workers}


def summary(mode: dict) -> dict:
    runs = list(mode["runs"].values())
    cpu = sum(r["cpu_s"] for r in runs)
    inside = sum(r["wall_s"] for r in runs)
    slots = mode["wall_s"] * mode["workers"]
    return {"wall_s": mode["wall_s"], "cpu_per_run_s": cpu / len(runs),
            "wall_per_run_s": inside / len(runs),
            "cpu_share": cpu / slots, "occupancy": inside / slots,
            "outside_runs_per_run_s": (slots - inside) / len(runs),
            "cluster_start_s": mode.get("cluster_start_s"), "load_before": mode["load_before"],
            "load_after": mode["load_after"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="runs (seeds 0..N-1)")
    ap.add_argument("--task", default="pick-place")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override for every run")
    ap.add_argument("--out", help="keep the run folders here (default: a temporary folder, removed)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)

    from officina.sweep import plan_sweep

    points = plan_sweep(args.task, seeds=list(range(args.n)), grid={}, robot=None, config_file=None,
                        overrides=args.overrides)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        modes = {"loop": plain_loop(points, root / "loop"),
                 "dask1": dask_sweep(points, root / "dask1", 1),
                 "dask2": dask_sweep(points, root / "dask2", 2)}
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)
    for name in ("dask1", "dask2"):
        for seed, r in modes[name]["runs"].items():
            ref = modes["loop"]["runs"][seed]["metrics"]
            diff = [k for k in SAME if k in ref and r["metrics"].get(k) != ref[k]]
            if diff:
                raise SystemExit(f"{name}, seed {seed}: {diff} differ from the plain loop")
    s = {k: summary(v) for k, v in modes.items()}
    t_loop, t1, t2 = s["loop"]["wall_s"], s["dask1"]["wall_s"], s["dask2"]["wall_s"]
    result = {
        "task": args.task, "n_runs": args.n, "overrides": args.overrides, "cores": os.cpu_count(),
        "python": platform.python_version(), "modes": s,
        "efficiency_2_workers_vs_loop": t_loop / (2 * t2),
        "efficiency_2_workers_vs_1_worker": t1 / (2 * t2),
        "dask_overhead_per_run_s": (t1 - t_loop) / args.n,
        "cpu_per_run_change_2_workers": s["dask2"]["cpu_per_run_s"] / s["loop"]["cpu_per_run_s"] - 1.0,
        "expected_efficiency_free_cores": s["dask2"]["occupancy"] * s["loop"]["cpu_per_run_s"]
        / s["dask2"]["cpu_per_run_s"],
        "goal_efficiency": 0.9,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"{args.n} {args.task} runs ({' '.join(args.overrides) or 'default config'}), {os.cpu_count()} cores")
    print(f"{'mode':<16}{'wall s':>8}{'CPU/run s':>10}{'wall/run s':>11}{'CPU share':>10}{'occupancy':>10}"
          f"{'outside runs/run s':>19}{'start s':>8}{'load before/after':>19}")
    for name, label in (("loop", "plain loop"), ("dask1", "Dask, 1 worker"), ("dask2", "Dask, 2 workers")):
        m = s[name]
        start = f"{m['cluster_start_s']:.1f}" if m["cluster_start_s"] is not None else "-"
        print(f"{label:<16}{m['wall_s']:>8.1f}{m['cpu_per_run_s']:>10.2f}{m['wall_per_run_s']:>11.2f}"
              f"{100 * m['cpu_share']:>9.0f}%{100 * m['occupancy']:>9.1f}%{m['outside_runs_per_run_s']:>19.3f}"
              f"{start:>8}{m['load_before']:>10} / {m['load_after']}")
    e = result["efficiency_2_workers_vs_loop"]
    print(f"parallel efficiency, 2 workers: {100 * e:.0f} % of the plain loop (T_loop / 2 T_2), "
          f"{100 * result['efficiency_2_workers_vs_1_worker']:.0f} % of 1 worker; goal >= 90 %: "
          f"{'met' if e >= 0.9 else 'NOT met'}")
    print(f"Dask per-run overhead (1 worker vs the loop): {result['dask_overhead_per_run_s']:+.3f} s "
          f"({100 * result['dask_overhead_per_run_s'] / s['loop']['wall_per_run_s']:+.1f} % of a run)")
    print(f"CPU per run on 2 workers vs the loop: {100 * result['cpu_per_run_change_2_workers']:+.1f} %; the 2 "
          f"workers were on a CPU {100 * s['dask2']['cpu_share']:.0f} % of the time (100 % = two free cores)")
    print(f"efficiency to expect on two free cores (occupancy x CPU/run loop / CPU/run 2 workers): "
          f"{100 * result['expected_efficiency_free_cores']:.0f} %")
    return result


if __name__ == "__main__":
    main()
