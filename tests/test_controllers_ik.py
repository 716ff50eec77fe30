"""IK round trips, unreachable and invalid targets, posture, determinism; trajectories."""

import numpy as np
import pytest
from officina.controllers.ik import IKStatus, pose_error, solve_ik
from officina.controllers.model import RobotModel
from officina.controllers.trajectory import (
    TrajectoryError,
    plan_cartesian_line,
    plan_joint_move,
    plan_waypoints,
    time_scale,
    torque_time_scale,
)

from officina.robots import load_robot

ROBOTS = ["panda", "iiwa", "ur5e", "ur10e", "irb2600"]


@pytest.fixture(scope="module", params=ROBOTS)
def model(request):
    return RobotModel.from_spec(load_robot(request.param))


@pytest.mark.parametrize("frame", ["flange", "tcp"])
def test_round_trip_from_mid_seed(model, frame):
    rng = np.random.default_rng(11)
    lim = model.limits
    solved = 0
    n = 40
    for i in range(n):
        q = rng.uniform(lim.lower, lim.upper)
        T = model.frame_transform(q, frame)
        r = solve_ik(model, T, frame, lim.mid(), rng=np.random.default_rng(i), timeout_s=0.2)
        if r.success:
            solved += 1
            ep, er = pose_error(model.frame_transform(r.q, frame), T)
            assert ep <= 1e-5 and er <= 1e-5
            assert r.position_error_m == pytest.approx(ep, abs=1e-9)
            assert model.within_limits(r.q)
            assert r.status == IKStatus.SOLVED
    assert solved == n


def test_stale_model_data_does_not_fake_a_solution(model):
    """Regression: FK of the target just before IK (same pin.Data) must not make the seed 'solved'."""
    lim = model.limits
    q = np.random.default_rng(3).uniform(lim.lower, lim.upper)
    T = model.frame_transform(q, "flange")
    r = solve_ik(model, T, "flange", lim.mid())
    assert r.success
    assert pose_error(model.frame_transform(r.q, "flange"), T)[0] <= 1e-5
    assert np.abs(r.q - lim.mid()).max() > 1e-3


def test_unreachable_target_reports_errors(model):
    T = np.eye(4)
    T[:3, 3] = [3.0, 0.0, 0.5]  # far out of reach
    r = solve_ik(model, T, "tcp", rng=np.random.default_rng(0), timeout_s=0.02)
    assert not r.success and r.status == IKStatus.NOT_CONVERGED
    assert np.isfinite(r.position_error_m) and r.position_error_m > 1.0
    assert model.within_limits(r.q)
    ep, _er = pose_error(model.frame_transform(r.q, "tcp"), T)
    assert ep == pytest.approx(r.position_error_m, rel=1e-9)


@pytest.mark.parametrize("bad", [np.full((4, 4), np.nan), np.eye(3), "x"])
def test_invalid_target_never_raises(bad):
    m = RobotModel.from_spec(load_robot("panda"))
    r = solve_ik(m, bad, "tcp")
    assert not r.success and r.status == IKStatus.INVALID_INPUT


def test_deterministic_given_seed():
    m = RobotModel.from_spec(load_robot("panda"))
    q = m.spec.home + 0.3
    T = m.frame_transform(q, "tcp")
    a = solve_ik(m, T, "tcp", m.limits.lower + 0.01, rng=np.random.default_rng(5), timeout_s=1.0)
    b = solve_ik(m, T, "tcp", m.limits.lower + 0.01, rng=np.random.default_rng(5), timeout_s=1.0)
    assert a.success and np.array_equal(a.q, b.q) and a.iterations == b.iterations


def test_nullspace_posture_keeps_the_task_and_moves_toward_posture():
    m = RobotModel.from_spec(load_robot("panda"))
    q_true = m.spec.home.copy()
    T = m.frame_transform(q_true, "tcp")
    posture = q_true.copy()
    posture[2] += 0.5  # redundant elbow rotation
    seed = q_true + 0.02
    plain = solve_ik(m, T, "tcp", seed)
    pulled = solve_ik(m, T, "tcp", seed, posture=posture, posture_gain=0.5)
    assert plain.success and pulled.success
    assert np.linalg.norm(pulled.q - posture) < np.linalg.norm(plain.q - posture)


def test_joint_move_respects_limits(model):
    lim = model.limits
    rng = np.random.default_rng(1)
    q0 = rng.uniform(lim.lower, lim.upper)
    q1 = rng.uniform(lim.lower, lim.upper)
    tr = plan_joint_move(q0, q1, lim, 0.001)
    np.testing.assert_allclose(tr.q[-1], q1, atol=1e-9)
    assert np.all(np.abs(tr.qd) <= lim.velocity * (1 + 1e-6))
    assert np.all(np.abs(tr.qdd) <= lim.acceleration * (1 + 1e-6))
    jerk = np.diff(tr.qdd, axis=0) / tr.dt
    assert np.all(np.abs(jerk) <= lim.jerk * (1 + 1e-3) + 1e-6)
    assert np.all(tr.q >= lim.lower - 1e-9) and np.all(tr.q <= lim.upper + 1e-9)
    # consistency: q is the integral of qd
    np.testing.assert_allclose(np.diff(tr.q, axis=0), 0.5 * (tr.qd[1:] + tr.qd[:-1]) * tr.dt, atol=1e-5)


