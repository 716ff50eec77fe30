"""Contact nobody planned for: the external-torque estimate against the simulator's own forces,
and the protective stop of `SafeArm` when the arm hits something."""

import numpy as np
import pybullet as p
import pytest

from officina.controllers.contact import ContactMonitor, ContactThresholds, ExternalTorqueObserver, force_norm
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


def test_force_norm_is_lstsq_with_its_cutoff():
    """The closed form of the tcp force gives lstsq's answer (rcond 1e-3): on random Jacobians,
    and near a singularity, where a singular value below the cut-off is dropped."""
    rng = np.random.default_rng(3)
    for n in (6, 7):
        for scale in (1.0, 1e-2, 2e-3, 1e-4):
            U, _ = np.linalg.qr(rng.normal(size=(3, 3)))
            V, _ = np.linalg.qr(rng.normal(size=(n, 3)))
            Jv = U @ np.diag([0.8, 0.4, 0.8 * scale]) @ V.T
            tau = rng.normal(size=n) * 5.0
            F, *_ = np.linalg.lstsq(Jv.T, tau, rcond=1e-3)
            assert force_norm(Jv, tau) == pytest.approx(float(np.linalg.norm(F)), rel=1e-9)


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
        assert sum(c[9] for c in pts) < 100.0
        assert arm.clear_fault() and arm.fault() is None
        q_back = arm.read().position.copy()
        q_back[1] -= 0.2  # away from the block: commands move the arm again
        arm.command_positions(arm.read().position + np.clip(q_back - arm.read().position, -1e-4, 1e-4))
        assert arm.counts["protective_stop"] == 1


def _panda_over_a_table(w: SimWorld, **wrist_kw):
    """The Panda above a table, through the safety filter, its fingers closed and settled: its
    Skills, model, body and a wrist sensor (``wrist_kw`` for SimForceTorqueSensor)."""
    from officina.controllers.skills import Skills
    from officina.sim.arm import SimForceTorqueSensor

    spec = load_robot("panda")
    m = RobotModel.from_spec(spec)
    h = w.load_robot(spec)
    g = SimGripper(w, h)
    w.add_table(top_center_xyz=(0.35, 0.0, 0.0))
    arm = SafeArm(SimArm(w, h), SafetyFilter(spec.limits, 0.001, SafetyConfig()))

    def tick():
        arm.monitor()
        w.step(1)

    wrist = SimForceTorqueSensor(w, h, "panda_hand_joint", rng=np.random.default_rng(0), **wrist_kw)
    sk = Skills(arm, g, m, tick, rng=np.random.default_rng(0))
    g.close(0.0, 20.0)
    sk.settle(0.5)
    return sk, m, h, wrist


@pytest.mark.parametrize("sensor", ["estimate", "wrist"])
def test_guarded_move_stops_on_the_table(sensor):
    """move_until_contact straight down onto the table stops at its surface with a bounded force,
    measured by the wrist sensor or estimated from the joint torques."""
    from officina.controllers.skills import SkillStatus

    with SimWorld() as w:
        sk, m, h, wrist = _panda_over_a_table(w)
        wrist = wrist if sensor == "wrist" else None
        # nothing to touch within reach: the line ends without contact
        r = sk.move_until_contact([0, 0, 1], 0.1, 10.0, speed_m_s=0.05, wrist=wrist)
        assert r.status == SkillStatus.NO_CONTACT, r.message
        r = sk.move_until_contact([0, 0, -1], 0.7, 10.0, speed_m_s=0.05, wrist=wrist)
        assert r.status == SkillStatus.OK, r.message
        assert 10.0 <= r.info["force_n"] < 80.0
        assert -0.005 < r.info["tcp_xyz"][2] < 0.02  # the closed fingertips on the table top (z = 0)
        sk.settle(0.5)
        pressing = sum(c[9] for c in p.getContactPoints(bodyA=h.body_id, physicsClientId=w.client_id))
        assert pressing < 60.0


