"""`officina bench`: benchmarks as one table of ratios against baselines measured in the same run.

`officina bench sim|ik|plan|vision|ros|exo|sweep|all` runs those groups' benchmarks
(`officina.benchmarks.suite`) and prints one table; `--json` prints it as a document that
`officina bench compare A.json B.json` reads back. `officina bench control` is the tracking
benchmark's own report. The measurements live in `officina.benchmarks` (benchmarks/); the commands
parse, run them, print.
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from officina.cli import handle_errors
from officina.errors import BadInput

bench_app = typer.Typer(help="Benchmarks: one table of ratios against baselines measured in the same run.",
                        no_args_is_help=True)


class _CStdoutToStderr:
    """Route C-level writes to fd 1 (solver warnings of the baselines, PyBullet's banner where a
    benchmark imports it directly) to stderr, so that ``--json`` stdout stays one JSON document."""

    def __enter__(self):
        import os
        import sys

        try:
            sys.stdout.flush()
            self._saved = os.dup(1)
            os.dup2(2, 1)
        except (OSError, ValueError, AttributeError):
            self._saved = None
        return self

    def __exit__(self, *exc):
        import ctypes
        import os

        if self._saved is not None:
            try:
                ctypes.CDLL(None).fflush(None)
            except (OSError, AttributeError):
                pass
            os.dup2(self._saved, 1)
            os.close(self._saved)



_VERDICT_STYLE = {"met": "green", "missed": "bold red", "info": "dim", "n/a": "yellow"}


def _print_table(doc: dict) -> None:
    """The document's rows as one table on stdout, the notes below it, how long it took."""
    from officina.cli import rich_console
    from rich.table import Table

    from officina.benchmarks.suite import format_value

    console = rich_console()
    t = Table(title=f"officina bench {' '.join(doc['groups'])}" + (" --slow" if doc.get("slow") else ""),
              show_lines=False, title_justify="left")
    for col, just in (("group", "left"), ("measured", "left"), ("officina", "right"), ("baseline", "right"),
                      ("ratio", "right"), ("goal", "left"), ("verdict", "left")):
        t.add_column(col, justify=just, overflow="fold")
    notes = []
    for r in doc["rows"]:
        ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.3g}"
        base = format_value(r.get("baseline"), r["unit"])
        verdict = r["verdict"]
        name = r["name"]
        if r.get("note") or r.get("baseline_name"):
            notes.append(r)
            name = f"{name} [{len(notes)}]"
        t.add_row(r["group"], name, format_value(r.get("value"), r["unit"]), base, ratio, r.get("goal") or "-",
                  f"[{_VERDICT_STYLE.get(verdict, '')}]{verdict}[/]")
    console.print(t)
    for i, r in enumerate(notes, 1):
        parts = [f"baseline: {r['baseline_name']}" if r.get("baseline_name") else "", r.get("note", "")]
        console.print(f"[{i}] " + "; ".join(p for p in parts if p), highlight=False)
    el = doc.get("elapsed_s") or {}
    if "all" in el:
        per = ", ".join(f"{g} {el[g]:.0f} s" for g in doc["groups"] if g in el)
        console.print(f"took {el['all'] / 60:.1f} min ({per}); load average before "
                      f"{doc.get('load_average_before')}; {doc.get('commit') or ''}", highlight=False)


def _progress(group: str, i: int, n: int) -> None:
    from officina.benchmarks.suite import GROUPS

    typer.echo(f"bench {i + 1}/{n}: {group} ({GROUPS[group][1]})", err=True)


def _run_table(groups: list[str], slow: bool, as_json: bool, rows_of=None) -> None:
    from officina.benchmarks.suite import run_groups

    with _CStdoutToStderr():
        doc = run_groups(groups, slow=slow, on_group=_progress, rows_of=rows_of)
    if as_json:
        typer.echo(json.dumps(doc, indent=1))
    else:
        _print_table(doc)


