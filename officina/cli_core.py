"""Core subcommands: `officina run`, `officina robots`, `officina tasks`."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from officina.cli import handle_errors

#: The top-level commands of this module; officina/cli.py adds them to `officina`.
app = typer.Typer()

def _fmt(value, unit: str) -> str:
    if isinstance(value, bool):
        return "[green]yes[/green]" if value else "[red]no[/red]"
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:.3f}".rstrip("0").rstrip(".")
    elif isinstance(value, (list, tuple)):
        text = ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value)
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def summary_rows(task, m: dict) -> list[tuple[str, str]]:
    """The run summary: the task's key metrics (with their units), then the loop's own figures."""
    from officina.tasks.base import key_metrics, metric_info, metric_label

    rows = []
    for name in key_metrics(task):
        if name in m and name != "cycle_time_s":
            rows.append((metric_label(task, name), _fmt(m[name], metric_info(task, name).unit)))
    rows.append(("cycle time", f"{m['cycle_time_s']:.2f} s (sim)"))
    rows.append(("real-time factor", f"{m['real_time_factor']:.1f}x ({m['wall_time_s']:.1f} s wall)"))
    rows.append(("max joint tracking error", f"{m['max_joint_tracking_error_rad']:.2e} rad"))
    rows.append(("max tcp speed", f"{m['max_tcp_speed_m_s']:.3f} m/s"))
    if m.get("safety_events_total"):
        rows.append(("safety events", f"{m['safety_events_total']} (see safety.log)"))
    return rows


RUN_HELP = """Run a lab task in PyBullet (headless unless --gui) and write a run folder.

The run folder (default runs/TASK-TIMESTAMP/) holds config.yaml (the fully resolved
configuration), state.mcap (ROS 2 JointState and PoseArray messages, opens in Foxglove and
`ros2 bag`), joint_positions.png, tracking_error.png, events.json, video.mp4 with --video,
and metrics.json, written last.

Examples:

```
officina run pick-place
officina run pick-place --robot ur5e --seed 3 --set params.n_objects=4
officina run pick-place --robot path/to/my_arm.yaml
# a task of your own (see docs/tasks.md):
officina run labs/my_task.py:MyTask
# reproduce a run:
officina run --config runs/pick-place-20261126-071500/config.yaml
```

`officina tasks TASK` lists the keys --set params.NAME takes for a task, with
defaults and ranges; a run's config.yaml shows every key of a run (sim, log, safety).

Exit codes: 0 the task succeeded, 1 it ran but failed, 2 bad input.
"""


@app.command("run", help=RUN_HELP, no_args_is_help=False)
@handle_errors
def run_cmd(
    task: Optional[str] = typer.Argument(
        None, help="Task name (see `officina tasks`) or path/to/module.py:ClassName; optional with --config."),
    robot: Optional[str] = typer.Option(None, "--robot", "-r", help="Robot: a name from `officina robots` (panda, iiwa, ur5e, ur10e, irb2600) or a robot YAML file."),
    seed: Optional[int] = typer.Option(None, "--seed", "-s", help="Seed of the run's random Generator (default 0)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Run folder (new or empty); default runs/TASK-TIMESTAMP."),
    video: bool = typer.Option(False, "--video", help="Also record video.mp4 (slower)."),
    gui: bool = typer.Option(False, "--gui", help="Open the PyBullet GUI (needs a display); paces in real time."),
    realtime: bool = typer.Option(False, "--realtime", help="Pace the simulation at wall-clock speed."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="A YAML config file (e.g. a run folder's config.yaml)."),
    set_: List[str] = typer.Option([], "--set", help="Override a config key by dotted path, e.g. --set params.n_objects=4 (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json to stdout instead of the summary."),
) -> None:
    from officina.runner import execute_run, resolve_config

    cfg = resolve_config(task, config_file=config, robot=robot, seed=seed, video=video, gui=gui,
                         realtime=realtime, overrides=set_)
    res = execute_run(cfg, out, progress=not as_json, background_plots=True)
    m = res.metrics
    if as_json:
        typer.echo(json.dumps({**m, "run_dir": str(res.run_dir)}, indent=2, sort_keys=True))
    else:
        from officina.cli import rich_console
        from rich.table import Table

        from officina.tasks import get_task

        t = Table(title=f"{m['task']} on {m['robot']} (seed {cfg.seed})", show_header=False)
        for label, value in summary_rows(get_task(cfg.task), m):
            t.add_row(label, value)
        rich_console().print(t)
        typer.echo(f"run folder: {res.run_dir}")
    if not m["success"]:
        raise typer.Exit(1)


ROBOTS_HELP = """List the built-in robots: name, DoF, gripper, model source.

A robot of your own is a YAML file, accepted wherever a robot name is (see the README).

Examples:

