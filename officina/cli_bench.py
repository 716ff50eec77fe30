"""`officina bench sim`: the control loop against raw PyBullet stepping (benchmarks/bench_sim.py)."""

from __future__ import annotations

import typer

from officina.cli import handle_errors
from officina.cli_kin import bench_app


@bench_app.command("sim")
@handle_errors
def bench_sim_cmd(
    robot: str = typer.Option("panda", "--robot", help="Robot name or YAML file."),
    steps: int = typer.Option(5000, "--steps", min=100, help="Physics steps per measurement."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Interleaved repetitions (medians are reported)."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Raw PyBullet stepping vs officina's loop (read, control, command, step, log) on the pick-place
    world, and the real-time factor of a full headless pick-place. Goals: loop <= 1.5x raw, >= 20x real time."""
    from officina.tasks.bench import print_result, run

    print_result(run(robot, steps, repeats, seed), as_json)
