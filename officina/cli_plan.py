"""`officina plan` (a collision-free trajectory between two configurations or to a pose) and
`officina collision-pairs` (regenerate a robot's self-collision pairs, its SRDF).

The planning itself lives in `officina.controllers.planning`; here: parse, call, print.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from officina.cli import handle_errors, parse_floats
from officina.errors import BadInput, JobFailed

app = typer.Typer()


def _floats(text: str, what: str, n: int | None = None) -> np.ndarray:
    return parse_floats(text, what, n)


@app.command("plan")
@handle_errors
def plan_cmd(
    robot: str = typer.Option(..., "--robot", help="Robot: a name from `officina robots` (panda, iiwa, ur5e, ur10e, irb2600) or a robot YAML file."),
    scene: Path = typer.Option(..., "--scene", help="Scene file (YAML): obstacles, see docs/planning.md."),
    q_from: str = typer.Option(..., "--from", help="Start: joint positions [rad], comma-separated, robot's order."),
    q_to: str = typer.Option(None, "--to", help="Goal: joint positions [rad], comma-separated."),
    to_pose: str = typer.Option(None, "--to-pose", help="Goal pose X,Y,Z,QX,QY,QZ,QW [m] in the base frame."),
    frame: str = typer.Option("tcp", "--frame", help="Frame of --to-pose: tcp or flange."),
    seed: int = typer.Option(0, "--seed", help="Seed of the planner (same seed, same trajectory)."),
    planner: str = typer.Option("rrtconnect", "--planner", help="OMPL planner: rrtconnect, rrt, kpiece, bkpiece, "
                                "lbkpiece, prm, bitstar, aorrtc."),
    time_budget: float = typer.Option(5.0, "--time-budget", help="Planning time budget [s] (wall time)."),
    padding: float = typer.Option(0.01, "--padding", help="Clearance kept to the scene [m]."),
    dt: float = typer.Option(0.001, "--dt", help="Control period [s]: the trajectory's sampling period."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Plan a collision-free, time-parameterised joint trajectory through a scene.

    Exit codes: 0 planned; 1 no plan within the time budget; 2 bad input (start or goal in
    collision, outside the joint limits, unreachable pose, unknown robot, malformed scene).

    Examples:

    ```
    officina plan --robot panda --scene cell.yaml \\
        --from 0,-0.785,0,-2.356,0,1.571,0.785 --to 1.2,0.3,0,-1.8,0,2.1,0.785
    officina plan --robot ur5e --scene cell.yaml \\
        --from 3.14,-1.57,1.57,-1.57,-1.57,0 \\
        --to-pose 0.5,0.2,0.3,1,0,0,0 --json
    ```
    """
    from officina.controllers.model import RobotModel, pose_to_T
    from officina.controllers.planning.planner import PlannerSettings, plan_motion
    from officina.controllers.planning.scene import load_scene
    from officina.robots import load_robot

    if (q_to is None) == (to_pose is None):
        raise BadInput("give exactly one goal: --to Q or --to-pose X,Y,Z,QX,QY,QZ,QW")
    if frame not in ("tcp", "flange"):
        raise BadInput(f"--frame {frame!r}: expected tcp or flange")
    spec = load_robot(robot)
    model = RobotModel.from_spec(spec)
    sc = load_scene(scene)
    start = _floats(q_from, "--from", spec.dof)
    goal = _floats(q_to, "--to", spec.dof) if q_to is not None else None
    T = None
    if to_pose is not None:
        v = _floats(to_pose, "--to-pose", 7)
        T = pose_to_T(v[:3], v[3:])
    if not time_budget > 0:
        raise BadInput(f"--time-budget: expected a positive number of seconds, got {time_budget:g}")
    try:
        settings = PlannerSettings(planner=planner, time_budget_s=time_budget)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if not dt > 0:
        raise BadInput("--dt must be > 0")
    result, report = plan_motion(model, sc, start, q_to=goal, base_T_goal=T, frame=frame, seed=seed, dt=dt,
                                 padding_m=padding, settings=settings)
    if as_json:
        typer.echo(json.dumps(report))
    elif result.success:
        typer.echo(f"planned ({result.message}) in {report['planning_time_ms']:.1f} ms: {len(report['path'])} "
                   f"waypoints, {report['duration_s']:.3f} s, min clearance "
                   f"{report.get('min_clearance_m') or float('nan'):.4f} m")
    if not result.success:
        if result.status.bad_input:
            raise BadInput(result.message)
        raise JobFailed(result.message)


@app.command("collision-pairs")
@handle_errors
def collision_pairs_cmd(
    robot: str = typer.Option(..., "--robot", help="Robot name or robot YAML file."),
    samples: int = typer.Option(10000, "--samples", min=100, help="Random configurations sampled."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples."),
    out: Path = typer.Option(None, "--out", help="SRDF to write (default: ROBOT.srdf beside the robot YAML)."),
    as_json: bool = typer.Option(False, "--json", help="Print the pairs as JSON."),
) -> None:
    """Regenerate a robot's self-collision pairs to skip (an SRDF, as MoveIt's setup assistant
    writes): adjacent links, pairs in collision at home or almost always, pairs never in
    collision over --samples random configurations.

    Examples:

    ```
    officina collision-pairs --robot panda
    officina collision-pairs --robot labs/my_arm.yaml --samples 20000 \\
        --out labs/my_arm.srdf
    ```
    """
    from officina.controllers.planning.collision import compute_disabled_pairs, write_srdf
    from officina.robots import load_robot, robot_file

    from officina.runs import check_out_file

    spec = load_robot(robot)
    path = out if out is not None else robot_file(robot).with_suffix(".srdf")
    check_out_file(path, f"{spec.name}.srdf")
    rows = compute_disabled_pairs(spec, samples=samples, rng=np.random.default_rng(seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_srdf(path, spec.name, rows, note=f"written by officina collision-pairs ({samples} samples, seed {seed}); "
               "reasons as MoveIt's setup assistant gives them")
    if as_json:
        typer.echo(json.dumps({"srdf": str(path), "pairs": [list(r) for r in rows]}))
    else:
        counts: dict[str, int] = {}
        for r in rows:
            counts[r[2]] = counts.get(r[2], 0) + 1
        typer.echo(f"{path}: {len(rows)} pairs disabled ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