def test_guarded_move_averages_a_noisy_sensor():
    """A sensor as noisy as the UR5e's (3.5 N standard deviation) against a 12 N threshold: reading
    by reading, the noise of a tared sample crosses it long before the table; averaged over 20
    periods (the tare too), the move stops on the table."""
    from officina.controllers.skills import SkillStatus

    with SimWorld() as w:
        sk, m, h, wrist = _panda_over_a_table(w, noise_std=(3.5, 3.5, 3.5, 0.2, 0.2, 0.2))
        q0 = sk.q_command
        z0 = m.frame_transform(q0, "tcp")[2, 3]
        r = sk.move_until_contact([0, 0, -1], 0.7, 12.0, speed_m_s=0.05, wrist=wrist)
        assert r.status == SkillStatus.OK and r.info["tcp_xyz"][2] > 0.1  # a false contact in mid-air
        sk.move_joints(q0)
        r = sk.move_until_contact([0, 0, -1], 0.7, 12.0, speed_m_s=0.05, wrist=wrist, average_periods=20)
        assert r.status == SkillStatus.OK, r.message
        assert -0.005 < r.info["tcp_xyz"][2] < 0.02 and r.info["travel_m"] == pytest.approx(z0, abs=0.02)
        assert 12.0 <= r.info["force_n"] < 80.0
        # one 100 N spike on the motion's first reading (the 21st: the tare takes 20): the mean of
        # fewer than 20 readings is not compared, and in the window it counts 5 N
        sk.move_joints(q0)
        R = m.frame_transform(sk.q_command, "flange")[:3, :3]
        spiky = _OneSpike(wrist, 21, R.T @ np.array([0.0, 0.0, 100.0]))
        r = sk.move_until_contact([0, 0, -1], 0.7, 12.0, speed_m_s=0.05, wrist=spiky, average_periods=20)
        assert r.status == SkillStatus.OK and spiky.reads > 21, r.message
        assert -0.005 < r.info["tcp_xyz"][2] < 0.02 and r.info["travel_m"] == pytest.approx(z0, abs=0.02)


class _OneSpike:
    """A force/torque sensor with ``extra_force`` added to its ``at``-th reading."""

    def __init__(self, sensor, at: int, extra_force) -> None:
        self.sensor, self.at, self.extra, self.reads = sensor, at, np.asarray(extra_force, float), 0

    def read(self):
        from officina.interfaces import Wrench

        self.reads += 1
        w = self.sensor.read()
        return Wrench(w.stamp, w.force + self.extra, w.torque) if self.reads == self.at else w


def test_a_skill_ends_with_the_protective_stop_and_resumes_after_clearing():
    from officina.controllers.skills import SkillStatus, Skills

    spec = load_robot("panda")
    m = RobotModel.from_spec(spec)
    with SimWorld() as w:
        h = w.load_robot(spec)
        sim = SimArm(w, h)
        g = SimGripper(w, h)
        q0 = sim.read().position.copy()
        T = m.frame_transform(q0, "tcp")
        w.add_table(top_center_xyz=(T[0, 3], T[1, 3], T[2, 3] - 0.08), size_xy=(0.2, 0.2), thickness=0.05)
        mon = ContactMonitor(m, ContactThresholds(joint_torque_nm=spec.protective_stop.joint_torque_nm))
        arm = SafeArm(sim, SafetyFilter(spec.limits, 0.001, SafetyConfig()), contact=mon)

        def tick():
            arm.monitor()
            w.step(1)

        sk = Skills(arm, g, m, tick, rng=np.random.default_rng(0), velocity_scale=0.3)
        q_goal = q0.copy()
        q_goal[1] += 0.9
        q_goal[3] += 0.2
        r = sk.move_joints(q_goal)
        assert r.status == SkillStatus.PROTECTIVE_STOP and "protective stop" in r.message
        np.testing.assert_allclose(sk.q_command, arm.read().position)
        sk.settle(0.3)  # the arm comes to rest in the hold
        assert np.abs(arm.read().velocity).max() < 0.01
        assert sk.clear_fault() and arm.fault() is None
        r = sk.move_joints(q0)  # back up, away from the block
        assert r.ok, r.message
        np.testing.assert_allclose(arm.read().position, q0, atol=0.01)


@pytest.mark.parametrize("field", ["position", "velocity", "effort"])
def test_a_state_that_is_not_a_number_stops_and_does_not_blind_the_monitor(field):
    """One joint state with a NaN (a sensor glitch, a physics blow-up) gives a stop, not silence;
    the estimate is left as it was, so that the contact that follows is still seen."""
    from officina.interfaces import JointState

    spec = load_robot("panda")
    model = RobotModel.from_spec(spec)
    q = np.asarray(spec.home, float)
    n = len(q)
    g = model.gravity(q)
    mon = ContactMonitor(model, ContactThresholds(tuple([10.0] * n), 50.0))

    def st(t, eff, **bad):
        vals = {"position": q, "velocity": np.zeros(n), "effort": eff}
        vals.update({k: np.full(n, np.nan) for k in bad})
        return JointState(t, spec.joint_names, vals["position"], vals["velocity"], vals["effort"])

    mon.reset(st(0.0, g))
    assert not any(mon.check(st(k * 0.002, g)).stop for k in range(1, 5))
    v = mon.check(st(0.010, g, **{field: True}))
    assert v.stop and "not a number" in v.reason
    assert np.all(np.isfinite(mon.observer.residual))
    assert not mon.check(st(0.012, g)).stop  # numbers again, no contact: no stop
    ext = np.zeros(n)
    ext[1] = 40.0  # 40 N m from outside on joint 2, the arm held still: the motor takes it
    stops = [mon.check(st(0.012 + k * 0.002, g - ext)) for k in range(1, 200)]
    assert any(s.stop for s in stops)
    assert "external torque" in next(s for s in stops if s.stop).reason


