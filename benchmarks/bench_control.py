"""Tracking benchmark: RMS/max joint and tcp error per robot and control law.

    officina bench control [--robot R] [--law L] [--json]
    .venv/bin/python benchmarks/bench_control.py [same options]

Each law tracks the standard trajectory (`officina.controllers.tracking.standard_trajectory`:
home -> home + offsets -> home at half the velocity and acceleration limits) through
`officina.controllers.tracking.track` on a PyBullet `SimArm` in torque mode at 1 kHz.
"""

from __future__ import annotations

import time

from officina.controllers.laws import LAWS
from officina.controllers.model import RobotModel
from officina.controllers.trajectory import JointTrajectory
from officina.controllers.tracking import standard_trajectory, track
from officina.errors import BadInput
from officina.robots import load_robot

__all__ = ["DEFAULT_ROBOTS", "run_tracking", "run_tracking_benchmark"]

DEFAULT_ROBOTS = ("panda", "iiwa", "ur5e")


def _law_class(law_name: str):
    if law_name not in LAWS:
        raise BadInput(f"unknown control law {law_name!r}; expected one of {', '.join(LAWS)}")
    return LAWS[law_name][0]


def run_tracking(robot: str, law_name: str, *, dt: float = 0.001, velocity_scale: float = 0.5,
                 law_kwargs: dict | None = None, traj: JointTrajectory | None = None, safety: bool = False,
                 settle_s: float = 0.0) -> dict:
    """Track the standard trajectory (or ``traj``) with one law on a simulated ``robot`` (a name or
    a robot YAML path) in torque mode at 1/dt, through the safety filter when ``safety``; returns
    `TrackingResult.to_json` with the robot and law names."""
    from officina.sim.arm import SimArm
    from officina.sim.world import SimWorld

    cls = _law_class(law_name)
    spec = load_robot(robot)
    m = RobotModel.from_spec(spec)
    law = cls(m, dt, **(law_kwargs or {}))
    ref = standard_trajectory(m, dt, velocity_scale) if traj is None else traj
    with SimWorld(sim_dt=min(dt, 0.001)) as world:
        sim = SimArm(world, world.load_robot(spec), control_dt=dt)
        sim.reset(ref.q[0])
        arm = sim
        if safety:
            from officina.controllers.safe_arm import SafeArm
            from officina.controllers.safety import SafetyConfig, SafetyFilter

            arm = SafeArm(sim, SafetyFilter(spec.limits, dt, SafetyConfig()))
        res = track(arm, law, ref, lambda: world.step(sim.substeps), settle_s=settle_s)
    return {"robot": spec.name, "law": law_name, **res.to_json()}


def run_tracking_benchmark(robots: list[str] | tuple[str, ...] = DEFAULT_ROBOTS,
                           laws: list[str] | tuple[str, ...] = tuple(LAWS)) -> dict:
    """`run_tracking` for every robot and law, with each one's wall time."""
    for law in laws:
        _law_class(law)
    rows = []
    for r in robots:
        for law in laws:
            t0 = time.perf_counter()
            row = run_tracking(r, law)
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)
    return {
        "trajectory": "home -> home + offsets -> home (Ruckig, 0.5 x velocity/acceleration limits), 1 kHz torque "
        "control on SimArm; errors of the state one period after each command",
        "results": rows,
    }


if __name__ == "__main__":
    import sys

    from officina.cli import main

    main(["bench", "control", *sys.argv[1:]])
