"""The safety system's speed override (speed and separation monitoring) on every command path:
the filter's scaled velocity limits (braking within the acceleration limits), SafeArm taking the
override from the arm it wraps, and the skills slowing their trajectories down in time."""

import numpy as np
import pytest

from officina.controllers.safe_arm import SafeArm
from officina.controllers.safety import SafetyConfig, SafetyEvent, SafetyFilter
from officina.controllers.trajectory import JointTrajectory
from tests.test_safety import DT, LIM, FakeArm, state


def _stream(f, q0, v_cmd, steps, scale_at=None):
    """Position commands moving at v_cmd from q0; returns the emitted positions."""
    q = np.array(q0, float)
    out = []
    for k in range(steps):
        if scale_at is not None and k in scale_at:
            f.set_speed_scale(scale_at[k])
        q = q + np.asarray(v_cmd) * DT
        out.append(f.filter_position(q, state(out[-1] if out else q0)).command)
    return np.array(out)


def test_filter_scales_velocity_limits_and_brakes_within_the_acceleration_limit():
    f = SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=0))
    q0 = [-0.5, -1.0, 0.6]
    v_cmd = np.array([0.9, 1.8, 0.4])  # 90 % and 80 % of the joints' limits
    out = _stream(f, q0, v_cmd, 2000, scale_at={600: 0.5, 1200: 0.0, 1600: 1.0})
    v = np.diff(np.vstack([q0, out]), axis=0) / DT
    acc = np.diff(v, axis=0) / DT
    assert np.all(np.abs(acc) <= LIM.acceleration + 1e-6)  # never jerked to a stop
    assert np.all(v[550] >= 0.9 * v_cmd)  # before the override: full speed (catching up at first)
    assert np.all(np.abs(v[1150]) <= 0.5 * LIM.velocity + 1e-9)  # half the limits
    assert np.allclose(v[1550], 0.0)  # override 0: at rest, holding while the commands run on
    assert f.speed_scale == 1.0
    # override back to 1: the arm moves again toward the commands, within the limits
    assert np.any(np.abs(v[1990]) > 0.1)
    assert np.all(np.abs(v) <= LIM.velocity + 1e-9)


def test_filter_without_override_is_unchanged():
    a = SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=0))
    b = SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=0))
    b.set_speed_scale(1.0)
    b.set_speed_scale(float("nan"))  # not a number: 0
    assert b.speed_scale == 0.0
    b.set_speed_scale(1.0)
    ra = _stream(a, [-0.5, -1.0, 0.6], [0.9, 1.8, 0.4], 300)
    rb = _stream(b, [-0.5, -1.0, 0.6], [0.9, 1.8, 0.4], 300)
    np.testing.assert_array_equal(ra, rb)


def test_velocity_and_torque_modes_obey_the_override():
    f = SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=0))
    f.reset(state([0.0, 0.0, 1.0]))
    for _ in range(500):
        out = f.filter_velocity([0.9, 1.8, 0.4], state([0.0, 0.0, 1.0])).command
    f.set_speed_scale(0.25)
    for _ in range(500):
        out = f.filter_velocity([0.9, 1.8, 0.4], state([0.0, 0.0, 1.0])).command
    assert np.all(np.abs(out) <= 0.25 * LIM.velocity + 1e-9)
    g = SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=0))
    g.set_speed_scale(0.25)
    r = g.filter_torque([1.0, 1.0, 1.0], state([0.0, 0.0, 1.0], v=[0.5, 0.0, 0.0]))
    # joint 0 at 0.5 rad/s is above 0.25 x 1 rad/s: braked (torque against its motion)
    assert r.command[0] < 0 and any(e.event == SafetyEvent.VELOCITY_LIMIT for e in r.events)


class OverrideArm(FakeArm):
    speed_scaling = 1.0


def test_safe_arm_takes_the_override_from_the_robot_and_records_the_stop():
    inner = OverrideArm()
    seen = []
    arm = SafeArm(inner, SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=0)), on_event=seen.append)
    q = inner.q.copy()
    for k in range(1500):
        if k == 500:
            inner.speed_scaling = 0.0
        arm.monitor()
        q = q + np.array([0.5, 0.5, 0.2]) * DT
        arm.command_positions(q)
        inner.tick()
    assert arm.speed_scaling == 0.0
    assert np.allclose(inner.v, 0.0)  # at rest under the override
    stops = [e for e in seen if e.event == SafetyEvent.SPEED_OVERRIDE_STOP]
    assert arm.counts["speed_override_stop"] == 1 and "speed override" in stops[0].reason
    # not a protective stop (that is the stop on contact) and not a fault: the arm resumes by itself
    assert arm.counts["protective_stop"] == 0
    assert arm.fault() is None
    inner.speed_scaling = 1.0
    for _ in range(300):
        arm.monitor()
        q = q + np.array([0.5, 0.5, 0.2]) * DT
        arm.command_positions(q)
        inner.tick()
    assert arm.speed_scaling == 1.0 and np.any(np.abs(inner.v) > 0.1)
    assert arm.counts["speed_override_stop"] == 1 and arm.counts["protective_stop"] == 0


