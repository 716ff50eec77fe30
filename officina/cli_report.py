"""`officina report DIR`: one self-contained report.html of a run, a sweep or an exo design study."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from officina.cli import handle_errors

#: The top-level command of this module; officina/cli.py adds it to `officina`.
app = typer.Typer()

REPORT_HELP = """Write report.html: a run, a sweep or an exo design study, for people.

One self-contained HTML file (images and video embedded, no network): what
ran (task, robot, seed, versions, the configuration), the metrics with their
units and meaning, events on a timeline, safety events, the plots, the video,
compare results; for a sweep, the summary with intervals and a sortable table
of every run, linked to each run's own report (written too).

Examples:

```
officina report runs/pick-place-20261126-071500
officina report runs/sweep-pick-place-20261126-080000
officina report runs/exo-sweep-20261126-090000 --out study.html
```
"""


@app.command("report", help=REPORT_HELP)
@handle_errors
def report_cmd(
    folder: Path = typer.Argument(..., help="A run folder, a sweep folder or an `officina exo sweep` folder."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The HTML file (default: FOLDER/report.html)."),
    no_runs: bool = typer.Option(False, "--no-runs", help="For a sweep: do not (re)write each run's report."),
    as_json: bool = typer.Option(False, "--json", help="Print {\"report\": PATH, \"kind\": ...} as JSON."),
) -> None:
    from officina.report import folder_kind, write_report

    path = write_report(folder, out, runs=not no_runs)
    if as_json:
        typer.echo(json.dumps({"report": str(path), "kind": folder_kind(folder)}))
    else:
        typer.echo(f"wrote {path}")
