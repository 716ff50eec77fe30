"""`officina regress`: tasks over fixed seeds against their committed baselines."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import List, Optional

import typer

from officina.cli import handle_errors

app = typer.Typer()

REGRESS_HELP = """Run tasks over fixed seeds and fail when one got worse than its baseline.

Each baseline (one YAML file per task and robot in `baselines/`) holds the seeds, the overrides
and what the code achieved on each seed. A seed that succeeded there and fails now, or a
compared metric whose mean is worse by more than the baseline's tolerance, is a regression:
the table says which, and the command exits 1. The runs go through Dask like a sweep.

Examples:

```
officina regress
officina regress --tasks pick-place --robots panda --seeds 0
# write a baseline on purpose, from what the code achieves now:
officina regress --update --tasks pick-place --robots panda --seeds 0-2
```

Exit codes: 0 nothing regressed, 1 a regression or a run that crashed, 2 bad input.
"""


def _split(values: List[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@app.command("regress", help=REGRESS_HELP)
@handle_errors
def regress_cmd(
    tasks: List[str] = typer.Option([], "--tasks", help="Tasks to run (comma-separated or repeated); default all."),
    robots: List[str] = typer.Option([], "--robots", help="Robots to run; default all with a baseline."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Seeds, e.g. 0-2 (default: the baseline's)."),
    baselines: str = typer.Option("baselines", "--baselines", help="Folder of the baseline files."),
    update: bool = typer.Option(False, "--update", help="Write the baselines from these runs instead of checking."),
    set_: List[str] = typer.Option([], "--set", help="With --update: a config override of every run."),
    tolerance: float = typer.Option(0.10, "--tolerance", min=0.0, max=0.99,
                                    help="With --update: the relative tolerance the baseline allows."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Folder of the runs (default runs/regress-TIME)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Local worker processes."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    from officina.errors import BadInput
    from officina.regress import baseline_from_rows, evaluate, load_baselines, write_baseline
    from officina.runs import new_run_dir, write_json_atomic
    from officina.sweep import connect, create_sweep_dir, parse_seeds, prepare_sweep, run_sweep

    task_list, robot_list = _split(tasks), _split(robots)
    seed_list = parse_seeds(seeds) if seeds is not None else None
    from officina.robots import load_robot
    from officina.tasks import get_task

    for t in task_list:
        get_task(t)  # an unknown task is that, not a missing baseline
    for r in robot_list:
        load_robot(r)
    if update:
        if not task_list or not robot_list:
            raise BadInput("--update needs --tasks and --robots (the baselines to write)")
        jobs = [(t, r, seed_list or [0, 1, 2], list(set_), None) for t in task_list for r in robot_list]
    else:
        if set_:
            raise BadInput("--set goes with --update; a check runs what the baseline says")
        found = load_baselines(baselines, task_list or None, robot_list or None)
        if not found:
            raise BadInput(f"no baseline in {baselines} for tasks {task_list or 'any'} and robots "
                           f"{robot_list or 'any'}; write one with --update")
        for b in found:
            extra = sorted(set(seed_list or []) - set(b.measured))
            if extra:
                raise BadInput(f"baseline {b.key}: no measured values for seed {extra[0]}; expected seeds "
                               f"{b.seeds} (or write the baseline again with --update)")
        jobs = [(b.task, b.robot, seed_list or b.seeds, b.overrides, b) for b in found]
    # every job's plan is resolved before any folder is made: bad input fails at once, leaving nothing
    prepared = [(task, robot, sds, overrides, b, prepare_sweep(task, seeds=sds, grid={}, robot=robot,
                                                                overrides=overrides))
                for task, robot, sds, overrides, b in jobs]
    root = new_run_dir("regress", out)
    plans = []
    for task, robot, sds, overrides, b, plan in prepared:
        key = f"{Path(task).stem if ':' in task else task}-{Path(robot).stem}"
        folder = create_sweep_dir(dataclasses.replace(plan, folder=root / key))
        plans.append((task, robot, sds, overrides, b, folder, plan.points))
    client = connect(scheduler) if scheduler else None
    results = []
    try:
        for task, robot, sds, overrides, b, folder, points in plans:
            outcome = run_sweep(points, folder, client=client, workers=workers, progress=not as_json)
            rows = {r["seed"]: r for r in outcome.rows}
            if update:
                nb = baseline_from_rows(task, robot, sds, overrides, tolerance, rows)
                path = write_baseline(baselines, nb)
                results.append({"task": task, "robot": robot, "seeds": sds, "written": str(path),
                                "success_rate": sum(r["success"] for r in rows.values()) / len(rows)})
            else:
                v = evaluate(b, rows)
                results.append({
                    "task": task, "robot": robot, "seeds": v.seeds, "ok": v.ok,
                    "success_rate": v.success_rate, "baseline_success_rate": v.baseline_success_rate,
                    "checks": [c.__dict__ for c in v.checks], "failures": v.failures, "errors": v.errors,
                    "runs": str(folder),
                })
    finally:
        if client is not None:
            client.close()
    write_json_atomic(root / "regress.json", {"update": update, "results": results})
    if as_json:
        typer.echo(json.dumps({"folder": str(root), "results": results}, indent=2))
    else:
        _print(results, update, root)
    if not update and not all(r["ok"] for r in results):
        raise typer.Exit(1)


def _print(results: list[dict], update: bool, root: Path) -> None:
    """The verdicts as tables that keep every name whole down to 80 columns (a terminal that
    narrow, or COLUMNS=80): one table per baseline under a heading, instead of one table whose
    task, robot and seeds columns left the metric names a few characters; a cell too long for its
    column folds onto the next line instead of being cut."""
    from officina.cli import rich_console
    from rich.markup import escape
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    console = rich_console()

    def table(title: str, columns: tuple[str, ...]) -> Table:
        t = Table(title=title, title_justify="left")
        for c in columns:
            t.add_column(c, overflow="fold")
        return t

    if update:
        t = table("regression baselines written", ("task", "robot", "seeds", "success", "file"))
        folders = []
        for r in results:
            written = Path(r["written"])
            if written.parent not in folders:
                folders.append(written.parent)
            t.add_row(r["task"], r["robot"], ",".join(map(str, r["seeds"])), f"{r['success_rate']:.0%}", written.name)
        console.print(t)
        for folder in folders:
            typer.echo(f"baselines in: {folder}")
        typer.echo(f"runs: {root}")
        return
    for r in results:
        seeds = ",".join(map(str, r["seeds"]))
        verdict = "[green]ok[/green]" if r["ok"] else "[red]REGRESSED[/red]"
        t = table(f"{escape(r['task'])} on {escape(r['robot'])}, seeds {seeds}: {verdict}",
                  ("metric", "now", "limit", "baseline", "verdict"))
        lost = any("succeeded in the baseline" in f for f in r["failures"])
        t.add_row("success rate", f"{r['success_rate']:.0%}", "no seed lost", f"{r['baseline_success_rate']:.0%}",
                  "[red]WORSE[/red]" if lost else "[green]ok[/green]")
        for c in r["checks"]:
            t.add_row(c["metric"], f"{c['measured']:.4g}",
                      f"{'<=' if c['better'] == 'lower' else '>='} {c['limit']:.4g}", f"{c['baseline']:.4g}",
                      "[green]ok[/green]" if c["ok"] else "[red]WORSE[/red]")
        # what regressed besides the rows above (a metric with no value now where the baseline had one)
        shown = {c["metric"] for c in r["checks"]}
        for f in r["failures"]:
            if "succeeded in the baseline" not in f and f.split(" ", 1)[0] not in shown:
                t.add_row(escape(f.split(" ", 1)[0]), "none", "", "", "[red]WORSE[/red]")
        console.print(t)
        # the reasons in words, and the runs that crashed, below the table: a sentence wraps at
        # the log's width without squeezing the columns
        for what, texts in (("regressed", r["failures"]), ("crashed", r["errors"])):
            for x in texts:
                console.print(Padding(Text.from_markup(f"[red]{what}:[/red] {escape(x)}"), (0, 0, 0, 2)))
    typer.echo(f"runs: {root}")
