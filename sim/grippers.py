"""The simulated gripper of a robot, by the kind its robot file declares."""

from __future__ import annotations

from officina.sim.arm import SimGripper
from officina.sim.vacuum import SimVacuumGripper
from officina.sim.world import SimRobotHandle, SimWorld

__all__ = ["make_gripper"]


def make_gripper(world: SimWorld, robot: SimRobotHandle) -> SimGripper | SimVacuumGripper | None:
    """`SimVacuumGripper` for ``kind: vacuum``, `SimGripper` for finger grippers, None for none."""
    spec = robot.spec.gripper
    if spec is None:
        return None
    if spec.kind == "vacuum":
        return SimVacuumGripper(world, robot)
    return SimGripper(world, robot)
