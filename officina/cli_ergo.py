"""`officina ergo ...` and `officina exo ...`: lifting ergonomics and exoskeletons.

Heavy imports (pinocchio, matplotlib) stay inside the commands so `officina --version` is fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from officina.cli import handle_errors

ERGO_HELP = """Lifting ergonomics: the Revised NIOSH Lifting Equation.

Example:

```
officina ergo niosh --load 12 --h 40 --v 20 --v-dest 100 --h-dest 35 \\
    --a 0 --freq 2 --duration moderate --coupling fair
```
"""

ergo_app = typer.Typer(
    help=ERGO_HELP,
    no_args_is_help=True,
)

EXO_HELP = """Exoskeletons and lower-back loads: L5/S1 moment and compression during a lift,
with and without a back-support exoskeleton (inverse dynamics of a de Leva human model).

Example:

```
officina exo lift --lift stoop --load-kg 10 --body-mass-kg 75 \\
    --stature-m 1.75 --exo spexor
```
"""

exo_app = typer.Typer(
    help=EXO_HELP,
    no_args_is_help=True,
)


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
    freq: float = typer.Option(..., "--freq", help="Lifting frequency, lifts per minute, > 0 (Table 5 covers 0.2 to 15; below 0.2 counts as 0.2)."),
    duration: str = typer.Option(..., "--duration", help="Work duration: short (<= 1 h), moderate (1-2 h), long (2-8 h)."),
    coupling: str = typer.Option(..., "--coupling", help="Hand-to-object coupling: good, fair or poor (manual, Table 6)."),
    h_dest: float | None = typer.Option(None, "--h-dest", help="Horizontal location at the destination (gives a destination RWL/LI)."),
    v_dest: float | None = typer.Option(None, "--v-dest", help="Vertical location at the destination."),
    a_dest: float | None = typer.Option(None, "--a-dest", help="Asymmetry angle at the destination, degrees (default: --a)."),
    d: float | None = typer.Option(None, "--d", help="Vertical travel distance D (default |V_dest - V|)."),
    units: str = typer.Option("metric", "--units", help="metric (cm, kg, LC = 23 kg) or us (in, lb, LC = 51 lb): the manual's two constant sets."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Recommended Weight Limit (RWL) and Lifting Index (LI) of one lift (Waters et al. 1994).

    LI > 1 means the load exceeds the RWL; the job is judged by task_li, the larger of the origin
    and destination LI. Values outside the equation's range (H > 63 cm, V > 175 cm, D > 175 cm,
    A > 135 deg, F above Table 5) give a zero multiplier and a warning.

    Examples:

    ```
    officina ergo niosh --load 12 --h 40 --v 20 --a 0 --freq 2 \\
        --duration moderate --coupling fair --d 60
    officina ergo niosh --units us --load 30 --h 12 --v 10 --h-dest 14 \\
        --v-dest 40 --a 0 --freq 1 --duration short --coupling good --json
    ```
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
    from officina.cli import rich_console
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
    console = rich_console()
    console.print(table)
    li = out["task_li"]
    verdict = "acceptable (LI <= 1)" if li is not None and li <= 1.0 else "above the RWL (LI > 1)"
    console.print(f"task LI = {_fmt(li)}: {verdict}")
    for w in out["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")


def _human(body_mass_kg: float, stature_m: float, sex: str):
    from officina.exoskeleton.model import human_model

    return human_model(body_mass_kg, stature_m, sex)


@exo_app.command("lift")
@handle_errors
def exo_lift_cmd(
    lift: str = typer.Option(..., "--lift", help="Lift style: squat (knees bent, trunk up to 65 deg) or stoop (knees nearly straight, trunk up to 115 deg)."),
    load_kg: float = typer.Option(..., "--load-kg", help="Mass of the box held at the hands, kg."),
    body_mass_kg: float = typer.Option(..., "--body-mass-kg", help="Body mass of the worker, kg (30-250)."),
    stature_m: float = typer.Option(..., "--stature-m", help="Stature of the worker, m (1.2-2.3)."),
    sex: str = typer.Option("male", "--sex", help="male or female (selects de Leva's 1996 table)."),
    exo: str = typer.Option("none", "--exo", help="none, passive (generic spring), active (generic gravity-compensating motor) or a preset: laevo, spexor, plad, xotrunk."),
    start_height_m: float | None = typer.Option(None, "--start-height-m", help="Grip height at the start, m (default 0.20: a box on the floor)."),
    end_height: str = typer.Option("knuckle", "--end-height", help="'knuckle' (stand upright, arms hanging) or a grip height in m (e.g. 0.9 for a table)."),
    duration_s: float = typer.Option(1.5, "--duration-s", help="Duration of the lift, s (min-jerk time law; 0.25 s of standing before and after)."),
    motion_csv: Path | None = typer.Option(None, "--motion-csv", help="Use a recorded motion instead: CSV with t_s and JOINT_deg columns (JOINT: ankle, knee, hip, l5s1, shoulder, elbow)."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the plots: loads.png (moment, compression with the NIOSH 3400/6400 N limits) and stick.png."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """L5/S1 moment and compression during a lift, without and with an exoskeleton.

    Inverse dynamics (Pinocchio RNEA) of a de Leva (1996) human model scaled to the worker, the box
    at the hands; compression from a single equivalent extensor muscle with a 5 cm moment arm.
    Reductions are in percent (+ = the exo lowers the load).

    Examples:

    ```
    officina exo lift --lift stoop --load-kg 10 --body-mass-kg 75 \\
        --stature-m 1.75 --exo laevo
    officina exo lift --lift squat --load-kg 15 --body-mass-kg 62 \\
        --stature-m 1.65 --sex female --exo active --out runs/lift --json
    ```
    """
    from officina.exoskeleton.dynamics import compare, inverse_dynamics, summary
    from officina.exoskeleton.exo import ShoulderExo, exo_by_name
    from officina.exoskeleton.lifts import load_lift_csv, parametric_lift
    from officina.exoskeleton.plots import NIOSH_ACTION_LIMIT_N, NIOSH_MAX_PERMISSIBLE_LIMIT_N

    model = _human(body_mass_kg, stature_m, sex)
    device = exo_by_name(exo)
    if isinstance(device, ShoulderExo):
        raise ValueError(f"exo: {exo} is a shoulder exoskeleton; use `officina exo overhead --exo {exo}`")
    if motion_csv is not None:
        motion = load_lift_csv(motion_csv, load_kg)
    else:
        end: str | float = end_height
        if end_height.strip().lower() != "knuckle":
            try:
                end = float(end_height)
            except ValueError:
                raise ValueError(f"end height: expected 'knuckle' or a height in metres, got {end_height!r}") from None
        motion = parametric_lift(model, lift, load_kg, start_height_m=start_height_m, end_height=end, duration_s=duration_s)
    base = inverse_dynamics(model, motion)
    assisted = inverse_dynamics(model, motion, device) if device is not None else base
    cmp = compare(base, assisted)
    result = {
        "without": summary(base),
        "with": summary(assisted),
        "reduction_pct": {k: cmp["reduction_pct"][k] for k in ("peak_l5s1_moment", "peak_compression")},
        "exo": {"name": exo, "source": getattr(device, "source", ""), **cmp["exo"],
                "mean_l5s1_moment_reduction_pct": cmp["reduction_pct"]["mean_l5s1_moment"],
                "mean_compression_reduction_pct": cmp["reduction_pct"]["mean_compression"],
                "integrated_l5s1_moment_reduction_pct": cmp["reduction_pct"]["integrated_l5s1_moment"]},
        "niosh_compression_limits_n": {"action_limit": NIOSH_ACTION_LIMIT_N, "maximum_permissible_limit": NIOSH_MAX_PERMISSIBLE_LIMIT_N},
        "lift": {"name": motion.name, "duration_s": float(motion.t[-1]), "load_kg": load_kg,
                 "body_mass_kg": body_mass_kg, "stature_m": stature_m, "sex": model.anthro.sex},
    }
    if out is not None:
        from officina.exoskeleton.plots import plot_loads, plot_stick_strip

        from officina.runs import make_out_dir

        make_out_dir(out)
        title = f"{motion.name}, {body_mass_kg:g} kg / {stature_m:g} m {model.anthro.sex}"
        files = [
            plot_loads(base, assisted if device is not None else None, out / "loads.png", title=title, exo_name=exo),
            plot_stick_strip(model, motion.q, out / "stick.png", title=title, load_kg=load_kg),
        ]
        result["files"] = [str(f) for f in files]
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    from officina.cli import rich_console
    from rich.table import Table

    table = Table(title=f"L5/S1 loads: {motion.name} ({exo})")
    table.add_column("")
    table.add_column("without", justify="right")
    table.add_column("with", justify="right")
    table.add_column("reduction", justify="right")
    red = cmp["reduction_pct"]
    rows = (("peak moment (N m)", "peak_l5s1_moment_nm", red["peak_l5s1_moment"]),
            ("mean moment (N m)", "mean_l5s1_moment_nm", red["mean_l5s1_moment"]),
            ("peak compression (N)", "peak_compression_n", red["peak_compression"]),
            ("mean compression (N)", "mean_compression_n", red["mean_compression"]))
    for label, key, r in rows:
        table.add_row(label, f"{result['without'][key]:.0f}", f"{result['with'][key]:.0f}", f"{r:.1f} %")
    console = rich_console()
    console.print(table)
    pk = result["with"]["peak_compression_n"]
    zone = "above the maximum permissible limit (6400 N)" if pk > NIOSH_MAX_PERMISSIBLE_LIMIT_N else (
        "above the action limit (3400 N)" if pk > NIOSH_ACTION_LIMIT_N else "below the action limit (3400 N)")
    console.print(f"peak compression {'with the exo ' if device is not None else ''}is {zone}")
    if device is not None:
        e = cmp["exo"]
        console.print(
            f"exo: peak torque {e['peak_torque_nm']:.0f} N m; chest pad {e['peak_chest_pad_force_n']:.0f} N, thigh cuffs "
            f"{e['peak_thigh_cuff_force_n']:.0f} N, hip belt {e['peak_pelvis_belt_force_n']:.0f} N; works against the person "
            f"for {e['time_opposing_s']:.2f} s (up to {e['peak_opposing_moment_nm']:.1f} N m)"
        )
    for f in result.get("files", []):
        console.print(f"wrote {f}")


@exo_app.command("static")
@handle_errors
def exo_static_cmd(
    trunk_flexion_deg: float = typer.Option(..., "--trunk-flexion-deg", help="Trunk angle from vertical, deg (0 upright, 90 horizontal; forward +)."),
    load_kg: float = typer.Option(0.0, "--load-kg", help="Mass held at the hands, kg (arms hanging)."),
    body_mass_kg: float = typer.Option(75.0, "--body-mass-kg", help="Body mass, kg."),
    stature_m: float = typer.Option(1.75, "--stature-m", help="Stature, m."),
    sex: str = typer.Option("male", "--sex", help="male or female."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """L5/S1 moment, compression and shear in one static posture (arms hanging, load at the hands).

    Example:

    ```
    officina exo static --trunk-flexion-deg 60 --load-kg 10 --json
    ```
    """
    from officina.exoskeleton.model import static_l5s1

    if not (-30.0 <= trunk_flexion_deg <= 135.0):
        raise ValueError(f"trunk flexion: expected -30 to 135 deg, got {trunk_flexion_deg!r}")
    model = _human(body_mass_kg, stature_m, sex)
    r = static_l5s1(model, np.deg2rad(trunk_flexion_deg), load_kg)
    out = {"l5s1_moment_nm": float(r.moment), "compression_n": float(r.compression), "shear_n": float(r.shear)}
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(
        f"trunk {trunk_flexion_deg:g} deg, {load_kg:g} kg at the hands: L5/S1 moment {out['l5s1_moment_nm']:.1f} N m, "
        f"compression {out['compression_n']:.0f} N, anterior shear {out['shear_n']:.0f} N"
    )


@exo_app.command("overhead")
@handle_errors
def exo_overhead_cmd(
    elevation_deg: float = typer.Option(90.0, "--elevation-deg", help="Arm elevation from hanging, deg (90 = horizontal forward)."),
    tool_kg: float = typer.Option(0.0, "--tool-kg", help="Tool mass held at the hands, kg."),
    exo: str = typer.Option("paexo", "--exo", help="Shoulder exoskeleton preset (paexo)."),
    support: float | None = typer.Option(None, "--support", help="Support level: fraction of the arms' weight torque carried at 90 deg (Paexo: 0.45-0.9)."),
    body_mass_kg: float = typer.Option(75.0, "--body-mass-kg", help="Body mass, kg."),
    stature_m: float = typer.Option(1.75, "--stature-m", help="Stature, m."),
    sex: str = typer.Option("male", "--sex", help="male or female."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Shoulder moment in overhead work with and without a shoulder exoskeleton (static, both arms).

    Example:

    ```
    officina exo overhead --elevation-deg 110 --tool-kg 1.5 --exo paexo \\
        --support 0.7
    ```
    """
    from dataclasses import replace

    from officina.exoskeleton.exo import ShoulderExo, exo_by_name, shoulder_support

    device = exo_by_name(exo)
    if not isinstance(device, ShoulderExo):
        raise ValueError(f"exo: expected a shoulder exoskeleton (paexo), got {exo!r}")
    if support is not None:
        device = replace(device, support_at_90=support)
    if not (0.0 <= elevation_deg <= 180.0):
        raise ValueError(f"elevation: expected 0 to 180 deg, got {elevation_deg!r}")
    model = _human(body_mass_kg, stature_m, sex)
    r = shoulder_support(model, device, np.deg2rad(elevation_deg), 0.0, tool_kg)
    out = {k: float(v) for k, v in r.items()}
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    with_text = f"{out['with_shoulder_moment_nm']:.1f} N m with {exo} ({out['reduction_pct']:.0f} % less)"
    if out["opposing_moment_nm"] > 0.05:  # the device lifts more than the arms weigh: the person holds them down
        with_text = (f"0 N m with {exo} (100 % less; it over-supports: the person pushes the arms down against "
                     f"it with {out['opposing_moment_nm']:.1f} N m)")
    typer.echo(
        f"shoulder flexor moment {out['without_shoulder_moment_nm']:.1f} N m without, {with_text}; "
        f"{out['pelvis_reaction_moment_nm']:.1f} N m go to the hip belt"
    )


