"""`officina kin fk|ik`: forward and inverse kinematics of a robot model."""

from __future__ import annotations

import json
from typing import Optional

import numpy as np
import typer

from officina.cli import handle_errors, parse_floats
from officina.errors import BadInput

kin_app = typer.Typer(help="Kinematics of a robot model: forward and inverse kinematics.", no_args_is_help=True)


def _model(robot: str):
    from officina.controllers.model import RobotModel
    from officina.robots import load_robot

    return RobotModel.from_spec(load_robot(robot))


def _check_frame(m, frame: str) -> None:
    try:
        m.frame_id(frame)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


FK_HELP = """Forward kinematics: pose of FRAME in the robot base frame (m, quaternion x,y,z,w).

Example:

```
officina kin fk --robot ur5e --q 0,-1.2,1.6,-1.97,-1.57,0 --frame tcp
officina kin fk --robot panda --q 0,-0.785,0,-2.356,0,1.571,0.785 --json
```
"""


@kin_app.command("fk", help=FK_HELP)
@handle_errors
def kin_fk(
    robot: str = typer.Option(..., "--robot", help="Robot: a name from `officina robots` (panda, iiwa, ur5e, ur10e, irb2600) or a robot YAML file."),
    q: str = typer.Option(..., "--q", help="Joint positions in rad, comma-separated, in the robot's joint order."),
    frame: str = typer.Option("flange", "--frame", help="flange, tcp or any link of the URDF."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    m = _model(robot)
    qv = parse_floats(q, "--q", m.nq)
    _check_frame(m, frame)
    pos, quat = m.fk(qv, frame)
    out = {"position": [float(v) for v in pos], "quaternion_xyzw": [float(v) for v in quat]}
    if as_json:
        typer.echo(json.dumps(out))
        return
    warn = "" if m.within_limits(qv) else "   (warning: q is outside the joint limits)"
    typer.echo(f"{m.spec.name} {frame} in {m.spec.base_link}:{warn}")
    typer.echo("  position [m]        " + "  ".join(f"{v:+.6f}" for v in pos))
    typer.echo("  quaternion (xyzw)   " + "  ".join(f"{v:+.6f}" for v in quat))


IK_HELP = """Inverse kinematics of a 6-D pose, within the joint limits.

The answer depends only on the inputs: the solver starts from --seed-q, then restarts from
random configurations drawn with --seed, up to --max-restarts times. --timeout-ms adds a
wall-clock budget; the answer then also depends on the machine's speed.

Example:

```
officina kin ik --robot panda --position 0.45,0.1,0.3 \\
    --quaternion-xyzw 1,0,0,0
```

Exit codes: 0 solved, 1 the target was not reached, 2 bad input.
"""


@kin_app.command("ik", help=IK_HELP)
@handle_errors
def kin_ik(
    robot: str = typer.Option(..., "--robot", help="Robot: a name from `officina robots` (panda, iiwa, ur5e, ur10e, irb2600) or a robot YAML file."),
    position: str = typer.Option(..., "--position", help="Target position x,y,z in m, base frame."),
    quaternion_xyzw: str = typer.Option(..., "--quaternion-xyzw", help="Target orientation x,y,z,w (normalised here)."),
    frame: str = typer.Option("tcp", "--frame", help="tcp or flange (or any link)."),
    seed_q: Optional[str] = typer.Option(None, "--seed-q", help="Seed joint positions in rad (default: mid-range)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random restarts."),
    max_restarts: int = typer.Option(200, "--max-restarts", min=0, help="Random restarts after the first attempt."),
    timeout_ms: Optional[float] = typer.Option(
        None, "--timeout-ms", help="Wall-clock budget in ms (default: none; the restarts bound the work)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    from officina.controllers.ik import solve_ik
    from officina.controllers.model import pose_to_T

    m = _model(robot)
    p = parse_floats(position, "--position", 3)
    qt = parse_floats(quaternion_xyzw, "--quaternion-xyzw", 4)
    if np.linalg.norm(qt) < 1e-9:
        raise BadInput("--quaternion-xyzw: the quaternion must have a non-zero norm")
    sq = parse_floats(seed_q, "--seed-q", m.nq) if seed_q is not None else None
    if timeout_ms is not None and not timeout_ms > 0:
        raise BadInput("--timeout-ms must be positive")
    _check_frame(m, frame)
    T = pose_to_T(p, qt)
    r = solve_ik(m, T, frame, sq, rng=np.random.default_rng(seed), max_restarts=max_restarts,
                 timeout_s=None if timeout_ms is None else timeout_ms * 1e-3)
    out = {
        "success": bool(r.success),
        "q": [float(v) for v in r.q],
        "position_error_m": float(r.position_error_m),
        "orientation_error_rad": float(r.orientation_error_rad),
        "iterations": int(r.iterations),
        "restarts": int(r.restarts),
        "solve_ms": float(r.solve_time_s * 1e3),
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        state = "solved" if r.success else "NOT reached"
        typer.echo(f"{m.spec.name} {frame}: {state} in {out['solve_ms']:.3f} ms ({r.iterations} iterations, "
                   f"{r.restarts} restarts)")
        typer.echo("  q [rad]             " + "  ".join(f"{v:+.6f}" for v in r.q))
        typer.echo(f"  position error      {r.position_error_m:.3e} m")
        typer.echo(f"  orientation error   {r.orientation_error_rad:.3e} rad")
    if not r.success:
        if not as_json:
            typer.echo("officina: target not reached (unreachable or outside the joint limits)", err=True)
        raise typer.Exit(1)
