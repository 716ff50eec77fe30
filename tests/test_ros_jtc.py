"""joint_trajectory_controller semantics as pure functions (no DDS): validation and interpolation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from officina.ros.jtc import (
    Interp, JointTrajectoryFollower, JtcConfig, TrajectoryMsg, TrajectoryPointMsg as P, TrajectoryRejected,
    interpolate, validate_trajectory,
)

J = ("a", "b", "c")
HOLD = np.zeros(3)


def msg(points, names=J, stamp=0.0):
    return TrajectoryMsg(stamp, tuple(names), tuple(points))


def test_accepts_any_joint_order_and_reorders():
    t = validate_trajectory(msg([P(1.0, (3.0, 1.0, 2.0))], names=("c", "a", "b")), J, 10.0, HOLD)
    np.testing.assert_array_equal(t.q[0], [1.0, 2.0, 3.0])
    assert t.start == 10.0 and t.end == 11.0 and t.kind == Interp.LINEAR


@pytest.mark.parametrize("m, why", [
    (msg([]), "empty trajectory"),
    (msg([P(1.0, (0, 0, 0))], names=()), "empty joint_names"),
    (msg([P(1.0, (0, 0))], names=("a", "b")), "allow_partial_joints_goal"),
    (msg([P(1.0, (0, 0, 0))], names=("a", "b", "x")), "unknown joints"),
    (msg([P(1.0, (0, 0, 0))], names=("a", "a", "b")), "duplicate"),
    (msg([P(1.0, (0, 0, 0)), P(1.0, (1, 1, 1))]), "strictly increasing"),
    (msg([P(1.0, (0, 0, 0)), P(0.5, (1, 1, 1))]), "strictly increasing"),
    (msg([P(1.0, ())]), "positions are required"),
    (msg([P(1.0, (0, 0))]), "2 positions for 3 joints"),
    (msg([P(1.0, (0, float("nan"), 0))]), "non-finite"),
    (msg([P(1.0, (0, 0, 0), (1, 0, 0))]), "non-zero velocity"),
    (msg([P(1.0, (0, 0, 0), (0, 0, 0)), P(2.0, (0, 0, 0))]), "some points but not all"),
    (msg([P(1.0, (0, 0, 0))], stamp=5.0), "ends in the past"),
    (msg([P(-1.0, (0, 0, 0))]), "negative"),
])
def test_rejections(m, why):
    with pytest.raises(TrajectoryRejected, match=why):
        validate_trajectory(m, J, 10.0, HOLD)


def test_partial_goal_allowed_fills_held_joints():
    cfg = JtcConfig(allow_partial_joints_goal=True)
    t = validate_trajectory(msg([P(1.0, (5.0,))], names=("b",)), J, 0.0, np.array([1.0, 2.0, 3.0]), cfg)
    np.testing.assert_array_equal(t.q[0], [1.0, 5.0, 3.0])


def test_nonzero_end_velocity_allowed_by_parameter():
    cfg = JtcConfig(allow_nonzero_velocity_at_trajectory_end=True)
    t = validate_trajectory(msg([P(1.0, (0, 0, 0), (1, 0, 0))]), J, 0.0, HOLD, cfg)
    assert t.kind == Interp.CUBIC


def test_past_waypoints_dropped_future_kept():
    t = validate_trajectory(msg([P(1.0, (1, 1, 1)), P(3.0, (2, 2, 2))], stamp=8.0), J, 10.0, HOLD)
    assert len(t.times) == 1 and t.times[0] == 11.0


def test_kind_by_fields():
    lin = validate_trajectory(msg([P(1.0, (1, 1, 1))]), J, 0.0, HOLD)
    cub = validate_trajectory(msg([P(1.0, (1, 1, 1), (0, 0, 0))]), J, 0.0, HOLD)
    qui = validate_trajectory(msg([P(1.0, (1, 1, 1), (0, 0, 0), (0, 0, 0))]), J, 0.0, HOLD)
    assert (lin.kind, cub.kind, qui.kind) == (Interp.LINEAR, Interp.CUBIC, Interp.QUINTIC)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=6, max_size=6), st.floats(0.05, 5.0))
def test_splines_hit_boundary_conditions(v, T):
    p0, v0, a0, p1, v1, a1 = (np.array([x]) for x in v)
    for kind in Interp:
        q, qd, qdd = interpolate(kind, T, 0.0, p0, v0, a0, p1, v1, a1)
        np.testing.assert_allclose(q, p0, atol=1e-9)
        q1, qd1, qdd1 = interpolate(kind, T, T * (1 - 1e-12), p0, v0, a0, p1, v1, a1)
        np.testing.assert_allclose(q1, p1, atol=1e-6 * (1 + abs(v[3])))
        if kind != Interp.LINEAR:
            np.testing.assert_allclose(qd, v0, atol=1e-9)
            np.testing.assert_allclose(qd1, v1, atol=1e-5 * max(1, T ** -1))
        if kind == Interp.QUINTIC:
            np.testing.assert_allclose(qdd, a0, atol=1e-9)
            np.testing.assert_allclose(qdd1, a1, atol=1e-4 * max(1, T ** -2))


@pytest.mark.parametrize("kind", list(Interp))
def test_derivatives_consistent_with_finite_differences(kind):
    rng = np.random.default_rng(0)
    a = [rng.normal(size=2) for _ in range(6)]
    T, h = 1.3, 1e-6
    for s in np.linspace(0.05, 1.25, 7):
        q_m = interpolate(kind, T, s - h, *a)[0]
        q_p, qd_p, _ = interpolate(kind, T, s + h, *a)
        _, qd, qdd = interpolate(kind, T, s, *a)
        np.testing.assert_allclose((q_p - q_m) / (2 * h), qd, rtol=1e-5, atol=1e-6)
        if kind != Interp.LINEAR:
            qd_m = interpolate(kind, T, s - h, *a)[1]
            np.testing.assert_allclose((qd_p - qd_m) / (2 * h), qdd, rtol=1e-4, atol=1e-4)


def test_follower_interpolates_from_hold_then_holds_last_point():
    f = JointTrajectoryFollower(np.zeros(3))
    f.set_trajectory(validate_trajectory(msg([P(1.0, (1, 2, 3)), P(2.0, (2, 2, 2))]), J, 0.0, HOLD))
    np.testing.assert_allclose(f.sample(0.0)[0], 0.0)
    np.testing.assert_allclose(f.sample(0.5)[0], [0.5, 1.0, 1.5])  # linear from the hold
    np.testing.assert_allclose(f.sample(1.5)[0], [1.5, 2.0, 2.5])
    q, qd, _ = f.sample(5.0)
    np.testing.assert_allclose(q, [2, 2, 2])
    np.testing.assert_allclose(qd, 0.0)
    assert not f.executing


def test_future_start_is_deferred_and_replacement_starts_from_desired_state():
    f = JointTrajectoryFollower(np.zeros(3))
    f.set_trajectory(validate_trajectory(msg([P(2.0, (2, 2, 2), (0, 0, 0))]), J, 0.0, HOLD))
    q1, qd1, _ = f.sample(1.0)  # halfway along a cubic from rest
    np.testing.assert_allclose(q1, 1.0)
    new = validate_trajectory(msg([P(1.0, (-1, -1, -1), (0, 0, 0))], stamp=1.5), J, 1.0, q1)
    f.set_trajectory(new)
    q_before = f.sample(1.25)[0]  # still the first trajectory until 1.5 s
    assert q_before[0] > 1.0
    q_h, qd_h, _ = f.sample(1.5)  # hand-off: continuous position and velocity
    q_next = f.sample(1.504)[0]
    assert abs(q_next[0] - q_h[0]) < 0.02
    np.testing.assert_allclose(f.sample(2.5)[0], -1.0)


def test_first_point_at_zero_time_is_reached_at_once():
    f = JointTrajectoryFollower(np.zeros(3))
    f.set_trajectory(validate_trajectory(msg([P(0.0, (1, 1, 1)), P(1.0, (2, 2, 2))]), J, 0.0, HOLD))
    np.testing.assert_allclose(f.sample(0.0)[0], 1.0)


def test_hold_cancels_trajectory():
    f = JointTrajectoryFollower(np.zeros(3))
    f.set_trajectory(validate_trajectory(msg([P(1.0, (1, 1, 1))]), J, 0.0, HOLD))
    f.sample(0.5)
    f.hold(np.array([0.2, 0.2, 0.2]))
    np.testing.assert_allclose(f.sample(0.6)[0], 0.2)
    assert not f.executing


def test_start_from_a_moving_state_continues_its_velocity():
    """The gate checks a trajectory as the controller will run it from where a moving arm is: the
    spline to the first point starts at the measured position with the measured velocity."""
    q0, v0 = np.array([0.1, 0.0, -0.1]), np.array([0.5, 0.0, -0.2])
    f = JointTrajectoryFollower(np.zeros(3))
    f.start_from(q0, v0)
    np.testing.assert_allclose(f.desired[0], q0)
    np.testing.assert_allclose(f.desired[1], v0)
    f.set_trajectory(validate_trajectory(msg([P(2.0, (1, 1, 1), (0, 0, 0), (0, 0, 0))]), J, 0.0, q0))
    q_a, qd_a, _ = f.sample(0.0)
    np.testing.assert_allclose(q_a, q0)
    np.testing.assert_allclose(qd_a, v0, atol=1e-12)
    h = 1e-5
    np.testing.assert_allclose((f.sample(h)[0] - q_a) / h, v0, atol=1e-3)