def _ramp_traj(n=800):
    """A smooth rest-to-rest move of joints 0 and 1 (0.2 and 0.16 rad, 1 - cos profile)."""
    t = np.arange(n) * DT
    T = t[-1]
    u = 0.5 * (1 - np.cos(np.pi * t / T))
    du = 0.5 * np.pi / T * np.sin(np.pi * t / T)
    q = np.stack([0.2 * u, 0.16 * u, np.full(n, 1.0)], axis=1)
    qd = np.stack([0.2 * du, 0.16 * du, np.zeros(n)], axis=1)
    return JointTrajectory(dt=DT, t=t, q=q, qd=qd, qdd=np.zeros_like(q))


@pytest.mark.parametrize("scale, periods", [(1.0, 800), (0.5, 1599)])
def test_skills_slow_trajectories_down_in_time(scale, periods):
    from officina.controllers.skills import Skills

    inner = OverrideArm()
    inner.q = np.array([0.0, 0.0, 1.0])
    arm = SafeArm(inner, SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=0)))
    ticks = []

    def tick():
        inner.tick()
        arm.monitor()
        ticks.append(inner.q.copy())

    inner.speed_scaling = scale
    arm.monitor()

    sk = Skills.__new__(Skills)  # execute needs only the arm, the tick, the reference and its limits
    sk.arm, sk.tick, sk._q_cmd = arm, tick, inner.q.copy()
    sk.effort_fraction = sk.max_tcp_speed_m_s = None
    traj = _ramp_traj()
    r = sk.execute(traj)
    assert r.ok and len(ticks) == periods
    np.testing.assert_allclose(inner.q, traj.q[-1], atol=1e-9)  # the same end, on the same path
    path = np.array(ticks)
    assert np.allclose(path[:, 0] / 0.2, path[:, 1] / 0.16, atol=1e-6)


def test_an_override_the_scene_sets_holds_the_next_command():
    """A task's scene process (`before_step`) that sets the cell's speed override to 0 in a
    period: the command sent after that period already obeys it (the arm brakes within its
    acceleration limit from there), not one period later."""
    from officina.robots import load_robot
    from officina.sim.arm import SimArm
    from officina.sim.world import SimWorld
    from officina.tasks.runtime import Clock

    with SimWorld() as w:
        spec = load_robot("panda")
        handle = w.load_robot(spec)
        arm = SafeArm(SimArm(w, handle), SafetyFilter(spec.limits, 0.001, SafetyConfig(watchdog_periods=0)))
        stop_at = 200

        def scene(t):
            if clock.k == stop_at:
                w.set_speed_override(handle, 0.0)

        clock = Clock(w, arm, 1, before_step=scene)
        q = arm.read().position.copy()
        v = 0.0
        for k in range(stop_at + 1):  # joint 0 speeds up at 2 rad/s^2, then the override falls to 0
            v += 2.0 * 0.001
            q[0] += v * 0.001
            arm.command_positions(q.copy())
            clock.tick()
        assert arm.speed_scaling == 0.0
        sent = float(arm.last_command[0])
        q[0] += v * 0.001
        arm.command_positions(q.copy())
        # the command after the period the override fell in steps less than the stream's step:
        # braking started with it
        assert float(arm.last_command[0]) - sent < v * 0.001 - 1e-9, (float(arm.last_command[0]) - sent, v * 0.001)


def test_a_command_the_filter_changes_carries_the_filters_velocity_as_feed_forward():
    """A stream with a feed-forward, under a speed override that makes the filter clamp it: the
    arm gets the velocity of the clamped commands as feed-forward, never a command without one
    (a position controller then damps toward rest for that period: a jolt every clamp)."""
    from tests.test_safety_fastpath import PANDA, _RecordingArm

    inner = _RecordingArm(PANDA)
    arm = SafeArm(inner, SafetyFilter(PANDA, 0.001, SafetyConfig(watchdog_periods=0)))
    v = 0.5 * PANDA.velocity  # half the limits: clamped once the override is below 0.5
    q = inner.q.copy()
    for k in range(600):
        if k == 300:
            arm.safety.set_speed_scale(0.2)
        q = q + v * 0.001
        arm.command_positions(q.copy(), v.copy())
    assert arm.counts["velocity_limit"] + arm.counts["acceleration_limit"] > 0  # it clamped
    assert all(qd is not None for _, qd in inner.received)
    sent = np.array([c for c, _ in inner.received])
    ff = np.array([qd for _, qd in inner.received])
    # while clamped, the feed-forward is the commands' own velocity
    np.testing.assert_allclose(ff[301:], np.diff(sent, axis=0)[300:] / 0.001, atol=1e-9)
    assert np.all(np.abs(ff[-1]) <= 0.2 * PANDA.velocity + 1e-9)