@pytest.mark.parametrize("sync", ["phase", "time", "none"])
def test_sampled_trajectory_matches_ruckig_at_time(sync):
    """The samples evaluated from the jerk profiles all at once equal Ruckig's own at_time."""
    from ruckig import InputParameter, Ruckig, Synchronization, Trajectory

    from officina.controllers.trajectory import sample

    rng = np.random.default_rng(5)
    n = 7
    for k in range(20):
        inp = InputParameter(n)
        inp.current_position = rng.uniform(-2, 2, n).tolist()
        inp.target_position = rng.uniform(-2, 2, n).tolist()
        if k % 2:
            inp.current_velocity = rng.uniform(-0.5, 0.5, n).tolist()
        inp.max_velocity = rng.uniform(1, 3, n).tolist()
        inp.max_acceleration = rng.uniform(2, 15, n).tolist()
        inp.max_jerk = rng.uniform(20, 7500, n).tolist()
        inp.synchronization = {"phase": Synchronization.Phase, "time": Synchronization.Time,
                               "none": Synchronization.No}[sync]
        traj = Trajectory(n)
        Ruckig(n).calculate(inp, traj)
        tr = sample(traj, 0.001)
        ref = np.array([traj.at_time(min(float(t), traj.duration)) for t in tr.t])
        assert abs(tr.t[-1] - np.ceil(traj.duration / 0.001 - 1e-9) * 0.001) < 1e-12
        for got, want in zip((tr.q, tr.qd, tr.qdd), np.moveaxis(ref, 1, 0)):
            np.testing.assert_allclose(got, want, atol=1e-10)


def test_waypoints_pass_through_every_waypoint(model):
    lim = model.limits
    home = model.spec.home
    wps = [home, np.clip(home + 0.2, lim.lower, lim.upper), np.clip(home - 0.2, lim.lower, lim.upper)]
    tr = plan_waypoints(wps, lim, 0.001)
    for w in wps[1:]:
        assert np.min(np.abs(tr.q - w).max(axis=1)) < 1e-9
    with pytest.raises(TrajectoryError):
        plan_joint_move(home, lim.upper + 1.0, lim, 0.001)


def test_cartesian_line_is_straight(model):
    q0 = model.spec.home
    T0 = model.frame_transform(q0, "tcp")
    T1 = T0.copy()
    T1[:3, 3] += [0.0, 0.08, -0.05]
    tr = plan_cartesian_line(model, q0, T1, 0.001)
    p0, p1 = T0[:3, 3], T1[:3, 3]
    d = (p1 - p0) / np.linalg.norm(p1 - p0)
    devs = []
    for q in tr.q:
        p = model.frame_transform(q, "tcp")[:3, 3]
        r = p - p0
        devs.append(np.linalg.norm(r - (r @ d) * d))
    assert max(devs) < 1e-3  # straight within 1 mm (IK nodes every 10 ms, joint interpolation between)
    np.testing.assert_allclose(model.frame_transform(tr.q[-1], "tcp")[:3, 3], p1, atol=1e-5)
    assert np.all(np.abs(tr.qd) <= model.limits.velocity * 1.05)


def test_full_turn_joints_wrap_instead_of_blocking():
    """UR5e joints with a >= 2 pi range: a step past a limit wraps by a whole turn (same pose)
    instead of stopping at the limit, so the solution next to the seed is found without restarts."""
    m = RobotModel.from_spec(load_robot("ur5e"))
    lim = m.limits
    seed = np.array([6.2, -1.2, 1.4, -1.5, -1.6, 0.3])
    assert seed[0] < lim.upper[0] and lim.upper[0] - lim.lower[0] >= 2 * np.pi
    q_true = seed.copy()
    q_true[0] += 0.3  # 6.5 rad: past the +2 pi limit, the same pose as 6.5 - 2 pi
    T = m.frame_transform(q_true, "flange")
    r = solve_ik(m, T, "flange", seed, max_restarts=0)
    assert r.success and r.restarts == 0
    assert m.within_limits(r.q)
    assert r.q[0] == pytest.approx(q_true[0] - 2 * np.pi, abs=1e-4)
    np.testing.assert_allclose(r.q[1:], q_true[1:], atol=1e-4)
    # A seed outside the limits by whole turns is wrapped into them, not clipped.
    seed_out = q_true.copy()
    seed_out[3] += 4 * np.pi  # -1.5 + 4 pi: outside [-2 pi, 2 pi]
    r2 = solve_ik(m, T, "flange", seed_out, max_restarts=0)
    assert r2.success and r2.iterations == 1 and m.within_limits(r2.q)


