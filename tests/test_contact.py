"""Contact nobody planned for: the external-torque estimate against the simulator's own forces,
and the protective stop of `SafeArm` when the arm hits something."""

import numpy as np
import pybullet as p
import pytest

from officina.controllers.contact import ContactMonitor, ContactThresholds, ExternalTorqueObserver
from officina.controllers.model import RobotModel
from officina.controllers.safe_arm import SafeArm
from officina.controllers.safety import SafetyConfig, SafetyFilter
from officina.controllers.trajectory import plan_joint_move
from officina.robots import load_robot
from officina.sim.arm import SimArm, SimGripper
from officina.sim.world import SimWorld


@pytest.mark.parametrize("robot", ["panda", "iiwa", "ur5e"])
def test_observer_matches_the_force_the_simulator_applies(robot):
    """Free motion: the residual stays near zero; a 30 N push at the tcp: the residual converges to
    J^T F (the same URDF in PyBullet and Pinocchio, two independent dynamics codes)."""
    spec = load_robot(robot)
    m = RobotModel.from_spec(spec)
    with SimWorld() as w:
        h = w.load_robot(spec)
        arm = SimArm(w, h)
        if spec.gripper is not None:
            SimGripper(w, h)
        obs = ExternalTorqueObserver(m, gain=60.0)
        q0 = arm.read().position.copy()
        tr = plan_joint_move(q0, q0 + 0.4 * (spec.limits.mid() - q0) + 0.2, spec.limits, 0.001,
                             velocity_scale=0.5, acceleration_scale=0.5, jerk_scale=0.5)
        obs.reset(arm.read())
        free = 0.0
        for q, qd in zip(tr.q, tr.qd):
            arm.command_positions(q, qd)
            w.step(1)
            free = max(free, float(np.abs(obs.update(arm.read())).max()))
        assert free < 0.5, free
        F = np.array([10.0, -5.0, -30.0])
        link = h.link_index[spec.tcp_parent]
        for k in range(800):
            arm.command_positions(tr.q[-1])
            if k >= 300:
                p.applyExternalForce(h.body_id, link, F.tolist(), w.tcp_position(h).tolist(), p.WORLD_FRAME,
                                     physicsClientId=w.client_id)
            w.step(1)
            r = obs.update(arm.read())
        expected = m.jacobian(arm.read().position, "tcp")[:3].T @ F
        np.testing.assert_allclose(r, expected, atol=0.05 + 0.02 * np.abs(expected).max())


def test_protective_stop_when_the_arm_hits_a_fixed_block():
    """A joint move through a block: the monitor trips, the arm brakes and holds, one event is
    recorded, commands are replaced by the hold until the fault is cleared."""
    spec = load_robot("panda")
    m = RobotModel.from_spec(spec)
    with SimWorld() as w:
        h = w.load_robot(spec)
        sim = SimArm(w, h)
        SimGripper(w, h)
        q0 = sim.read().position.copy()
        T = m.frame_transform(q0, "tcp")
        # a heavy static block 8 cm below the tcp
        w.add_table(top_center_xyz=(T[0, 3], T[1, 3], T[2, 3] - 0.08), size_xy=(0.2, 0.2), thickness=0.05)
        seen = []
        mon = ContactMonitor(m, ContactThresholds(joint_torque_nm=(20, 20, 18, 18, 16, 14, 12)))
        arm = SafeArm(sim, SafetyFilter(spec.limits, 0.001, SafetyConfig()), on_event=seen.append, contact=mon)
        q_goal = m.spec.home.copy()
        q_goal[1] += 0.9  # shoulder down: the hand goes 25 cm down, through the block
        q_goal[3] += 0.2
        tr = plan_joint_move(q0, q_goal, spec.limits, 0.001, velocity_scale=0.3, acceleration_scale=0.3,
                             jerk_scale=0.3)
        stopped_at = None
        for k, q in enumerate(tr.q):
            arm.command_positions(q)
            arm.monitor()
            w.step(1)
            if arm.fault() is not None and stopped_at is None:
                stopped_at = k
        assert stopped_at is not None and stopped_at < len(tr.q) - 1
        assert [e.event.value for e in seen] == ["protective_stop"]
        assert "external torque" in arm.fault()
        # the arm stays stopped while commands keep coming; the motion was not completed
        for _ in range(300):
            arm.command_positions(q_goal)
            arm.monitor()
            w.step(1)
        assert np.abs(arm.read().velocity).max() < 0.05
        assert np.abs(arm.read().position - q_goal).max() > 0.1
        # contact force on the block stays bounded (the arm does not push through)
        pts = p.getContactPoints(bodyA=h.body_id, physicsClientId=w.client_id)
        assert sum(c[9] for c in pts) < 300.0
        assert arm.clear_fault() and arm.fault() is None
        q_back = arm.read().position.copy()
        q_back[1] -= 0.2  # away from the block: commands move the arm again
        arm.command_positions(arm.read().position + np.clip(q_back - arm.read().position, -1e-4, 1e-4))
        assert arm.counts["protective_stop"] == 1