def test_guarded_move_reads_the_wrist_sensor_in_its_own_frame():
    """The Panda's wrist sensor sits on panda_hand_joint, turned 45 deg about z on the flange: a
    sideways guarded move compares the force along its direction, not a component turned by
    45 deg (which would stop it at 1.4 times the asked force)."""
    from officina.controllers.skills import Skills
    from officina.interfaces import Wrench

    spec = load_robot("panda")
    m = RobotModel.from_spec(spec)
    with SimWorld() as w:
        h = w.load_robot(spec)
        arm = SimArm(w, h)
        sk = Skills(arm, None, m, lambda: w.step(arm.substeps), rng=np.random.default_rng(0))
        sk.settle(0.2)
        x0 = m.frame_transform(sk.q_command, "tcp")[0, 3] + 0.01  # a wall 1 cm ahead along base x
        k_wall = 2000.0  # N/m

        def wall_force(q):
            return np.array([-k_wall * max(0.0, m.frame_transform(q, "tcp")[0, 3] - x0), 0.0, 0.0])

        class WallSensor:
            """What a sensor in its joint's frame (as SimForceTorqueSensor) reads of the wall."""

            def read(self):
                q = arm.read().position
                R = m.frame_transform(q, spec.wrist_sensor.joint)[:3, :3]
                return Wrench(w.time, R.T @ wall_force(q), np.zeros(3))

        r = sk.move_until_contact([1.0, 0.0, 0.0], 0.05, 10.0, speed_m_s=0.02, wrist=WallSensor())
        assert r.ok, r.message
        true_n = float(-wall_force(arm.read().position)[0])
        assert r.info["force_n"] == pytest.approx(true_n, rel=0.02)
        assert 10.0 <= true_n < 11.5


def test_guarded_move_waits_at_the_end_of_its_line_for_an_arm_that_lags():
    """An arm behind a network lags its commands (the controller's and the network's delays, more
    after a stall of a process on the way): here by 0.3 s. The wall stands 8 mm along a 10 mm
    line, so when the line's last command goes out the arm has not reached it. The guarded move
    holds the line's end until the arm has reached it and finds the wall; without a wall it
    reports no contact once the arm is at the end."""
    from collections import deque

    from officina.controllers.skills import Skills, SkillStatus
    from officina.interfaces import JointState, Wrench

    spec = load_robot("panda")
    m = RobotModel.from_spec(spec)
    dt, lag = 0.004, 75

    class LaggingArm:
        """Reaches each command ``lag`` periods after it was sent (a pure delay)."""

        control_period = dt

        def __init__(self):
            self.t = 0.0
            self.cmd = np.asarray(spec.home, float)
            self.past = deque([self.cmd.copy()] * (lag + 1), maxlen=lag + 1)

        def command_positions(self, q, qd=None):
            self.cmd = np.asarray(q, float).copy()

        def tick(self):
            self.t += dt
            self.past.append(self.cmd)

        def read(self):
            n = len(spec.home)
            return JointState(self.t, spec.joint_names, self.past[0].copy(), np.zeros(n), np.zeros(n))

        def fault(self):
            return None

    for wall in (True, False):
        arm = LaggingArm()
        sk = Skills(arm, None, m, arm.tick, rng=np.random.default_rng(0))
        x0 = m.frame_transform(arm.cmd, "tcp")[0, 3] + 0.008

        class WallSensor:
            def read(self):
                q = arm.read().position
                fx = -20000.0 * max(0.0, m.frame_transform(q, "tcp")[0, 3] - x0) if wall else 0.0
                R = m.frame_transform(q, spec.wrist_sensor.joint)[:3, :3]
                return Wrench(arm.t, R.T @ np.array([fx, 0.0, 0.0]), np.zeros(3))

        r = sk.move_until_contact([1.0, 0.0, 0.0], 0.010, 10.0, speed_m_s=0.02, wrist=WallSensor())
        if wall:
            assert r.ok, r.message
            assert 0.0085 <= r.info["travel_m"] < 0.0095
        else:
            assert r.status == SkillStatus.NO_CONTACT
            assert np.max(np.abs(arm.read().position - sk.q_command)) < 2e-3  # the arm is at the line's end
            tcp = m.frame_transform(arm.read().position, "tcp")[0, 3]
            assert tcp > x0 + 0.001
