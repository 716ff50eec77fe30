"""Many runs: seeds x parameter grid, through Dask distributed.

A LocalCluster (one single-threaded worker process per core) by default, or the address of an
existing scheduler (``--scheduler tcp://host:8786``, e.g. one started by dask-jobqueue on SLURM).
Every run is an ordinary run folder under the sweep folder; ``sweep.json`` (written last,
atomically) lists them with their metrics, and ``sweep.png`` plots success and cycle time.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from officina.errors import BadInput
from officina.runs import new_run_dir, write_json_atomic

__all__ = ["SweepPoint", "parse_seeds", "parse_grid", "plan_sweep", "run_sweep"]


@dataclass(frozen=True)
class SweepPoint:
    name: str
    seed: int
    grid: dict[str, Any]  # dotted key -> value of this point
    config: dict[str, Any]  # the fully resolved run configuration


def parse_seeds(text: str) -> list[int]:
    """'0-9', '1,5,7' or '0-3,10' -> sorted unique seeds."""
    seeds: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                seeds.update(range(lo, hi + 1))
            elif part:
                seeds.add(int(part))
    except ValueError:
        raise BadInput(f"--seeds {text!r}: expected seeds like 0-9 or 1,5,7") from None
    if not seeds or min(seeds) < 0:
        raise BadInput(f"--seeds {text!r}: expected at least one seed >= 0")
    return sorted(seeds)


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """['params.n_objects=1,3', 'robot=panda,ur5e'] -> {key: [values]} (values parsed as YAML)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise BadInput(f"--grid {item!r}: expected KEY=V1,V2,... e.g. params.n_objects=1,3")
        key, raw = item.split("=", 1)
        values = [yaml.safe_load(v) for v in raw.split(",") if v.strip()]
        if not key.strip() or not values:
            raise BadInput(f"--grid {item!r}: expected KEY=V1,V2,... with at least one value")
        grid[key.strip()] = values
    return grid


def plan_sweep(task: str, *, seeds: list[int], grid: dict[str, list[Any]], robot: str | None,
               config_file: str | None, overrides: list[str]) -> list[SweepPoint]:
    """Resolve every point's configuration now, so bad input fails before anything starts."""
    from officina.runner import resolve_config

    keys = list(grid)
    points = []
    for combo in itertools.product(*(grid[k] for k in keys)) if keys else [()]:
        g = dict(zip(keys, combo))
        g_over = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in g.items()]
        for seed in seeds:
            cfg = resolve_config(task, config_file=config_file, robot=robot, seed=seed,
                                 overrides=list(overrides) + g_over)
            tag = "-".join(f"{k.split('.')[-1]}{v}" for k, v in g.items())
            name = f"{tag + '-' if tag else ''}seed{seed}"
            points.append(SweepPoint(name, seed, g, cfg.model_dump(mode="json")))
    return points


def _run_point(config: dict[str, Any], out_dir: str) -> dict[str, Any]:
    """One run in a worker process (top-level: picklable)."""
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    from officina.config import RunConfig
    from officina.errors import JobFailed
    from officina.runner import execute_run

    cfg = RunConfig.model_validate(config)
    try:
        res = execute_run(cfg, out_dir)
        return {"ok": True, "metrics": res.metrics, "run_dir": str(res.run_dir)}
    except JobFailed as exc:
        return {"ok": False, "error": str(exc), "run_dir": out_dir}


def _plot(path: Path, rows: list[dict[str, Any]], grid_keys: list[str], metrics: list[str], units: list[str]) -> None:
    """Success rate and the task's key metrics per grid point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({r["point"] for r in rows})
    succ = [sum(1 for r in rows if r["point"] == lb and r["success"]) / sum(1 for r in rows if r["point"] == lb)
            for lb in labels]
    fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(4.5 * (1 + len(metrics)), 3.6), squeeze=False)
    axes = axes[0]
    axes[0].bar(range(len(labels)), [100 * x for x in succ], color="C2")
    axes[0].set_ylim(0, 105)
    axes[0].set_ylabel("success [%]")
    axes[0].set_xticks(range(len(labels)))
    axes[0].set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    for ax, name, unit in zip(axes[1:], metrics, units):
        vals = [[r["metrics"][name] for r in rows if r["point"] == lb and isinstance(r["metrics"].get(name), (int, float))]
                for lb in labels]
        ax.boxplot([v if v else [float("nan")] for v in vals])
        ax.set_xticks(range(1, len(labels) + 1))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"{name} [{unit}]" if unit else name)
    for a in axes:
        a.grid(alpha=0.3, axis="y")
    fig.suptitle(f"sweep over seeds{' x ' + ', '.join(grid_keys) if grid_keys else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics a table can show: numbers, booleans and short strings (not the nested ones)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, bool, str)) or v is None}


def run_sweep(points: list[SweepPoint], out: str | Path | None, *, task: str, scheduler: str | None = None,
              workers: int | None = None, progress: bool = True) -> tuple[Path, list[dict[str, Any]]]:
    """Run every point on Dask; returns the sweep folder and one row per run."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ModuleNotFoundError:
        raise BadInput("officina sweep needs Dask: install the 'dist' extra (pip install 'officina[dist]')") from None
    sweep_dir = new_run_dir(f"sweep-{task}", out)
    (sweep_dir / "sweep.yaml").write_text(yaml.safe_dump(
        {"task": task, "points": [{"name": p.name, "seed": p.seed, "grid": p.grid} for p in points]}, sort_keys=False))
    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        import os

        n = workers or max(1, min(len(points), os.cpu_count() or 1))
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    rows: list[dict[str, Any]] = []
    prog = None
    try:
        futures = {client.submit(_run_point, p.config, str(sweep_dir / p.name), pure=False): p for p in points}
        if progress:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            console = Console(stderr=True)
            if console.is_terminal:
                prog = Progress("[bold]sweep", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=console, transient=True)
                tid = prog.add_task("runs", total=len(points))
                prog.start()
        for fut in as_completed(futures):
            p = futures[fut]
            r = fut.result()
            m = r.get("metrics", {})
            rows.append({
                "name": p.name, "seed": p.seed, "grid": p.grid,
                "point": ", ".join(f"{k.split('.')[-1]}={v}" for k, v in p.grid.items()) or "all",
                "success": bool(m.get("success", False)), "error": r.get("error"),
                "metrics": scalar_metrics(m), "run_dir": r["run_dir"],
            })
            if prog is not None:
                prog.advance(tid)
    finally:
        if prog is not None:
            prog.stop()
        client.close()
        if cluster is not None:
            cluster.close()
    rows.sort(key=lambda r: (r["point"], r["seed"]))
    from officina.tasks import get_task
    from officina.tasks.base import key_metrics, metric_info

    t = get_task(points[0].config["task"]) if points else None
    shown = [k for k in key_metrics(t) if k != "success"][:3] if t is not None else []
    _plot(sweep_dir / "sweep.png", rows, list(points[0].grid) if points else [], shown,
          [metric_info(t, k).unit for k in shown])
    write_json_atomic(sweep_dir / "sweep.json", {"task": task, "runs": rows,
                                                 "success_rate": sum(r["success"] for r in rows) / max(1, len(rows))})
    return sweep_dir, rows
