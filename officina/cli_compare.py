"""`officina compare TASK`: the task's robot cell next to the worker who would do the job by hand.

The comparison is `officina.exoskeleton.comparison.compare_job`; this module resolves the task and
the robot run (a new run, or a run folder given with --run), asks the task for its manual job, and
prints and writes what the library returns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from officina.cli import handle_errors

app = typer.Typer()


COMPARE_HELP = """Robot versus worker on the same job, with and without exoskeletons.

Runs TASK on the robot (or reads a run folder with --run) and models the
person who would do the job by hand at the robot's rate (or --rate): the
Revised NIOSH Lifting Equation per lift, the composite lifting index and the
largest rate at LI <= 1; L5/S1 moment, compression and shear per lift (inverse
dynamics of a de Leva body); LiFFT cumulative low-back damage over the shift;
REBA at origin and destination; and the change of each figure with every back
exoskeleton asked for (default: laevo, spexor, plad, xotrunk).

Writes compare.json, compare.md and compare.png into the run folder (or --out).

Examples:

```
officina compare pick-place --robot ur5e
officina compare pick-place --run runs/pick-place-20261126-071500 --json
officina compare pick-place --rate 6 --shift-h 4 \\
    --body-mass-kg 62 --stature-m 1.65 --sex F --exo spexor --exo xotrunk
# measured joint angles instead of the modelled lift:
officina compare pick-place --motion-csv lift.csv
```

