"""`officina bench sim`: the control loop against raw PyBullet stepping (benchmarks/bench_sim.py);
`officina bench physics`: physics cost and fidelity of pick-place per variant (benchmarks/bench_physics.py)."""

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


@bench_app.command("physics")
@handle_errors
def bench_physics_cmd(
    robots: str = typer.Option("panda,iiwa,ur5e", "--robots", help="Robots, comma-separated."),
    seeds: str = typer.Option("0-9", "--seeds", help="Seeds: a range (0-9) or a list (0,3,5)."),
    variants: str = typer.Option("pybullet,default", "--variants",
                                 help="Physics variants; the first is the baseline of the ratios."),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Interleaved repetitions (fastest kept)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Physics cost and fidelity of pick-place per robot over fixed seeds, for physics variants:
    PyBullet's time per simulated second, real-time factors, success, tracking errors, grasp slip.

    Examples:

      officina bench physics

      officina bench physics --robots ur5e --seeds 0-2 --repeats 3

      officina bench physics --variants pybullet,step_2ms,default_1ms,default
    """
    from officina.tasks.bench_physics import parse_seeds, print_result, run

    res = run([r.strip() for r in robots.split(",") if r.strip()], parse_seeds(seeds),
              [v.strip() for v in variants.split(",") if v.strip()], repeats)
    print_result(res, as_json)