SLOW_HELP = "The larger sizes (more robots, problems, seconds, runs); slower."
JSON_HELP = "Print the table as one JSON document (for `officina bench compare`)."

IK_HELP = """IK against TRAC-IK and PyBullet on the same targets (TRAC-IK's protocol).

Random joint configurations within the limits -> FK -> IK seeded at the mid-range, within
--budget-ms per target. A solution counts when its position error is <= 1e-5 m and its
orientation error <= 1e-5 rad by norm, within the joint limits and the budget, measured with
the same FK for every solver. TRAC-IK checks each twist component against its eps, so it gets
eps = 1e-5/sqrt(3): what it accepts passes the same check.

Prints the table's rows (success rate and mean time against TRAC-IK's, per robot; the Panda with
1000 targets, or Panda, iiwa and UR5e with 2000 with --slow); --details prints the full report
instead (every solver's mean, median and p99).

Examples:

```
officina bench ik
officina bench ik --robot ur5e --n 2000 --details
```
"""


@bench_app.command("ik", help=IK_HELP)
@handle_errors
def bench_ik(
    robot: Optional[str] = typer.Option(None, "--robot", help="Robot name or YAML path (default: panda)."),
    n: Optional[int] = typer.Option(None, "--n", help="Number of random targets (default 1000; 2000 with --slow)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the targets and of the restarts."),
    frame: str = typer.Option("flange", "--frame", help="flange or tcp."),
    budget_ms: float = typer.Option(5.0, "--budget-ms", help="Time budget per target (TRAC-IK's protocol: 5 ms)."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Measure only officina's solver (--details)."),
    details: bool = typer.Option(False, "--details", help="The full report instead of the table's rows."),
    slow: bool = typer.Option(False, "--slow", help=SLOW_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from officina.benchmarks.bench_ik import rows_from_result, run_ik_benchmark

    if budget_ms <= 0:
        raise BadInput("--budget-ms must be positive")
    if n is not None and n < 1:
        raise BadInput("--n must be at least 1")
    if not details:
        robots = (robot,) if robot else (("panda", "iiwa", "ur5e") if slow else ("panda",))
        count = n or (2000 if slow else 1000)

        def rows_of(group, slow_):
            out = []
            for r in robots:
                out += rows_from_result(run_ik_benchmark(r, count, seed, frame, budget_ms * 1e-3))
            return out

        _run_table(["ik"], slow, as_json, rows_of)
        return
    with _CStdoutToStderr():
        out = run_ik_benchmark(robot or "panda", n or 10000, seed, frame, budget_ms * 1e-3,
                               baselines=() if no_baselines else ("trac_ik", "pybullet"))
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"IK benchmark: {out['robot']} {out['frame']}, {out['n']} targets, budget {budget_ms:g} ms, "
               f"tol {out['tolerance']:g} (TRAC-IK eps {out['trac_ik_eps']:.3g})")
    typer.echo(f"  {'solver':10s} {'success':>9s} {'mean ms':>9s} {'median ms':>10s} {'p99 ms':>9s}")
    for k, r in out["results"].items():
        typer.echo(f"  {k:10s} {100 * r['success_rate']:8.2f}% {r['mean_ms']:9.4f} {r['median_ms']:10.4f} "
                   f"{r['p99_ms']:9.4f}")
    for k, r in out["ratios_officina_over"].items():
        typer.echo(f"  officina / {k}: mean time x{r['mean_time_ratio']:.3f}, median x{r['median_time_ratio']:.3f}, "
                   f"success {100 * r['success_rate_diff']:+.2f} points")
    if "trac_ik" in out["results"]:
        tr = out["results"]["trac_ik"]
        typer.echo(f"  (TRAC-IK self-reported success: {100 * tr['self_reported_success_rate']:.2f}%, of which "
                   f"{100 * tr['accepted_outside_tolerance_rate']:.2f}% outside the tolerance)")
    for k, v in out["notes"].items():
        typer.echo(f"  note: {k}: {v}")


CONTROL_HELP = """Tracking: RMS/max joint and tcp error per robot and control law.

Each law tracks the standard trajectory (home -> home + offsets -> home at half the velocity and
acceleration limits) on the simulated arm in torque mode at 1 kHz.

Example:

```
officina bench control --robot ur5e --law osc
```
"""


@bench_app.command("control", help=CONTROL_HELP)
@handle_errors
def bench_control(
    robot: Optional[str] = typer.Option(None, "--robot", help="Robot name or YAML path (default: panda, iiwa, ur5e)."),
    law: Optional[str] = typer.Option(
        None, "--law", help="joint_pd, computed_torque, cartesian_impedance or osc (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from officina.benchmarks.bench_control import DEFAULT_ROBOTS, run_tracking_benchmark
    from officina.controllers.laws import LAWS

    with _CStdoutToStderr():
        out = run_tracking_benchmark([robot] if robot else list(DEFAULT_ROBOTS), [law] if law else list(LAWS))
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"{'robot':7s} {'law':20s} {'joint rms':>10s} {'joint max':>10s} {'tcp rms':>9s} {'tcp max':>9s} "
               f"{'rot max':>8s} {'tau/eff':>7s}")
    for r in out["results"]:
        typer.echo(f"{r['robot']:7s} {r['law']:20s} {r['joint_rms_rad']:10.2e} {r['joint_max_rad']:10.2e} "
                   f"{r['tcp_rms_m'] * 1e3:7.3f}mm {r['tcp_max_m'] * 1e3:7.3f}mm {r['tcp_rot_max_rad']:8.1e} "
                   f"{r['peak_torque_ratio']:7.2f}")


SIM_HELP = """Raw PyBullet stepping vs officina's loop on the pick-place world.

Measures the loop (read, control, command, step, log) against raw stepping of the same world,
with and without the state log (thread CPU time), and a full headless pick-place: its
real-time factor and the share of start-up and run folder, by the wall clock and by CPU time
(which the machine's other load does not inflate). Goals: loop <= 1.5x raw, the state log
<= 1.05x the loop without it, >= 20x real time, start-up and run folder <= 20 %.
Prints the table's rows; --details prints the full report (where the run's time goes).

Examples:

```
officina bench sim
officina bench sim --robot ur5e --steps 5000 --details
```
"""


@bench_app.command("sim", help=SIM_HELP)
@handle_errors
def bench_sim_cmd(
    robot: str = typer.Option("panda", "--robot", help="Robot name or YAML file."),
    steps: Optional[int] = typer.Option(None, "--steps", min=100,
                                        help="Physics steps per measurement (default 3000; 5000 with --slow)."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Interleaved repetitions (the fastest is reported)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the pick-place world."),
    details: bool = typer.Option(False, "--details", help="The full report instead of the table's rows."),
    slow: bool = typer.Option(False, "--slow", help=SLOW_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from officina.benchmarks.bench_sim import rows_from_result
    from officina.tasks.bench import print_result, run

    n = steps or (5000 if slow else 3000)
    if not details:
        _run_table(["sim"], slow, as_json, lambda g, s: rows_from_result(run(robot, n, repeats, seed)))
        return
    with _CStdoutToStderr():
        res = run(robot, n, repeats, seed)
    print_result(res, as_json)


PHYSICS_HELP = """PyBullet's cost and pick-place's outcomes per physics setting.

Runs pick-place on each robot and seed for each physics variant and prints PyBullet's time per
simulated second, real-time factors, success, tracking errors and grasp slip. The first variant
is the baseline of the ratios. docs/physics.md explains the variants and the figures.

Examples:

```
officina bench physics
officina bench physics --robots ur5e --seeds 0-2 --repeats 3
officina bench physics --variants pybullet,step_2ms,fast_2ms,default
officina bench physics --seeds 0-2 --variants default,step_4ms,fast_4ms
```
"""


@bench_app.command("physics", help=PHYSICS_HELP)
@handle_errors
def bench_physics_cmd(
    robots: str = typer.Option("panda,iiwa,ur5e", "--robots", help="Robots, comma-separated."),
    seeds: str = typer.Option("0-9", "--seeds", help="Seeds: a range (0-9) or a list (0,3,5)."),
    variants: str = typer.Option("pybullet,default", "--variants",
                                 help="Physics variants; the first is the baseline of the ratios."),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Interleaved repetitions (fastest kept)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from officina.tasks.bench_physics import parse_seeds, print_result, run

    with _CStdoutToStderr():
        res = run([r.strip() for r in robots.split(",") if r.strip()], parse_seeds(seeds),
                  [v.strip() for v in variants.split(",") if v.strip()], repeats)
    print_result(res, as_json)


def _group_command(group: str, short: str, what: str, sizes: str, example: str) -> None:
    help_text = f"""{short}

{what}

{sizes}

Example:

```
{example}
```
"""

    @bench_app.command(group, help=help_text)
    @handle_errors
    def cmd(slow: bool = typer.Option(False, "--slow", help=SLOW_HELP),
            as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
        _run_table([group], slow, as_json)


_group_command(
    "plan", "Motion planning vs pybullet-planning.", "Motion planning against pybullet-planning on the same seeded problems (shelf, deep bin, machine "
    "door): success rate and median planning time per scene, one collision check. Goals: success >= 99 % and >= "
    "the baseline's, at least 5x faster, <= 20 ms for the Panda on the shelf and the bin. Needs the bench extra.",
    "Quick: the Panda, 10 problems per scene, 2 s budget. --slow: Panda, iiwa, UR5e, 30 problems, 5 s.",
    "officina bench plan --slow")
_group_command(
    "vision", "Marker pose and intrinsics vs ground truth, detection vs OpenCV.", "Marker pose error at 0.5 m against ground truth (PyBullet renders; exact homography renders as the "
    "baseline), intrinsics from simulated ChArUco images, detection throughput against raw OpenCV. Goals: median "
    "<= 2 mm and <= 1 deg; focal within 0.5 %, principal point within 1 px.",
    "Quick: 10 views per distance. --slow: 30.", "officina bench vision")
_group_command(
    "ros", "ROS 2 command-to-state latency vs an rclpy echo pair.", "The ROS 2 command-to-state loop across two processes on loopback (the sim, the safety gate) against a "
    "minimal rclpy echo pair: p99 latency and missed cycles. Goals: p99 within 1.5x of the echo, no missed cycles at "
    "500 Hz. Needs the ros extra.",
    "Quick: 500 Hz, 3 s per pair. --slow: 500 Hz and 1 kHz, 5 s.", "officina bench ros")
_group_command(
    "exo", "Vectorised L5/S1 evaluation vs a naive loop.", "Vectorised static L5/S1 evaluation against a naive per-posture loop. Goal: >= 1 million postures per "
    "second on one core.", "One million postures either way.", "officina bench exo")
_group_command(
    "sweep", "Sweep scaling on Dask vs a plain loop.", "The same pick-place runs in a plain loop and on a Dask LocalCluster of 2 workers (officina.benchmarks."
    "bench_sweep): wall time, parallel efficiency, Dask's per-run overhead, and the efficiency of 2 workers "
    "against 1 beside the machine's own for raw PyBullet stepping (two processes at once vs one). Goal: "
    "efficiency >= 90 %.",
    "Quick: 4 runs of one object each. --slow: 40 runs.", "officina bench sweep --slow")


ALL_HELP = """Every group: sim, ik, plan, vision, ros, exo, sweep, in one table.

Quick sizes by default (about 10 minutes on a 2-core machine); --slow takes the larger ones. A
group that cannot run here (an extra not installed) gives a row marked n/a; a group that fails
gives a row with its error, and the others still run.

Examples:

```
officina bench all
officina bench all --json > bench-$(git rev-parse --short HEAD).json
```
"""


@bench_app.command("all", help=ALL_HELP)
@handle_errors
def bench_all(
    slow: bool = typer.Option(False, "--slow", help=SLOW_HELP),
    skip: Optional[list[str]] = typer.Option(None, "--skip", help="A group not to run (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from officina.benchmarks.suite import GROUPS

    bad = [g for g in skip or [] if g not in GROUPS]
    if bad:
        raise BadInput(f"--skip {bad[0]}: expected one of {', '.join(GROUPS)}")
    _run_table([g for g in GROUPS if g not in (skip or [])], slow, as_json)


COMPARE_HELP = """What moved between two `officina bench --json` documents (two commits, two machines).

Rows are matched by group and name. A row moved when its figure changed by more than --threshold
percent: better or worse by the row's direction (lower times, higher rates); rows in one document
only are new or gone. Exit 1 with --fail-on-worse when a row got worse, 2 when a file is not such a
document.

Example:

```
officina bench compare bench-a1b2c3.json bench-d4e5f6.json
```
"""


@bench_app.command("compare", help=COMPARE_HELP)
@handle_errors
def bench_compare(
    a: str = typer.Argument(..., help="The earlier document."),
    b: str = typer.Argument(..., help="The later document."),
    threshold: float = typer.Option(10.0, "--threshold", min=0.0, help="Percent change that counts as moved."),
    fail_on_worse: bool = typer.Option(False, "--fail-on-worse", help="Exit 1 when a row got worse."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from officina.cli import rich_console
    from rich.table import Table

    from officina.benchmarks.suite import compare, format_value, load_document

    da, db = load_document(a), load_document(b)
    rows = compare(da, db, threshold)
    worse = [r for r in rows if r["moved"] == "worse"]
    if as_json:
        typer.echo(json.dumps({"a": a, "b": b, "threshold_pct": threshold, "rows": rows}, indent=1))
    else:
        t = Table(title=f"{da.get('commit') or a} -> {db.get('commit') or b} (moved: more than {threshold:g} %)",
                  title_justify="left")
        for col, just in (("group", "left"), ("measured", "left"), ("A", "right"), ("B", "right"),
                          ("change", "right"), ("moved", "left"), ("verdict", "left")):
            t.add_column(col, justify=just, overflow="fold")
        style = {"better": "green", "worse": "bold red", "new": "cyan", "gone": "yellow", "": ""}
        for r in rows:
            ch = "-" if r["change_pct"] is None else f"{r['change_pct']:+.1f} %"
            verdict = r["verdict_b"] or "-" if r["verdict_a"] == r["verdict_b"] else f"{r['verdict_a']} -> {r['verdict_b']}"
            t.add_row(r["group"], r["name"], format_value(r["a"], r["unit"]), format_value(r["b"], r["unit"]), ch,
                      f"[{style[r['moved']]}]{r['moved']}[/]" if r["moved"] else "", verdict)
        rich_console().print(t)
        moved = sum(1 for r in rows if r["moved"] in ("better", "worse"))
        typer.echo(f"{moved} of {len(rows)} rows moved, {len(worse)} worse")
    if fail_on_worse and worse:
        raise typer.Exit(1)


SHOW_HELP = """Print a saved `officina bench --json` document as the table.

Example:

```
officina bench show bench-a1b2c3.json
```
"""


@bench_app.command("show", help=SHOW_HELP)
@handle_errors
def bench_show(path: str = typer.Argument(..., help="A document `officina bench --json` wrote.")) -> None:
    from officina.benchmarks.suite import load_document

    doc = load_document(path)
    doc.setdefault("groups", sorted({r["group"] for r in doc["rows"]}))
    doc.setdefault("elapsed_s", {})
    _print_table(doc)
