"""Benchmark: the same N pick-place runs (seeds 0..N-1) in a plain loop, the same loop pinned to
one core, on two plain worker processes without Dask, then through officina's sweep path
(`officina.sweep.run_sweep` on the sweep's own LocalCluster, `officina.sweep.local_cluster`)
with 1 and with 2 worker processes; and first the machine's ceiling: raw PyBullet stepping of the
same world (`officina.tasks.bench.raw_stepping`, the baseline of `officina bench sim`) in one
process alone and in two processes at once, without officina's run loop and without Dask.

In the loops every run of pick-place starts a state log writer process beside it (`log.writer`
"auto", the default): that writer runs on the other core, so the plain loop uses more than one
core; pinned to one core (its writer too) the loop is the serial baseline a parallel efficiency
is defined against. In the sweep's workers and on the two plain processes each run goes through
the function a sweep's worker calls (`officina.sweep._run_point`), which encodes the log in the
run's thread (no writer process). Reports, against the loops measured in the same run:

* parallel efficiency on 2 workers: T_loop / (2 T_2) (goal >= 90 %), T_loop1 / (2 T_2) (the loop on
  one core) and T_1 / (2 T_2); the same for the two processes without Dask;
* the machine's parallel efficiency for this physics: T_alone / T_two by the wall clock and CPU
  time per step alone / two at once; and the sweep's efficiency (2 workers against 1, by the
  wall clock and by CPU time per run) as a share of it;
* Dask's per-run overhead: (T_1 - T_loop) / N by the wall clock, and Dask's CPU time per run (the
  scheduler, the nannies and the client in this process, the workers outside runs);
* per run, CPU time of the run's process (in a worker: all of the worker's threads during the run,
  the log's encoding included), of its writer process (if any), and in all;
* figures the machine's other load skews less: the workers' occupancy (the share of workers x T
  spent inside runs), the total CPU per run in the loop against on 2 workers, and from both the
  efficiency to expect on two free cores;
* the load average before and after each phase.

Every process has warmed up before its runs are timed (`officina.runner.warm_up`: imports, the
state log's serializers; a sweep's workers do it as they start). The start-up of the cluster or
the pool (its processes, their warm-up) and the sweep's summary at the end (sweep.json,
sweep.png) are timed apart: once per sweep, not per run. Every mode must give the same metrics
per seed (checked). Nothing is written outside a temporary folder unless --out is given.

    .venv/bin/python benchmarks/bench_sweep.py [--n 40] [--set log.writer=inline] [--json]
        [--no-one-core-loop] [--no-process-pair] [--ceiling-steps 5000] [--ceiling-repeats 20]
    officina bench sweep [--slow]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def plain_loop(points, root: Path, one_core: bool = False) -> dict:
    """The runs one after the other in this process; ``one_core``: this process and its children
    (each run's state log writer) pinned to one core, a serial baseline that uses one core only."""
    from officina.config import RunConfig
    from officina.runner import execute_run

    allowed = os.sched_getaffinity(0) if one_core else None
    if one_core:
        os.sched_setaffinity(0, {min(allowed)})
    runs = {}
    try:
        load0, t0 = _load(), time.perf_counter()
        for p in points:
            w0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
            res = execute_run(RunConfig.model_validate(p.config), root / p.name)
            runs[p.seed] = {"metrics": res.metrics, "wall_s": time.perf_counter() - w0,
                            "cpu_s": time.process_time() - c0, "children_cpu_s": _children_cpu() - k0}
        wall = time.perf_counter() - t0
    finally:
        if one_core:
            os.sched_setaffinity(0, allowed)
    return {"wall_s": wall, "runs": runs, "load_before": load0, "load_after": _load(), "workers": 1,
            "overhead_cpu_s": 0.0}


def _cpu() -> float:
    return time.process_time()


def _warm_up() -> None:
    """What every mode's process has done before its runs are timed: officina's imports and
    `officina.runner.warm_up` (a sweep's workers do it as they start, `officina.sweep.dask_setup`)."""
    import officina.sweep  # noqa: F401
    import officina.tasks  # noqa: F401
    from officina.runner import warm_up

    warm_up()


def _pool_init(barrier) -> None:
    _warm_up()
    barrier.wait()


def _pool_run(args):
    from officina.sweep import _run_point

    return _run_point(*args)


def process_pair(points, root: Path) -> dict:
    """The runs on two plain worker processes without Dask (a `multiprocessing` pool of two,
    each taking the next run when it is free), each run through the same function a sweep's Dask
    worker calls (`officina.sweep._run_point`: the log encoded in the run's thread, the start
    marker). Against the Dask workers this is the sweep without Dask; against the loop, what two
    of officina's runs at once cost on this machine. The workers' start-up (the interpreter,
    imports as this process did before its loop) is timed apart."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    load0, t0 = _load(), time.perf_counter()
    barrier = ctx.Barrier(3)
    root.mkdir(parents=True, exist_ok=True)
    with ctx.Pool(2, initializer=_pool_init, initargs=(barrier,)) as pool:
        barrier.wait()
        t_start = time.perf_counter() - t0
        c1, t1 = time.process_time(), time.perf_counter()
        args = [(p.config, str(root / p.name), str(root / ".started" / p.name)) for p in points]
        results = list(pool.imap_unordered(_pool_run, args, chunksize=1))
        wall = time.perf_counter() - t1
        parent_cpu = time.process_time() - c1
    runs = {}
    for r in results:
        if r["status"] != "ok":
            raise RuntimeError(f"a run failed on the process pair: {r.get('error')}")
        runs[r["metrics"]["seed"]] = {"metrics": {k: r["metrics"].get(k) for k in SAME}, "wall_s": r["wall_s"],
                                      "cpu_s": r["cpu_s"], "children_cpu_s": r["children_cpu_s"]}
    return {"wall_s": wall, "cluster_start_s": t_start, "runs": runs, "load_before": load0, "load_after": _load(),
            "workers": 2, "overhead_cpu_s": parent_cpu}


def dask_sweep(points, root: Path, n_workers: int) -> dict:
    """The runs through `officina.sweep.run_sweep` on the sweep's own LocalCluster
    (`officina.sweep.local_cluster`): the results table, the journal and the start markers as in
    `officina sweep`. The cluster's start-up and the sweep's summary at the end (sweep.json,
    sweep.png, once per sweep) are timed apart. Dask's own CPU time: this process's (the scheduler,
    the nannies, the client, the table) and the workers' outside the runs."""
    from officina import sweep

    load0, t0 = _load(), time.perf_counter()
    client, cluster = sweep.local_cluster(n_workers, len(points))
    client.wait_for_workers(n_workers)
    client.run(_warm_up)  # each worker has done what this process did before its loop (its preload did)
    t_start = time.perf_counter() - t0
    finish = {}
    real_finish = sweep.finish_sweep

    def timed_finish(*a, **kw):
        f0, c0 = time.perf_counter(), time.process_time()
        try:
            return real_finish(*a, **kw)
        finally:
            finish["wall_s"], finish["cpu_s"] = time.perf_counter() - f0, time.process_time() - c0

    sweep_dir = root
    sweep_dir.mkdir(parents=True, exist_ok=True)
    try:
        sweep.finish_sweep = timed_finish
        workers_cpu0 = client.run(_cpu)
        c1, t1 = time.process_time(), time.perf_counter()
        out = sweep.run_sweep(points, sweep_dir, client=client, progress=False)
        wall = time.perf_counter() - t1 - finish["wall_s"]
        parent_cpu = time.process_time() - c1 - finish["cpu_s"]
        workers_cpu = sum(client.run(_cpu).values()) - sum(workers_cpu0.values())
    finally:
        sweep.finish_sweep = real_finish
        client.close()
        cluster.close()
    rows = [json.loads(line) for line in (sweep_dir / "results.jsonl").read_text().splitlines() if line.strip()]
    runs = {}
    for r in rows:
        if r["status"] != "ok":
            raise RuntimeError(f"run {r['run']} failed: {r.get('error')}")
        runs[r["seed"]] = {"metrics": {k: r.get(k) for k in SAME}, "wall_s": r["wall_s"], "cpu_s": r["cpu_s"],
                           "children_cpu_s": r["children_cpu_s"]}
    assert len(runs) == len(points) == out.ran
    in_runs = sum(r["cpu_s"] for r in runs.values())
    return {"wall_s": wall, "cluster_start_s": t_start, "finish_s": finish["wall_s"], "runs": runs,
            "load_before": load0, "load_after": _load(), "workers": n_workers,
            "overhead_cpu_s": parent_cpu + max(0.0, workers_cpu - in_runs)}


def _ceiling_child(robot: str, steps: int, repeats: int, barrier, queue) -> None:
    from officina.tasks.bench import raw_stepping

    queue.put(raw_stepping(robot, steps, repeats, ready=barrier.wait if barrier is not None else None))


def ceiling(steps: int, repeats: int, robot: str = "panda") -> dict:
    """The machine's parallel efficiency for this physics, without officina's run loop and
    without Dask: raw stepping of the pick-place world (`officina.tasks.bench.raw_stepping`,
    what `officina bench sim` measures as its baseline), ``repeats`` x ``steps`` steps in one
    process alone, then the same in each of two processes at once (their stepping started
    together). Each process is a fresh interpreter; its cell is built before the clock starts.

    Wall-clock efficiency: T_alone / T_two (two processes do twice the work of one; 100 %: in the
    same time); CPU efficiency: thread CPU time per step alone / two at once (100 %: the two
    cores do not slow each other). The wall clock also counts the machine's other load; the CPU
    figure counts only what running together costs each process, measured against one process
    that also has the machine's other load beside it."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")

    def measure(n: int) -> dict:
        queue = ctx.Queue()
        barrier = ctx.Barrier(n) if n > 1 else None
        load0 = _load()
        procs = [ctx.Process(target=_ceiling_child, args=(robot, steps, repeats, barrier, queue)) for _ in range(n)]
        for pr in procs:
            pr.start()
        res = [queue.get() for _ in procs]
        for pr in procs:
            pr.join()
        reps = [r for one in res for r in one]
        start = min(w0 for _, _, w0 in reps)
        end = max(w0 + w for _, w, w0 in reps)
        return _phase(n, end - start, sum(c for c, _, _ in reps), repeats * steps, load0, _load())

    return _ceiling_result(robot, steps, repeats, measure(1), measure(2))


def _phase(processes: int, wall_s: float, cpu_s: float, steps_per_process: int, load_before, load_after) -> dict:
    """One phase of the ceiling (one process alone, or two at once)."""
    return {"processes": processes, "wall_s": wall_s, "cpu_s": cpu_s,
            "cpu_per_step_us": 1e6 * cpu_s / (processes * steps_per_process), "cores_used": cpu_s / wall_s,
            "load_before": load_before, "load_after": load_after}


def _ceiling_result(robot: str, steps: int, repeats: int, alone: dict, two: dict) -> dict:
    return {"robot": robot, "steps": steps, "repeats": repeats, "alone": alone, "two": two,
            "efficiency_wall": alone["wall_s"] / two["wall_s"],
            "efficiency_cpu": alone["cpu_per_step_us"] / two["cpu_per_step_us"]}


def _merge(a: dict, b: dict) -> dict:
    """Two rounds of a mode as one: times summed, runs joined, the load before the first and after
    the last."""
    out = {**a, "wall_s": a["wall_s"] + b["wall_s"], "runs": {**a["runs"], **b["runs"]},
           "overhead_cpu_s": a["overhead_cpu_s"] + b["overhead_cpu_s"], "load_after": b["load_after"]}
    for k in ("cluster_start_s", "finish_s"):
        if k in a:
            out[k] = a[k] + b[k]
    return out


def _merge_ceilings(cs: list) -> dict:
    """The ceilings of several rounds as one (times and steps summed)."""
    steps, repeats = cs[0]["steps"], sum(c["repeats"] for c in cs)
    phases = [_phase(cs[0][ph]["processes"], sum(c[ph]["wall_s"] for c in cs), sum(c[ph]["cpu_s"] for c in cs),
                     repeats * steps, cs[0][ph]["load_before"], cs[-1][ph]["load_after"]) for ph in ("alone", "two")]
    return _ceiling_result(cs[0]["robot"], steps, repeats, *phases)


def summary(mode: dict) -> dict:
    runs = list(mode["runs"].values())
    n = len(runs)
    cpu = sum(r["cpu_s"] for r in runs)
    kids = sum(r["children_cpu_s"] for r in runs)
    inside = sum(r["wall_s"] for r in runs)
    slots = mode["wall_s"] * mode["workers"]
    return {"wall_s": mode["wall_s"], "cpu_per_run_s": cpu / n, "writer_cpu_per_run_s": kids / n,
            "dask_cpu_per_run_s": mode["overhead_cpu_s"] / n,
            "total_cpu_per_run_s": (cpu + kids + mode["overhead_cpu_s"]) / n,
            "wall_per_run_s": inside / n,
            "cores_used": (cpu + kids + mode["overhead_cpu_s"]) / mode["wall_s"], "occupancy": inside / slots,
            "outside_runs_per_run_s": (slots - inside) / n,
            "cluster_start_s": mode.get("cluster_start_s"), "finish_s": mode.get("finish_s"),
            "load_before": mode["load_before"], "load_after": mode["load_after"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="runs (seeds 0..N-1)")
    ap.add_argument("--task", default="pick-place")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override for every run")
    ap.add_argument("--no-one-core-loop", dest="one_core", action="store_false",
                    help="skip the loop pinned to one core")
    ap.add_argument("--no-process-pair", dest="pair", action="store_false",
                    help="skip the runs on two plain processes without Dask")
    ap.add_argument("--ceiling-steps", type=int, default=5000,
                    help="raw PyBullet steps per repeat of the machine's ceiling (0: skip it)")
    ap.add_argument("--ceiling-repeats", type=int, default=20, help="repeats of the ceiling's stepping per process")
    ap.add_argument("--rounds", type=int, default=1,
                    help="split the runs into this many rounds, each running every mode on its share in turn (and "
                         "the ceiling): modes see the same load on a machine whose load changes")
    ap.add_argument("--out", help="keep the run folders here (default: a temporary folder, removed)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    one_core = args.one_core and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1

    from officina.sweep import plan_sweep

    points = plan_sweep(args.task, seeds=list(range(args.n)), grid={}, robot=None, config_file=None,
                        overrides=args.overrides)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    _warm_up()
    robot = points[0].config["robot"]
    runners = {"loop": plain_loop}
    if one_core:
        runners["loop1"] = lambda pts, d: plain_loop(pts, d, one_core=True)
    if args.pair:
        runners["pair"] = process_pair
    runners["dask1"] = lambda pts, d: dask_sweep(pts, d, 1)
    runners["dask2"] = lambda pts, d: dask_sweep(pts, d, 2)
    rounds = max(1, min(args.rounds, args.n))
    ceilings, modes = [], {}
    try:
        for k in range(rounds):
            if args.ceiling_steps > 0:
                ceilings.append(ceiling(args.ceiling_steps, args.ceiling_repeats, robot))
            share = points[k::rounds]
            for name, fn in runners.items():
                res = fn(share, root / name / f"round{k}" if rounds > 1 else root / name)
                modes[name] = _merge(modes[name], res) if name in modes else res
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)
    for name in modes:
        for seed, r in modes[name]["runs"].items():
            ref = modes["loop"]["runs"][seed]["metrics"]
            diff = [k for k in SAME if k in ref and r["metrics"].get(k) != ref[k]]
            if diff:
                raise SystemExit(f"{name}, seed {seed}: {diff} differ from the plain loop")
    s = {k: summary(v) for k, v in modes.items()}
    t_loop, t1, t2 = s["loop"]["wall_s"], s["dask1"]["wall_s"], s["dask2"]["wall_s"]
    loop, two = s["loop"], s["dask2"]
    result = {
        "task": args.task, "n_runs": args.n, "overrides": args.overrides, "cores": os.cpu_count(),
        "python": platform.python_version(), "modes": s,
        "efficiency_2_workers_vs_loop": t_loop / (2 * t2),
        "efficiency_2_workers_vs_one_core_loop": s["loop1"]["wall_s"] / (2 * t2) if "loop1" in s else None,
        "efficiency_2_workers_vs_1_worker": t1 / (2 * t2),
        "dask_overhead_per_run_s": (t1 - t_loop) / args.n,
        "cpu_per_run_change_1_worker": s["dask1"]["cpu_per_run_s"] / loop["cpu_per_run_s"] - 1.0,
        "cpu_per_run_change_2_workers": two["cpu_per_run_s"] / loop["cpu_per_run_s"] - 1.0,
        "loop_cores_used": loop["cores_used"],
        "cpu_efficiency_2_workers": loop["total_cpu_per_run_s"] / two["total_cpu_per_run_s"],
        "expected_efficiency_free_cores": two["occupancy"] * loop["total_cpu_per_run_s"]
        / two["total_cpu_per_run_s"],
        "expected_efficiency_free_cores_vs_loop": two["occupancy"] * loop["cpu_per_run_s"]
        / two["total_cpu_per_run_s"],
        "goal_efficiency": 0.9,
        "ceiling": _merge_ceilings(ceilings) if ceilings else None,
        "rounds": rounds,
    }
    ceil = result["ceiling"]
    cpu1, cpu2 = s["dask1"]["cpu_per_run_s"], two["cpu_per_run_s"]
    result["cpu_efficiency_2_workers_vs_1_worker"] = cpu1 / cpu2
    if "pair" in s:
        pair = s["pair"]
        result["efficiency_2_processes_vs_loop"] = t_loop / (2 * pair["wall_s"])
        result["efficiency_2_processes_vs_1_worker"] = t1 / (2 * pair["wall_s"])
        result["cpu_efficiency_2_processes_vs_1_worker"] = cpu1 / pair["cpu_per_run_s"]
        result["efficiency_2_workers_vs_2_processes"] = pair["wall_s"] / t2
    if ceil is not None:
        result["efficiency_2_workers_vs_1_worker_of_ceiling"] = result["efficiency_2_workers_vs_1_worker"] / ceil[
            "efficiency_wall"]
        result["efficiency_2_workers_vs_loop_of_ceiling"] = result["efficiency_2_workers_vs_loop"] / ceil[
            "efficiency_wall"]
        result["cpu_efficiency_2_workers_of_ceiling"] = result["cpu_efficiency_2_workers_vs_1_worker"] / ceil[
            "efficiency_cpu"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return result


def print_table(result: dict) -> None:
    """The result of `main` as a table and a few lines."""
    s, loop, n = result["modes"], result["modes"]["loop"], result["n_runs"]
    print(f"{n} {result['task']} runs ({' '.join(result['overrides']) or 'default config'}), {result['cores']} cores"
          + (f", in {result['rounds']} rounds (every mode in turn on its share of the seeds)" if result.get('rounds', 1) > 1 else ""))
    print(f"{'mode':<18}{'wall s':>7}{'CPU/run s':>10}{'writer':>7}{'Dask':>6}{'total':>7}{'wall/run s':>11}"
          f"{'cores':>6}{'occup.':>7}{'start s':>8}{'load before/after':>18}")
    labels = {"loop": "plain loop", "loop1": "loop on one core", "pair": "2 procs, no Dask", "dask1": "Dask, 1 worker",
              "dask2": "Dask, 2 workers"}
    for name, m in s.items():
        start = f"{m['cluster_start_s']:.1f}" if m["cluster_start_s"] is not None else "-"
        print(f"{labels[name]:<18}{m['wall_s']:>7.1f}{m['cpu_per_run_s']:>10.2f}{m['writer_cpu_per_run_s']:>7.2f}"
              f"{m['dask_cpu_per_run_s']:>6.2f}{m['total_cpu_per_run_s']:>7.2f}{m['wall_per_run_s']:>11.2f}"
              f"{m['cores_used']:>6.2f}{100 * m['occupancy']:>6.1f}%{start:>8}"
              f"{m['load_before']:>9} / {m['load_after']}")
    print("(CPU/run: the run's process; writer: its state log writer process; Dask: the scheduler, nannies, "
          "client and the workers outside runs, per run (for the 2 processes without Dask: this process); "
          "cores: total CPU / wall)")
    c = result.get("ceiling")
    if c:
        a, b = c["alone"], c["two"]
        print(f"the machine's ceiling, raw PyBullet stepping of the {c['robot']} pick-place world "
              f"({c['repeats']} x {c['steps']} steps per process): alone {a['wall_s']:.2f} s wall, "
              f"{a['cpu_per_step_us']:.1f} us CPU/step; two processes at once {b['wall_s']:.2f} s wall, "
              f"{b['cpu_per_step_us']:.1f} us CPU/step (load {a['load_before']} / {b['load_after']})")
        print(f"  parallel efficiency of the machine: {100 * c['efficiency_wall']:.0f} % by the wall clock "
              f"(T_alone / T_two), {100 * c['efficiency_cpu']:.0f} % by CPU time per step (alone / two at once)")
    e = result["efficiency_2_workers_vs_loop"]
    print(f"parallel efficiency, 2 workers: {100 * e:.0f} % of the plain loop (T_loop / 2 T_2), "
          f"{100 * result['efficiency_2_workers_vs_1_worker']:.0f} % of 1 worker; goal >= 90 %: "
          f"{'met' if e >= 0.9 else 'NOT met'}")
    if result["efficiency_2_workers_vs_one_core_loop"] is not None:
        print(f"  against the loop on one core (its writer on the same core): "
              f"{100 * result['efficiency_2_workers_vs_one_core_loop']:.0f} %; the plain loop used "
              f"{loop['cores_used']:.2f} cores (its writer runs beside it)")
    print(f"  by CPU time per run, 2 workers against 1 (cpu/run 1 / cpu/run 2): "
          f"{100 * result['cpu_efficiency_2_workers_vs_1_worker']:.0f} %")
    if c:
        print(f"  as a share of the machine's ceiling: {100 * result['efficiency_2_workers_vs_1_worker_of_ceiling']:.0f}"
              f" % (against 1 worker), {100 * result['efficiency_2_workers_vs_loop_of_ceiling']:.0f} % (against the "
              f"loop) by the wall clock; {100 * result['cpu_efficiency_2_workers_of_ceiling']:.0f} % by CPU time")
    if "efficiency_2_processes_vs_loop" in result:
        print(f"2 plain processes without Dask: {100 * result['efficiency_2_processes_vs_loop']:.0f} % of the plain "
              f"loop, {100 * result['efficiency_2_processes_vs_1_worker']:.0f} % of 1 worker by the wall clock, "
              f"{100 * result['cpu_efficiency_2_processes_vs_1_worker']:.0f} % by CPU time per run against 1 worker; "
              f"the 2 Dask workers took {1 / result['efficiency_2_workers_vs_2_processes']:.3f} x their wall time "
              f"(Dask's cost with two workers busy)")
    print(f"Dask per-run overhead (1 worker vs the loop): {result['dask_overhead_per_run_s']:+.3f} s wall "
          f"({100 * result['dask_overhead_per_run_s'] / loop['wall_per_run_s']:+.1f} % of a run), "
          f"{s['dask1']['dask_cpu_per_run_s']:.3f} s CPU")
    print(f"CPU per run in the run's process vs the loop: 1 worker {100 * result['cpu_per_run_change_1_worker']:+.1f} %,"
          f" 2 workers {100 * result['cpu_per_run_change_2_workers']:+.1f} %")
    if s["dask1"]["writer_cpu_per_run_s"] < 0.5 * loop["writer_cpu_per_run_s"]:
        print("  (the workers encode the state log in the run's thread, the loop in a writer process on the other "
              "core: both figures above include that encoding)")
    print(f"total CPU per run, loop / 2 workers: {100 * result['cpu_efficiency_2_workers']:.0f} %; efficiency to "
          f"expect on two free cores: {100 * result['expected_efficiency_free_cores']:.0f} % of one core (occupancy x "
          f"total CPU/run loop / total CPU/run 2 workers), {100 * result['expected_efficiency_free_cores_vs_loop']:.0f}"
          f" % of the plain loop (its run's CPU in place of the total: its writer runs on the other core)")


def rows_from_result(res: dict) -> list:
    """The result of `main` as `officina.benchmarks.Row` s: the wall time of the runs on 2 Dask
    workers against the same runs in a plain loop (goal: a parallel efficiency
    T_loop / (2 T_2) >= 90 %, i.e. a ratio <= 1 / 1.8), the efficiency to expect on two free
    cores (which the machine's other load does not skew), Dask's per-run overhead on one
    worker against a run's own wall time in the loop, and (when measured) the efficiency of 2
    workers against 1 with the machine's own for raw stepping as its baseline (the ratio: the
    share of the ceiling the sweep reaches)."""
    from officina.benchmarks import row

    modes = res.get("modes", {})
    loop, two = modes.get("loop", {}), modes.get("dask2", {})
    note = f"{res.get('n_runs')} runs of {res.get('task', 'pick-place')}" + (
        f" ({' '.join(res['overrides'])})" if res.get("overrides") else "")
    eff = res.get("efficiency_2_workers_vs_loop")
    one = res.get("efficiency_2_workers_vs_one_core_loop")
    free = res.get("expected_efficiency_free_cores")
    load = f"load average {two['load_before']} before" if "load_before" in two else ""
    out = [
        row("sweep wall time, 2 Dask workers", "s", two.get("wall_s"), loop.get("wall_s"),
            baseline_name="the same runs in a plain loop", goals=[("ratio", "<=", 1 / 1.8)],
            note="; ".join(x for x in (note, f"parallel efficiency {100 * eff:.0f} % (goal >= 90 %)"
                                       if eff is not None else "",
                                       f"{100 * one:.0f} % against the loop on one core" if one else "", load) if x)),
        row("sweep parallel efficiency to expect on two free cores", "%",
            100 * free if free is not None else None, goals=[("value", ">=", 90.0)], better="higher",
            note="against one core: occupancy of the 2 workers x CPU per run in the loop (with its writer) / "
                 "CPU per run on them (with their writers and Dask's)"
                 + (f"; {100 * res['expected_efficiency_free_cores_vs_loop']:.0f} % against the plain loop, whose "
                    "writer runs on the other core" if res.get("expected_efficiency_free_cores_vs_loop") else "")),
        row("Dask per-run overhead, 1 worker", "s", res.get("dask_overhead_per_run_s"), loop.get("wall_per_run_s"),
            baseline_name="a run's wall time in the loop", note=note),
    ]
    pair = modes.get("pair")
    if pair:
        out.append(row("sweep wall time, 2 Dask workers vs 2 plain processes", "s", two.get("wall_s"),
                       pair.get("wall_s"), baseline_name="the same runs on two processes without Dask",
                       note=f"{note}; Dask's cost with two workers busy (the ratio)"))
    ceil = res.get("ceiling")
    if ceil:
        e1 = res.get("efficiency_2_workers_vs_1_worker")
        cpu = res.get("cpu_efficiency_2_workers_vs_1_worker")
        out.append(row(
            "sweep parallel efficiency, 2 workers vs 1, against the machine's", "%",
            100 * e1 if e1 is not None else None, 100 * ceil["efficiency_wall"], better="higher",
            baseline_name="raw PyBullet stepping of the same world, two processes at once vs one alone",
            note="; ".join(x for x in (
                note, f"by CPU time per run/step: sweep {100 * cpu:.0f} %, machine {100 * ceil['efficiency_cpu']:.0f} %"
                if cpu is not None else "", f"ceiling {ceil['repeats']} x {ceil['steps']} steps per process",
                f"load average {ceil['alone']['load_before']} before") if x)))
    return out


def rows(slow: bool = False) -> list:
    """40 pick-place runs with ``slow``; else 4 runs of one object each (and a shorter ceiling)."""
    import contextlib
    import io

    argv = ["--n", "40"] if slow else ["--n", "4", "--set", "params.n_objects=1", "--ceiling-repeats", "4"]
    with contextlib.redirect_stdout(io.StringIO()):
        res = main([*argv, "--json"])
    return rows_from_result(res)


if __name__ == "__main__":
    main()