def _values(text: str, what: str) -> list[float]:
    """'0,20,40' or '0:60:20' (start:stop:step, stop included) -> numbers."""
    try:
        if ":" in text:
            a, b, c = (float(x) for x in text.split(":"))
            if c <= 0 or b < a:
                raise ValueError
            n = int(math.floor((b - a) / c + 1e-9)) + 1
            if n > 1000:
                raise ValueError
            return [round(a + i * c, 10) for i in range(n)]
        vals = [float(x) for x in text.split(",") if x.strip()]
        if not vals:
            raise ValueError
        return vals
    except ValueError:
        raise ValueError(f"{what} {text!r}: expected numbers like 0,20,40 or a range START:STOP:STEP "
                         "such as 0:60:20") from None


EXO_SWEEP_HELP = """Design study of a passive back exoskeleton: spring stiffness x preload, over
loads and lift styles, to L5/S1 loads, NIOSH and LiFFT figures.

Every design point is the spring exo (torque = preload + stiffness x flexion
above the engagement angle, up to --max-torque-nm) on a box lift from the
floor to knuckle height. Vectorised: two inverse-dynamics passes per lift
style and load, every design from those (the loads are linear in the exo's
torque). Writes results.csv (and results.parquet with pyarrow), one row per
design point, exo_sweep.json and exo_sweep.png into --out (default
runs/exo-sweep-TIMESTAMP).

Examples:

```
officina exo sweep --stiffness 0:80:20 --preload 0,5,10 --load-kg 5,10,15
officina exo sweep --stiffness 0,30,60 --preload 0 --load-kg 10 \\
    --lift-style squat --engage-deg 10 --body-mass-kg 62 \\
    --stature-m 1.65 --sex female --out runs/exo-study
```
"""