```
officina robots
officina robots --json
```
"""


@app.command("robots", help=ROBOTS_HELP)
@handle_errors
def robots_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    from officina.robots import builtin_robots, load_robot

    rows = []
    for name in builtin_robots():
        s = load_robot(name)
        rows.append({
            "name": s.name, "dof": s.dof,
            "gripper": (s.gripper.kind if s.gripper else "none"),
            "model_source": s.model_source, "description": s.description,
        })
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from officina.cli import rich_console
    from rich.table import Table

    t = Table(title="robots (add your own: --robot path/to/arm.yaml, see README)")
    for c in ("name", "dof", "gripper", "model source"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["name"], str(r["dof"]), r["gripper"], r["model_source"])
    rich_console().print(t)


TASKS_HELP = """List the registered tasks with a one-line description; with a TASK, its
parameters: what `--set params.NAME=VALUE` takes (units in the names: _m, _deg,
_kg, _n, _s), the default and the allowed range.

Examples:

```
officina tasks
officina tasks pick-place
officina tasks labs/my_task.py:MyTask --json
```
"""


def task_param_rows(model: type, prefix: str = "params.") -> list[dict]:
    """One row per parameter of a task's Params model (nested models flattened to dotted keys):
    key, default, allowed values or range, description."""
    import typing

    from pydantic import BaseModel

    rows = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(task_param_rows(ann, f"{prefix}{name}."))
            continue
        default = f.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        elif isinstance(default, tuple):
            default = list(default)
        allowed = []
        for m in f.metadata:
            for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >="),
                             ("max_length", "length <=")):
                if getattr(m, attr, None) is not None:
                    allowed.append(f"{op} {getattr(m, attr)}")
        each = typing.get_origin(ann) in (list, tuple)
        for lit in [ann] + list(typing.get_args(ann)):
            if typing.get_origin(lit) is typing.Literal:
                values = ", ".join(str(v) for v in typing.get_args(lit))
                allowed.append(f"{'each ' if each else ''}one of {values}")
        rows.append({"key": prefix + name, "default": default, "allowed": ", ".join(allowed),
                     "description": f.description or ""})
    return rows


@app.command("tasks", help=TASKS_HELP)
@handle_errors
def tasks_cmd(
    task: Optional[str] = typer.Argument(None, metavar="[TASK]",
                                         help="A task name or path/to/module.py:ClassName: list its parameters."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from officina.tasks import get_task, task_names

    if task is not None:
        t = get_task(task)
        params = task_param_rows(t.Params)
        if as_json:
            typer.echo(json.dumps({"name": t.name, "description": t.description, "params": params}, indent=2))
            return
        from officina.cli import rich_console
        from rich.table import Table

        cols = ["key", "default", "allowed"] + (["description"] if any(r["description"] for r in params) else [])
        table = Table(title=f"{t.name}: parameters (--set KEY=VALUE)", title_justify="left")
        for col in cols:
            table.add_column(col, no_wrap=col == "key", overflow="fold")
        for r in params:
            table.add_row(*[json.dumps(r[c]) if c == "default" else r[c] for c in cols])
        console = rich_console()
        console.print(t.description, highlight=False)
        console.print(table)
        return
    rows = [{"name": n, "description": get_task(n).description} for n in task_names()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['name']:<16} {r['description']}")


SWEEP_HELP = """Run a task over many seeds and a parameter grid, in parallel through Dask.

Each run is an ordinary run folder inside the sweep folder (default
runs/sweep-TASK-TIMESTAMP/). results.csv (and results.parquet with pyarrow)
gets one row per run as runs finish: grid values, seed, every metric, status
(ok, or failed with the reason), so a sweep that is stopped keeps what it did.
At the end, sweep.json and sweep.png: per grid point the success rate (Wilson
95 % interval) and the mean of the task's key metrics (t 95 % interval).

Run the same command again with the same --out (or `--resume DIR`) to finish
a stopped sweep: finished runs are skipped, failed ones are rerun only with
--retry-failed. A folder that holds a different sweep is refused.

