"""`officina ergo ...` and `officina exo ...`: lifting ergonomics and exoskeletons.

Heavy imports (pinocchio, matplotlib) stay inside the commands so `officina --version` is fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer

from officina.cli import app, handle_errors

ergo_app = typer.Typer(
    help=(
        "Lifting ergonomics: the Revised NIOSH Lifting Equation.\n\n"
        "Example: officina ergo niosh --load 12 --h 40 --v 20 --v-dest 100 --h-dest 35 "
        "--a 0 --freq 2 --duration moderate --coupling fair"
    ),
    no_args_is_help=True,
)
exo_app = typer.Typer(
    help=(
        "Exoskeletons and lower-back loads: L5/S1 moment and compression during a lift, with and "
        "without a back-support exoskeleton (inverse dynamics of a de Leva human model).\n\n"
        "Example: officina exo lift --lift stoop --load-kg 10 --body-mass-kg 75 --stature-m 1.75 --exo spexor"
    ),
    no_args_is_help=True,
)
app.add_typer(ergo_app, name="ergo")
app.add_typer(exo_app, name="exo")


def _fmt(x: float | None, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "inf"
    return f"{x:.{nd}f}"


@ergo_app.command("niosh")
@handle_errors
def niosh_cmd(
    load: float = typer.Option(..., "--load", help="Object weight L: kg (metric) or lb (--units us)."),
    h: float = typer.Option(..., "--h", help="Horizontal location of the hands at the origin, from the mid-point between the ankles: cm (metric) or in (us)."),
    v: float = typer.Option(..., "--v", help="Vertical location of the hands above the floor at the origin: cm or in."),
    a: float = typer.Option(..., "--a", help="Asymmetry angle at the origin, degrees (0 = in front)."),
    freq: float = typer.Option(..., "--freq", help="Lifting frequency, lifts per minute (0.2 to 15; below 0.2 counts as 0.2)."),
    duration: str = typer.Option(..., "--duration", help="Work duration: short (<= 1 h), moderate (1-2 h), long (2-8 h)."),
    coupling: str = typer.Option(..., "--coupling", help="Hand-to-object coupling: good, fair or poor (manual, Table 6)."),
    h_dest: Optional[float] = typer.Option(None, "--h-dest", help="Horizontal location at the destination (gives a destination RWL/LI)."),
    v_dest: Optional[float] = typer.Option(None, "--v-dest", help="Vertical location at the destination."),
    a_dest: Optional[float] = typer.Option(None, "--a-dest", help="Asymmetry angle at the destination, degrees (default: --a)."),
    d: Optional[float] = typer.Option(None, "--d", help="Vertical travel distance D (default |V_dest - V|)."),
    units: str = typer.Option("metric", "--units", help="metric (cm, kg, LC = 23 kg) or us (in, lb, LC = 51 lb): the manual's two constant sets."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Recommended Weight Limit (RWL) and Lifting Index (LI) of one lift (Waters et al. 1994).

    LI > 1 means the load exceeds the RWL; the job is judged by task_li, the larger of the origin
    and destination LI. Values outside the equation's range (H > 63 cm, V > 175 cm, D > 175 cm,
    A > 135 deg, F above Table 5) give a zero multiplier and a warning.

    \b
    Examples:
      officina ergo niosh --load 12 --h 40 --v 20 --a 0 --freq 2 --duration moderate --coupling fair --d 60
      officina ergo niosh --units us --load 30 --h 12 --v 10 --h-dest 14 --v-dest 40 --a 0 --freq 1 --duration short --coupling good --json
    """
    from officina.exoskeleton.niosh import NioshTask, evaluate

    res = evaluate(
        NioshTask(
            load=load, h=h, v=v, a=a, freq=freq, duration=duration, coupling=coupling, d=d,
            h_dest=h_dest, v_dest=v_dest, a_dest=a_dest, units=units,
        )
    )
    out = res.as_dict()
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    mass_u = "kg" if out["units"] == "metric" else "lb"
    table = Table(title=f"Revised NIOSH Lifting Equation ({out['units']})")
    table.add_column("")
    ends = [("origin", out["origin"])] + ([("destination", out["destination"])] if "destination" in out else [])
    for name, _ in ends:
        table.add_column(name, justify="right")
    for key in ("LC", "HM", "VM", "DM", "AM", "FM", "CM"):
        table.add_row(key, *[_fmt(p["multipliers"][key], 3) for _, p in ends])
    table.add_row(f"RWL ({mass_u})", *[_fmt(p["rwl"]) for _, p in ends])
    table.add_row("LI", *[_fmt(p["li"]) for _, p in ends])
    console = Console()
    console.print(table)
    li = out["task_li"]
    verdict = "acceptable (LI <= 1)" if li is not None and li <= 1.0 else "above the RWL (LI > 1)"
    console.print(f"task LI = {_fmt(li)}: {verdict}")
    for w in out["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")