@exo_app.command("sweep", help=EXO_SWEEP_HELP)
@handle_errors
def exo_sweep_cmd(
    stiffness: str = typer.Option("0:60:20", "--stiffness", help="Spring stiffness, N m/rad (device total): list or START:STOP:STEP."),
    preload: str = typer.Option("0,5,10", "--preload", help="Spring preload, N m: list or range."),
    load_kg: str = typer.Option("5,10,15", "--load-kg", help="Box mass, kg: list or range."),
    lift_style: str = typer.Option("stoop,squat", "--lift-style", help="Lift styles: stoop, squat or both."),
    engage_deg: float = typer.Option(0.0, "--engage-deg", help="Trunk-thigh flexion where the spring engages, deg (0: it pushes when standing)."),
    max_torque_nm: float = typer.Option(60.0, "--max-torque-nm", help="Torque cap of the device, N m."),
    body_mass_kg: float = typer.Option(75.0, "--body-mass-kg", help="Body mass of the worker, kg."),
    stature_m: float = typer.Option(1.75, "--stature-m", help="Stature of the worker, m."),
    sex: str = typer.Option("male", "--sex", help="male or female (de Leva 1996)."),
    rate_per_min: float = typer.Option(4.0, "--rate-per-min", help="Lifts per minute (NIOSH frequency, LiFFT repetitions)."),
    shift_h: float = typer.Option(8.0, "--shift-h", help="Hours of lifting per shift (NIOSH duration, LiFFT)."),
    coupling: str = typer.Option("fair", "--coupling", help="NIOSH coupling: good, fair or poor."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder (new or empty)."),
    as_json: bool = typer.Option(False, "--json", help="Print exo_sweep.json instead of the summary."),
) -> None:
    import time

    from officina.exoskeleton.design import COLUMNS, StudyAxes, design_study, plot_study
    from officina.results import write_table
    from officina.runs import new_run_dir, write_json_atomic

    styles = [s.strip().lower() for s in lift_style.split(",") if s.strip()]
    try:
        ax = StudyAxes(_values(stiffness, "--stiffness"), _values(preload, "--preload"),
                       _values(load_kg, "--load-kg"), styles, engage_deg=engage_deg, max_torque_nm=max_torque_nm,
                       rate_per_min=rate_per_min, shift_h=shift_h, coupling=coupling)
    except ValueError as exc:  # the library names its fields; the user typed the options
        msg = str(exc)
        for field, option in (("stiffness_nm_per_rad:", "--stiffness (N m/rad):"), ("preload_nm:", "--preload (N m):"),
                              ("loads_kg:", "--load-kg (kg):"), ("styles:", "--lift-style:")):
            if msg.startswith(field):
                msg = option + msg[len(field):]
        raise ValueError(msg) from None
    model = _human(body_mass_kg, stature_m, sex)
    from officina.exoskeleton.worker import duration_class

    duration_class(shift_h)  # a bad shift is bad input before the folder is made
    t0 = time.perf_counter()
    rows = design_study(model, ax)
    elapsed = time.perf_counter() - t0
    folder = new_run_dir("exo-sweep", out)
    files = write_table(rows, folder, leading=list(rows[0]))
    title = (f"passive back exo, {body_mass_kg:g} kg / {stature_m:g} m {model.anthro.sex}, engages at "
             f"{engage_deg:g} deg, max {max_torque_nm:g} N m")
    plot_study(rows, folder / "exo_sweep.png", title)
    doc = {
        "kind": "exo-sweep", "person": {"body_mass_kg": body_mass_kg, "stature_m": stature_m, "sex": model.anthro.sex},
        "axes": {"stiffness_nm_per_rad": list(ax.stiffness_nm_per_rad), "preload_nm": list(ax.preload_nm),
                 "load_kg": list(ax.loads_kg), "lift_style": list(ax.styles)},
        "fixed": {"engage_deg": engage_deg, "max_torque_nm": max_torque_nm, "rate_per_min": rate_per_min,
                  "shift_h": shift_h, "coupling": coupling, "lift": "box from the floor (grip 0.20 m) to knuckle "
                  f"height in {ax.duration_s:g} s, minimum jerk"},
        "columns": {k: {"unit": u, "meaning": m} for k, (u, m) in COLUMNS.items()},
        "compute_s": elapsed, "rows": rows,
    }
    write_json_atomic(folder / "exo_sweep.json", doc)
    if as_json:
        typer.echo(json.dumps({**doc, "folder": str(folder)}, indent=2))
        return
    from officina.cli import rich_console
    from rich.table import Table

    t = Table(title=f"{len(rows)} design points in {elapsed:.2f} s; per lift, the design with the lowest "
                    "peak L5/S1 compression")
    for c in ("lift", "no exo\nN", "NIOSH\nLI", "k\nN m/rad", "preload\nN m", "with exo\nN", "less",
              "against\nperson\nN m"):
        t.add_column(c, justify="left" if c == "lift" else "right", no_wrap=c == "lift")
    for style in ax.styles:
        for load in ax.loads_kg:
            sel = [r for r in rows if r["lift_style"] == style and r["load_kg"] == float(load)]
            best = min(sel, key=lambda r: (round(r["peak_compression_n"], 1), r["peak_opposing_moment_nm"]))
            li = best["niosh_li"]
            t.add_row(f"{style} {load:g} kg", f"{best['peak_compression_no_exo_n']:.0f}",
                      f"{li:.2f}" if li is not None else "inf", f"{best['stiffness_nm_per_rad']:g}",
                      f"{best['preload_nm']:g}", f"{best['peak_compression_n']:.0f}",
                      f"{best['peak_compression_reduction_pct']:.1f} %", f"{best['peak_opposing_moment_nm']:.1f}")
    console = rich_console()
    console.print(t)
    console.print(f"wrote {', '.join(str(f) for f in files)}, {folder / 'exo_sweep.png'}, {folder / 'exo_sweep.json'}",
                  soft_wrap=True, highlight=False)