Exit codes: 0 compared, 1 the robot run crashed, 2 bad input.
"""

DEFAULT_EXOS = ("laevo", "spexor", "plad", "xotrunk")


def _sex(value: str) -> str:
    key = value.strip().lower()
    sexes = {"f": "female", "female": "female", "m": "male", "male": "male"}
    if key not in sexes:
        raise ValueError(f"--sex: expected F or M, got {value!r}")
    return sexes[key]


def _manual_job(task_name: str, params: dict):
    from officina.tasks import get_task

    task = get_task(task_name)
    hook = getattr(task, "manual_job", None)
    job = hook(task.Params.model_validate(params)) if hook is not None else None
    if job is None:
        raise ValueError(f"task {task_name!r} declares no manual job (TaskDefinition.manual_job); nothing to compare")
    return job


def _read_run(run: Path, task: str) -> tuple[dict, dict]:
    import yaml

    metrics_file, config_file = run / "metrics.json", run / "config.yaml"
    if not metrics_file.is_file() or not config_file.is_file():
        raise ValueError(f"--run {run}: expected a finished run folder with metrics.json and config.yaml")
    try:
        metrics = json.loads(metrics_file.read_text())
        config = yaml.safe_load(config_file.read_text())
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"--run {run}: unreadable metrics.json or config.yaml ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict) or config.get("task") != task:
        raise ValueError(f"--run {run}: that run is of task {config.get('task') if isinstance(config, dict) else None!r}, not {task!r}")
    return metrics, config.get("params", {})


def _motions(specs: list[str], job) -> dict:
    from officina.exoskeleton.worker import load_motion_csv

    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            if len(job.moves) != 1:
                raise ValueError(f"--motion-csv {spec}: this job has several moves; expected MOVE=FILE "
                                 f"with MOVE one of {', '.join(m.name for m in job.moves)}")
            name, path = job.moves[0].name, spec
        out[name] = load_motion_csv(path, job.move(name).load_kg)
    return out


@app.command("compare", help=COMPARE_HELP)
@handle_errors
def compare_cmd(
    task: str = typer.Argument(..., help="Task name (see `officina tasks`)."),
    robot: Optional[str] = typer.Option(None, "--robot", "-r", help="Robot name or robot YAML (a new run)."),
    seed: Optional[int] = typer.Option(None, "--seed", "-s", help="Seed of the robot run (default 0)."),
    set_: List[str] = typer.Option([], "--set", help="Config override of the run, e.g. params.n_objects=4."),
    rate: Optional[float] = typer.Option(None, "--rate", help="Worker's lifts per minute (default: the robot's rate)."),
    match_robot: bool = typer.Option(False, "--match-robot", help="Work at the robot's rate (the default)."),
    shift_h: float = typer.Option(8.0, "--shift-h", help="Shift length, h (RNLE duration class, LiFFT repetitions)."),
    body_mass_kg: float = typer.Option(75.0, "--body-mass-kg", help="Worker's body mass, kg."),
    stature_m: float = typer.Option(1.75, "--stature-m", help="Worker's stature, m."),
    sex: str = typer.Option("M", "--sex", help="F or M (de Leva's 1996 table)."),
    lift_style: str = typer.Option("stoop", "--lift-style", help="stoop or squat: how the worker reaches low."),
    exo: List[str] = typer.Option([], "--exo", help="Back exo to compare (repeatable): laevo, spexor, plad, "
                                  "xotrunk, passive, active, or none. Default: the four presets."),
    motion_csv: List[str] = typer.Option([], "--motion-csv", help="[MOVE=]FILE: measured joint angles replace "
                                         "the modelled lift (docs/exoskeleton.md gives the columns)."),
    run: Optional[Path] = typer.Option(None, "--run", help="Read this finished run folder instead of running."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for compare.* (default: the run folder)."),
    as_json: bool = typer.Option(False, "--json", help="Print compare.json to stdout."),
) -> None:
    from officina.exoskeleton.comparison import compare_job, to_markdown
    from officina.exoskeleton.plots import plot_compare
    from officina.exoskeleton.worker import Worker, duration_class, evaluate_job
    from officina.runs import atomic_write_text, make_out_dir, write_json_atomic

    if rate is not None and match_robot:
        raise ValueError("--rate and --match-robot: expected one of them, not both")
    if rate is not None and not rate > 0:
        raise ValueError(f"--rate: expected a positive number of lifts per minute, got {rate!r}")
    if run is not None and (robot is not None or seed is not None or set_):
        raise ValueError("--run: the run folder fixes the robot, seed and config; drop --robot, --seed and --set")
    duration_class(shift_h)
    worker = Worker(body_mass_kg, stature_m, _sex(sex), lift_style.strip().lower())
    exos = tuple(e.strip().lower() for e in exo) or DEFAULT_EXOS
    if run is not None:
        metrics, params = _read_run(run, task)
    else:
        from officina.runner import resolve_config

        cfg = resolve_config(task, robot=robot, seed=seed, overrides=set_)
        params = cfg.params
    job = _manual_job(task, params)
    motions = _motions(motion_csv, job)
    evaluate_job(job, worker, 1.0, shift_h, exos, motions)  # every input checked before the robot runs
    if out is not None:
        make_out_dir(out)
    if run is None:
        from officina.runner import execute_run

        res = execute_run(cfg, None if out is None else out / "run", progress=not as_json)
        run, metrics = res.run_dir, res.metrics
    report = compare_job(job, worker, robot_metrics=metrics, rate_per_min=rate, shift_h=shift_h, exos=exos,
                         motions=motions)
    report["run_dir"] = str(run)
    dest = run if out is None else out
    make_out_dir(dest)
    plot_compare(report, dest / "compare.png")
    atomic_write_text(dest / "compare.md", to_markdown(report))
    report["files"] = [str(dest / n) for n in ("compare.json", "compare.md", "compare.png")]
    write_json_atomic(dest / "compare.json", report)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from officina.cli import rich_console
    from rich.table import Table

    t = report["table"]
    table = Table(title=f"{task}: robot versus worker (peaks per lift)")
    table.add_column("", no_wrap=True)
    for c in t["columns"]:
        table.add_column(c, justify="right")
    for row in t["rows"]:  # the changes in % are in the lines below and in compare.md
        table.add_row(*[c.split(" (")[0] for c in row])
    console = rich_console()
    console.print(table)
    for line in report["actions"]:
        console.print(f"- {line}", highlight=False)
    console.print(f"wrote {', '.join(report['files'])}", highlight=False)