@pytest.mark.parametrize("robot", ROBOTS)
def test_deterministic_with_restarts(robot):
    """By default the result depends only on the inputs and the rng, restarts included."""
    m = RobotModel.from_spec(load_robot(robot))
    lim = m.limits
    rng = np.random.default_rng(7)
    for _ in range(5):
        T = m.frame_transform(rng.uniform(lim.lower, lim.upper), "flange")
        a = solve_ik(m, T, "flange", lim.lower + 1e-3, rng=np.random.default_rng(1))
        b = solve_ik(m, T, "flange", lim.lower + 1e-3, rng=np.random.default_rng(1))
        assert a.success == b.success and a.iterations == b.iterations and a.restarts == b.restarts
        assert np.array_equal(a.q, b.q)


class SlowClock:
    """``time.perf_counter`` of a very slow machine: each reading is one second after the last."""

    def __init__(self) -> None:
        self.t = 0.0

    def perf_counter(self) -> float:
        self.t += 1.0
        return self.t


@pytest.mark.parametrize("robot", ROBOTS)
def test_same_answer_on_a_slow_machine(robot, monkeypatch):
    """The default budget is iterations and restarts, not wall time: a machine on which every
    clock reading is a second later gives the same answers, restarts included."""
    import officina.controllers.ik as ik_module

    m = RobotModel.from_spec(load_robot(robot))
    lim = m.limits
    rng = np.random.default_rng(3)
    targets = [m.frame_transform(rng.uniform(lim.lower, lim.upper), "flange") for _ in range(6)]
    unreachable = np.eye(4)
    unreachable[:3, 3] = [3.0, 0.0, 0.5]
    targets.append(unreachable)

    def solve_all():
        return [solve_ik(m, T, "flange", lim.lower + 1e-3, rng=np.random.default_rng(1), max_restarts=20)
                for T in targets]

    normal = solve_all()
    assert sum(r.restarts for r in normal) > 0 and max(r.iterations for r in normal) > 10
    monkeypatch.setattr(ik_module, "time", SlowClock())
    slow = solve_all()
    for a, b in zip(normal, slow):
        assert (a.success, a.iterations, a.restarts) == (b.success, b.iterations, b.restarts)
        assert np.array_equal(a.q, b.q)
    # A wall-clock budget is opt-in, and then the slow machine stops early.
    capped = solve_ik(m, unreachable, "flange", lim.lower + 1e-3, rng=np.random.default_rng(1), max_restarts=20,
                      timeout_s=0.05)
    assert capped.restarts == 0 and capped.iterations < normal[-1].iterations


def test_torque_time_scale_slows_a_move_into_the_effort_limits():
    """The Panda's wrist (12 N·m) cannot follow a full-acceleration move of the whole arm: the time
    scale slows it, uniformly, until the inverse dynamics is within the limits; the path, its end
    and the scaling laws (qd / s, qdd / s^2) hold; a slow move is left alone."""
    model = RobotModel.from_spec(load_robot("panda"))
    lim = model.limits
    home = model.spec.home
    q1 = np.clip(home + np.array([1.2, 0.5, -0.8, 0.6, 1.0, -0.6, 1.0]), lim.lower, lim.upper)
    tr = plan_joint_move(home, q1, lim, 0.001)

    def worst(traj):
        return max(float(np.max(np.abs(model.rnea(q, qd, qdd)) / lim.effort))
                   for q, qd, qdd in zip(traj.q[::5], traj.qd[::5], traj.qdd[::5]))

    assert worst(tr) > 1.2  # too fast for the wrist
    s = torque_time_scale(model, tr, fraction=0.8)
    slow = time_scale(tr, s)
    assert s > 1.1 and worst(slow) <= 1.0
    assert slow.duration == pytest.approx(tr.duration * s, abs=2e-3)
    np.testing.assert_allclose(slow.q[-1], q1, atol=1e-12)
    k = len(slow) // 3
    for j in range(lim.n):
        assert slow.qd[k, j] == pytest.approx(np.interp(slow.t[k] / s, tr.t, tr.qd[:, j]) / s, abs=1e-9)
        assert slow.qdd[k, j] == pytest.approx(np.interp(slow.t[k] / s, tr.t, tr.qdd[:, j]) / s**2, abs=1e-9)
    # every sample of the slow move lies on the original joint-space path
    d = np.min(np.linalg.norm(slow.q[::50, None, :] - tr.q[None, :, :], axis=2), axis=1)
    assert d.max() < 5e-3
    gentle = plan_joint_move(home, home + 0.05, lim, 0.001, velocity_scale=0.1, acceleration_scale=0.05, jerk_scale=0.05)
    assert torque_time_scale(model, gentle) == 1.0 and time_scale(gentle, 1.0) is gentle
