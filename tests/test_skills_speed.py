"""The tool speed limit of `Skills` (max_tcp_speed_m_s) and `time_scale`, on the ur10e in PyBullet."""

import numpy as np
import pytest

from officina.controllers.model import RobotModel
from officina.controllers.skills import Skills
from officina.controllers.trajectory import TrajectoryError, plan_joint_move, time_scale
from officina.robots import load_robot
from officina.sim.arm import SimArm
from officina.sim.world import SimWorld


def test_time_scale_keeps_the_path_and_slows_it_down():
    spec = load_robot("ur10e")
    q0 = spec.home.copy()
    q1 = q0 + np.array([0.8, -0.3, 0.4, 0.2, 0.5, -0.6])
    tr = plan_joint_move(q0, q1, spec.limits, 0.001)
    slow = time_scale(tr, 2.5)
    assert slow.duration == pytest.approx(2.5 * tr.duration, abs=0.002)
    assert np.allclose(slow.q[-1], tr.q[-1]) and np.allclose(slow.qd[-1], 0, atol=1e-9)
    assert np.abs(slow.qd).max() == pytest.approx(np.abs(tr.qd).max() / 2.5, rel=1e-2)
    # the same path: every sample of the slow one lies between neighbouring samples of the original
    k = len(slow) // 2
    t_src = slow.t[k] / 2.5
    assert np.allclose(slow.q[k], [np.interp(t_src, tr.t, tr.q[:, j]) for j in range(6)], atol=1e-6)
    # the first period does not jump: it starts where the original starts
    assert np.abs(slow.q[0] - q0).max() < np.abs(tr.q[0] - q0).max() + 1e-9
    assert time_scale(tr, 1.0) is tr
    with pytest.raises(TrajectoryError):
        time_scale(tr, 0.5)


def test_tool_speed_limit_caps_the_measured_tcp_speed():
    spec = load_robot("ur10e")
    model = RobotModel.from_spec(spec)
    target = spec.home + np.array([-1.2, 0.3, -0.3, 0.0, 0.0, 0.5])
    peaks, ticks = {}, {}
    for cap in (None, 0.5):
        with SimWorld() as w:
            h = w.load_robot(spec)
            arm = SimArm(w, h)
            sk = Skills(arm, None, model, lambda: w.step(arm.substeps), rng=np.random.default_rng(0),
                        velocity_scale=1.0, max_tcp_speed_m_s=cap)
            speeds = []
            tick0 = sk.tick

            def tick():
                tick0()
                st = arm.read()
                speeds.append(float(np.linalg.norm(model.jacobian(st.position, "tcp")[:3] @ st.velocity)))

            sk.tick = tick
            assert sk.move_joints(target).ok
            peaks[cap] = max(speeds)
            ticks[cap] = len(speeds)
            assert np.abs(arm.read().position - target).max() < 0.01
    assert peaks[None] > 1.0  # the move is faster than the cap without it
    assert peaks[0.5] <= 0.5 * 1.03, peaks
    # timed again with lower joint velocity limits, not slowed down as a whole: the accelerations
    # stay, so the move takes less than the uniformly slowed one would
    assert ticks[None] < ticks[0.5] < 0.85 * ticks[None] * peaks[None] / 0.5, ticks
    with pytest.raises(ValueError, match="max_tcp_speed_m_s"):
        Skills(arm, None, model, lambda: None, rng=np.random.default_rng(0), max_tcp_speed_m_s=0)


def test_line_acceleration_shortens_a_short_line():
    spec = load_robot("ur10e")
    model = RobotModel.from_spec(spec)
    T = model.frame_transform(spec.home, "tcp")
    T[2, 3] -= 0.1
    ticks = {}
    for accel in (1.0, 2.0):
        with SimWorld() as w:
            h = w.load_robot(spec)
            arm = SimArm(w, h)
            n = [0]

            def tick():
                w.step(arm.substeps)
                n[0] += 1

            sk = Skills(arm, None, model, tick, rng=np.random.default_rng(0), linear_speed_m_s=0.4,
                        linear_accel_m_s2=accel)
            assert sk.move_line(T).ok
            assert np.linalg.norm(model.frame_transform(arm.read().position, "tcp")[:3, 3] - T[:3, 3]) < 0.002
            ticks[accel] = n[0]
    assert ticks[2.0] < 0.8 * ticks[1.0], ticks
    with pytest.raises(ValueError, match="linear_accel_m_s2"):
        Skills(arm, None, model, lambda: None, rng=np.random.default_rng(0), linear_accel_m_s2=0)


def test_wait_in_position_holds_until_a_lagging_arm_arrives():
    """An arm that reaches its command only some periods later (as one behind ROS does): the
    wait holds the command, ticks until the joints are within the tolerance, and reports it; an
    arm that never arrives is reported after the timeout."""
    from officina.interfaces import JointState

    spec = load_robot("panda")
    model = RobotModel.from_spec(spec)

    class LaggingArm:
        joint_names, limits, control_period = spec.joint_names, spec.limits, 0.004

        def __init__(self, lag: int | None):
            self.q = spec.home.copy()
            self.sent = []
            self.lag = lag
            self.t = 0.0

        def read(self):
            return JointState(self.t, self.joint_names, self.q.copy(), np.zeros(7), np.zeros(7))

        def command_positions(self, q, qd=None):
            self.sent.append(np.asarray(q, float).copy())

        def tick(self):
            self.t += self.control_period
            if self.lag is not None and len(self.sent) > self.lag:
                self.q = self.sent[-1 - self.lag].copy()

    for lag, ok in ((5, True), (None, False)):
        arm = LaggingArm(lag)
        sk = Skills(arm, None, model, arm.tick, rng=np.random.default_rng(0))
        target = spec.home + 0.1
        sk._q_cmd = target.copy()
        assert sk.wait_in_position(timeout_s=0.2) is ok
        assert all(np.array_equal(q, target) for q in arm.sent)  # it only ever held the command
        if ok:
            assert np.abs(arm.q - target).max() < 2e-3 and len(arm.sent) <= 8
        else:
            assert len(arm.sent) == 50