Runs on a LocalCluster with one worker process per core, or on an existing
Dask scheduler (--scheduler tcp://host:8786; see docs/sweeps.md for SLURM).

Examples:

```
officina sweep pick-place --seeds 0-9
officina sweep pick-place --seeds 0-4 --grid robot=panda,iiwa,ur5e \\
    --grid params.n_objects=1,3 --out runs/sw1
officina sweep --resume runs/sw1 --retry-failed
officina sweep labs/my_task.py:MyTask --scheduler tcp://host:8786
```

Exit codes: 0 every run succeeded, 1 some run failed or did not succeed,
2 bad input.
"""


@app.command("sweep", help=SWEEP_HELP, no_args_is_help=True)
@handle_errors
def sweep_cmd(
    ctx: typer.Context,
    task: Optional[str] = typer.Argument(
        None, help="Task name (see `officina tasks`) or path/to/module.py:Class; not with --resume."),
    seeds: str = typer.Option("0-4", "--seeds", help="Seeds: 0-9, 1,5,7 or 0-3,10."),
    grid: List[str] = typer.Option([], "--grid", help="A grid axis KEY=V1,V2,... by dotted config key (repeatable)."),
    robot: Optional[str] = typer.Option(None, "--robot", "-r", help="Robot name or YAML file (or put robot in --grid)."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="A YAML config file as base."),
    set_: List[str] = typer.Option([], "--set", help="Override a config key for every run (repeatable)."),
    out: Optional[str] = typer.Option(
        None, "--out", "-o", help="Sweep folder: new, empty, or this same sweep's folder (resumes it)."),
    resume: Optional[str] = typer.Option(
        None, "--resume", help="Finish the sweep in this folder, with the plan in its sweep.yaml."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Rerun the runs that failed (resuming)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Local worker processes (default: one per core)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler."),
    as_json: bool = typer.Option(False, "--json", help="Print sweep.json to stdout instead of the summary."),
) -> None:
    from officina.errors import BadInput
    from officina.sweep import connect, create_sweep_dir, load_sweep, parse_grid, parse_seeds, prepare_sweep, run_sweep

    if scheduler is not None and workers is not None:
        raise BadInput("--workers starts local worker processes; with --scheduler the scheduler's workers run")
    plan = None
    if resume is not None:
        def given(name: str) -> bool:
            src = ctx.get_parameter_source(name)
            return src is not None and src.name != "DEFAULT"

        extra = [f"--{n.rstrip('_').replace('_', '-')}" if n != "task" else "TASK" for n in
                 ("task", "seeds", "grid", "robot", "config", "set_", "out") if given(n)]
        if extra:
            raise BadInput(f"--resume takes the sweep's plan from its sweep.yaml; drop {', '.join(extra)}")
        sweep_dir, points = load_sweep(resume)
    else:
        if task is None:
            raise BadInput("no task given; expected `officina sweep TASK ...` or `officina sweep --resume DIR`")
        plan = prepare_sweep(task, seeds=parse_seeds(seeds), grid=parse_grid(grid), robot=robot,
                             config_file=config, overrides=set_, out=out)
        points = plan.points
    client = connect(scheduler) if scheduler is not None else None  # before any folder is made
    try:
        if plan is not None:
            sweep_dir = create_sweep_dir(plan)
        res = run_sweep(points, sweep_dir, client=client, workers=workers, retry_failed=retry_failed)
    finally:
        if client is not None:
            client.close()
    if res.interrupted:
        raise typer.Exit(130)
    if as_json:
        typer.echo((sweep_dir / "sweep.json").read_text())
    else:
        from officina.cli import rich_console

        from officina.tasks import get_task

        rich_console().print(sweep_table(get_task(points[0].config["task"]), res.summary))
        typer.echo(f"sweep folder: {sweep_dir} (results.csv, sweep.json, sweep.png; "
                   f"`officina report {sweep_dir}` for a report)")
    if not all(r["success"] for r in res.rows):
        raise typer.Exit(1)


def sweep_table(tdef, summary: list[dict]):
    """The per-point summary as a rich table: runs, failed, success with its Wilson interval, and
    the mean of each key metric with the half-width of its t interval."""
    from rich.table import Table

    from officina.tasks.base import key_metrics, metric_info, metric_label

    shown = [k for k in key_metrics(tdef) if k != "success"]
    runs = sum(s["runs"] for s in summary)
    t = Table(title=f"sweep of {tdef.name}: {runs} runs (mean +- 95 % interval over seeds)")
    for c in ["grid point", "runs", "failed", "success"] + [
            metric_label(tdef, k) + (f" [{metric_info(tdef, k).unit}]" if metric_info(tdef, k).unit else "")
            for k in shown]:
        # folded over lines, never cut: a grid point to a prefix other rows share, a number or an
        # interval to its first digits
        t.add_column(c, justify="left" if c == "grid point" else "right", overflow="fold")
    for s in summary:
        sc = s["success"]
        succ = f"{sc['value'] * 100:.0f} %" if sc["value"] is not None else "-"
        if sc["low"] is not None:
            succ += f" [{sc['low'] * 100:.0f}-{sc['high'] * 100:.0f}]"
        cells = []
        for k in shown:
            m = s["metrics"].get(k) or {}
            if m.get("value") is None:
                cells.append("-")
            elif m.get("low") is not None:
                cells.append(f"{m['value']:.4g} +- {(m['high'] - m['low']) / 2:.2g}")
            else:
                cells.append(f"{m['value']:.4g}")
        t.add_row(s["point"], str(s["runs"]), str(s["failed"]), succ, *cells)
    return t
