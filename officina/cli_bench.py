"""`officina bench ik|control|sim`: benchmarks as ratios against baselines of the same run.

The measurements live in `officina.benchmarks` (benchmarks/) and officina.bench_sim; the commands
parse, run one of them, print.
"""

from __future__ import annotations

import json
from typing import Optional

import typer

from officina.cli import handle_errors
from officina.errors import BadInput

bench_app = typer.Typer(help="Benchmarks: ratios against baselines measured in the same run.", no_args_is_help=True)


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


IK_HELP = """IK against TRAC-IK and PyBullet on the same targets (TRAC-IK's protocol).

Random joint configurations within the limits -> FK -> IK seeded at the mid-range, within
--budget-ms per target. A solution counts when its position error is <= 1e-5 m and its
orientation error <= 1e-5 rad by norm, within the joint limits and the budget, measured with
the same FK for every solver. TRAC-IK checks each twist component against its eps, so it gets
eps = 1e-5/sqrt(3): what it accepts passes the same check.

Example:

```
officina bench ik --robot panda --n 2000
```
"""


@bench_app.command("ik", help=IK_HELP)
@handle_errors
def bench_ik(
    robot: str = typer.Option("panda", "--robot", help="Robot name or YAML path."),
    n: int = typer.Option(10000, "--n", help="Number of random targets."),
    seed: int = typer.Option(0, "--seed", help="Seed of the targets and of the restarts."),
    frame: str = typer.Option("flange", "--frame", help="flange or tcp."),
    budget_ms: float = typer.Option(5.0, "--budget-ms", help="Time budget per target (TRAC-IK's protocol: 5 ms)."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Measure only officina's solver."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from officina.benchmarks.bench_ik import run_ik_benchmark

    if budget_ms <= 0:
        raise BadInput("--budget-ms must be positive")
    with _CStdoutToStderr():
        out = run_ik_benchmark(robot, n, seed, frame, budget_ms * 1e-3,
                               baselines=() if no_baselines else ("trac_ik", "pybullet"))
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"IK benchmark: {out['robot']} {out['frame']}, {n} targets, budget {budget_ms:g} ms, "
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
and the real-time factor of a full headless pick-place. Goals: loop <= 1.5x raw, >= 20x real
time.

Example:

```
officina bench sim --robot panda --steps 5000
```
"""


@bench_app.command("sim", help=SIM_HELP)
@handle_errors
def bench_sim_cmd(
    robot: str = typer.Option("panda", "--robot", help="Robot name or YAML file."),
    steps: int = typer.Option(5000, "--steps", min=100, help="Physics steps per measurement."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Interleaved repetitions (the fastest is reported)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the pick-place world."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from officina.tasks.bench import print_result, run

    with _CStdoutToStderr():
        res = run(robot, steps, repeats, seed)
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
