"""Safety filter: hypothesis properties (never outside the limits, never raises), the events each
call returns, watchdog, clamp/reject, workspace box, SafeArm routing."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from officina.controllers.safe_arm import SafeArm
from officina.controllers.safety import SafetyConfig, SafetyEvent, SafetyFilter
from officina.interfaces import Arm, ControlMode, JointLimits, JointState

N = 3
LIM = JointLimits(
    lower=np.array([-1.0, -2.0, 0.5]),
    upper=np.array([1.0, 2.0, 1.5]),
    velocity=np.array([1.0, 2.0, 0.5]),
    acceleration=np.array([5.0, 10.0, 2.0]),
    jerk=np.array([100.0, 100.0, 100.0]),
    effort=np.array([50.0, 20.0, 5.0]),
)
DT = 0.001
TOL = 1e-9

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
bad_or_good = st.one_of(
    st.lists(floats, min_size=N, max_size=N),
    st.lists(floats, min_size=0, max_size=6),
    st.lists(st.floats(-1e300, 1e300), min_size=N, max_size=N),
    st.just("garbage"),
    st.just(None),
    st.just([[1.0, 2.0], [3.0, 4.0]]),
)


def state(q, v=None, t=0.0):
    return JointState(t, ("a", "b", "c"), np.asarray(q, float), np.zeros(N) if v is None else np.asarray(v, float), np.zeros(N))


def check_position_sequence(out, prev_q, prev_v):
    assert out.shape == (N,) and np.all(np.isfinite(out))
    assert np.all(out >= LIM.lower - TOL) and np.all(out <= LIM.upper + TOL)
    v = (out - prev_q) / DT
    assert np.all(np.abs(v) <= LIM.velocity * (1 + 1e-9) + TOL)
    assert np.all(np.abs(v - prev_v) <= LIM.acceleration * DT * (1 + 1e-6) + 1e-7)
    return out, v


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmds=st.lists(bad_or_good, min_size=1, max_size=30), action=st.sampled_from(["clamp", "reject"]),
       q0=st.lists(st.floats(-3, 3), min_size=N, max_size=N))
def test_position_commands_never_leave_the_limits(cmds, action, q0):
    f = SafetyFilter(LIM, DT, SafetyConfig(action=action))
    f.reset(state(q0))
    prev_q = f.last_position
    prev_v = f.velocity
    for k, c in enumerate(cmds):
        out, events = f.filter_position(c, state(prev_q, t=k * DT))
        assert all(e.stamp == k * DT for e in events)
        prev_q, prev_v = check_position_sequence(out, prev_q, prev_v)


@settings(max_examples=150, deadline=None)
@given(cmds=st.lists(bad_or_good, min_size=1, max_size=30), action=st.sampled_from(["clamp", "reject"]),
       q0=st.lists(st.floats(-3, 3), min_size=N, max_size=N))
def test_velocity_commands_never_leave_the_limits(cmds, action, q0):
    f = SafetyFilter(LIM, DT, SafetyConfig(action=action))
    q = np.asarray(q0, float)
    f.reset(state(q))
    prev = f.velocity
    for k, c in enumerate(cmds):
        out = f.filter_velocity(c, state(q, prev, t=k * DT)).command
        assert out.shape == (N,) and np.all(np.isfinite(out))
        assert np.all(np.abs(out) <= LIM.velocity + TOL)
        assert np.all(np.abs(out - prev) <= LIM.acceleration * DT + 1e-9)
        # a joint at or beyond a limit is never pushed further out faster than before
        beyond_up = q >= LIM.upper
        assert np.all(out[beyond_up] <= np.maximum(prev[beyond_up], 0.0) + TOL)
        prev = out
        q = q + out * DT


@settings(max_examples=150, deadline=None)
@given(cmd=bad_or_good, q=st.lists(st.floats(-3, 3), min_size=N, max_size=N),
       v=st.lists(st.floats(-10, 10), min_size=N, max_size=N), action=st.sampled_from(["clamp", "reject"]))
def test_torque_commands_never_exceed_effort(cmd, q, v, action):
    f = SafetyFilter(LIM, DT, SafetyConfig(action=action), gravity=lambda q: np.array([100.0, -100.0, 1.0]))
    out = f.filter_torque(cmd, state(q, v)).command
    assert out.shape == (N,) and np.all(np.isfinite(out))
    assert np.all(np.abs(out) <= LIM.effort + TOL)


@settings(max_examples=50, deadline=None)
@given(state_pos=st.one_of(st.just(None), st.lists(floats, min_size=0, max_size=5)))
def test_bad_state_never_raises(state_pos):
    f = SafetyFilter(LIM, DT)
    bad = JointState(0.0, (), state_pos, state_pos, state_pos)
    for fn in (f.filter_position, f.filter_velocity, f.filter_torque):
        out = fn([0.0, 0.0, 1.0], bad).command
        assert np.all(np.isfinite(out)) and out.shape == (N,)


def test_each_call_returns_the_events_it_caused():
    f = SafetyFilter(LIM, DT)
    f.reset(state([0.0, 0.0, 1.0]))
    st0 = state([0.0, 0.0, 1.0], t=0.25)
    _, ev = f.filter_position([np.nan, 0, 1], st0)
    assert [(e.event, e.action, e.stamp) for e in ev] == [(SafetyEvent.MALFORMED, "rejected", 0.25)]
    assert "non-finite" in ev[0].reason and "malformed" in str(ev[0])
    _, ev = f.filter_position([0, 0], st0)
    assert ev[0].event == SafetyEvent.MALFORMED and "expected 3 values" in ev[0].reason
    _, ev = f.filter_position([5.0, 0, 1.0], st0)
    kinds = [e.event for e in ev]
    assert kinds[0] == SafetyEvent.POSITION_LIMIT and SafetyEvent.VELOCITY_LIMIT in kinds
    _, ev = f.filter_torque([1e9, 0, 0], st0)
    assert [e.event for e in ev] == [SafetyEvent.TORQUE_LIMIT]
    # a command within every limit passes unchanged, with no event
    f2 = SafetyFilter(LIM, DT)
    f2.reset(state([0.0, 0.0, 1.0]))
    out, ev = f2.filter_position(np.array([1e-6, 0.0, 1.0]), st0)
    assert ev == () and np.array_equal(out, [1e-6, 0.0, 1.0])


def test_watchdog_is_one_call_per_period():
    f = SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=3))
    q = np.array([0.0, 0.0, 1.0])
    f.reset(state(q))
    for k in range(1, 40):  # commands every period, accelerating: never stale
        out, _ = f.filter_position(q + [k * k * 1e-7, 0, 0], state(q, t=k * DT))
        assert f.watchdog(state(q, t=k * DT)) is None
    held = [f.watchdog(state(q, t=(39 + k) * DT)) for k in range(1, 10)]
    assert all(h is None for h in held[:3])
    first = held[3]
    assert [e.event for e in first.events] == [SafetyEvent.WATCHDOG] and f.holding
    assert all(h is not None and h.events == () for h in held[4:])  # one event per silence
    v = np.diff(np.array([first.command] + [h.command for h in held[4:]]), axis=0) / DT
    assert np.all(np.abs(np.diff(v, axis=0)) <= LIM.acceleration * DT + 1e-9)
    f.filter_position(held[-1].command, state(q, t=50 * DT))  # a fresh command ends the hold
    assert not f.holding and f.watchdog(state(q, t=50 * DT)) is None


def test_clamp_versus_reject():
    q0 = np.array([0.0, 0.0, 1.0])
    clamp = SafetyFilter(LIM, DT, SafetyConfig(action="clamp"))
    clamp.reset(state(q0))
    out, _ = clamp.filter_position(q0 + [1e-4, 0, 0], state(q0))  # small, legal step... after accel ramp
    assert out[0] > q0[0]
    reject = SafetyFilter(LIM, DT, SafetyConfig(action="reject", actions=(("acceleration_limit", "clamp"),)))
    reject.reset(state(q0))
    out, events = reject.filter_position(q0 + [0.5, 0, 0], state(q0))  # far above the velocity limit
    np.testing.assert_allclose(out, q0)  # rejected: hold
    assert [r.action for r in events if r.event == SafetyEvent.VELOCITY_LIMIT] == ["rejected"]
    with pytest.raises(ValueError):
        SafetyConfig(action="ignore")


@pytest.mark.parametrize("margin", [-0.5, float("nan"), float("inf")])
def test_a_position_margin_that_would_widen_or_void_the_limits_is_refused(margin):
    """The margin shrinks the position range; a negative one would let commands past the arm's
    limits, a NaN one would make every limit comparison false."""
    with pytest.raises(ValueError, match="position_margin_rad must be >= 0"):
        SafetyConfig(position_margin_rad=margin)
    assert SafetyFilter(LIM, DT, SafetyConfig(position_margin_rad=0.1)).upper[0] == pytest.approx(LIM.upper[0] - 0.1)


def test_clamped_commands_reach_a_target_smoothly_and_stop_at_the_limit():
    f = SafetyFilter(LIM, DT)
    q = np.array([0.0, 0.0, 1.0])
    f.reset(state(q))
    for k in range(3000):
        q = f.filter_position([10.0, 0.0, 1.0], state(q, t=k * DT)).command  # beyond the upper limit
    assert q[0] == pytest.approx(LIM.upper[0], abs=1e-6)
    assert f.at_rest


def test_a_clamped_command_is_joined_not_overshot():
    """A command the filter cannot follow (a step; a stream with lost commands) is approached
    braking ahead: the output stops at a held command and rejoins a moving one, instead of running
    past it and swinging about it."""
    q0 = np.array([0.0, 0.0, 1.0])
    f = SafetyFilter(LIM, DT)
    f.reset(state(q0))
    target = q0 + [0.6, -1.0, 0.3]
    out = np.array([f.filter_position(target, state(q0, t=k * DT)).command for k in range(4000)])
    assert np.all(np.abs(out - q0) <= np.abs(target - q0) + 1e-4)  # never beyond the step (0.1 mrad)
    np.testing.assert_allclose(out[-1], target, atol=1e-9)
    assert f.at_rest
    # a joint move at the limits (1 rad/s, 5 rad/s^2) whose stream loses 40 commands while it speeds up
    f = SafetyFilter(LIM, DT)
    f.reset(state(q0))
    t = np.arange(0.0, 1.2 + DT / 2, DT)
    s = np.where(t < 0.2, 2.5 * t**2, np.where(t < 1.0, 0.1 + (t - 0.2), 1.0 - 2.5 * (1.2 - t) ** 2))
    cmds = [q0 + [si, 0.0, 0.0] for si in s] + [q0 + [1.0, 0.0, 0.0]] * 500
    cmds = [c for k, c in enumerate(cmds) if not 150 <= k < 190]
    out = np.array([f.filter_position(c, state(q0, t=k * DT)).command for k, c in enumerate(cmds)])
    err = out[:, 0] - np.array(cmds)[:, 0]
    assert err.max() < 1e-3 and err.min() > -0.05  # it lags after the loss, and never leads
    assert out[-1, 0] == pytest.approx(cmds[-1][0], abs=1e-9)


def test_workspace_box():
    # tcp = first two joints as x, y (a toy model); box x <= 0.5
    fk = lambda q: np.array([q[0], q[1], 0.0])
    cfg = SafetyConfig(workspace_min=(-0.5, -0.5, -0.1), workspace_max=(0.5, 0.5, 0.1))
    f = SafetyFilter(LIM, DT, cfg, tcp_position=fk)
    q = np.array([0.0, 0.0, 1.0])
    f.reset(state(q))
    n_box = 0
    for k in range(3000):
        q, events = f.filter_position([0.9, 0.0, 1.0], state(q, t=k * DT))
        n_box += sum(e.event == SafetyEvent.WORKSPACE for e in events)
        assert q[0] <= 0.5 + 1e-3
    assert q[0] > 0.45
    assert n_box > 0
    fr = SafetyFilter(LIM, DT, SafetyConfig(action="reject", actions=(("acceleration_limit", "clamp"),),
                                             workspace_min=(-0.5, -0.5, -0.1), workspace_max=(0.5, 0.5, 0.1)),
                      tcp_position=fk)
    qv = np.array([0.3, 0.0, 1.0])
    fr.reset(state(qv))
    v = np.zeros(N)
    n_box = 0
    for k in range(2000):  # velocity mode: full speed toward the box wall, integrated
        v, events = fr.filter_velocity([1.0, 0.0, 0.0], state(qv, v, t=k * DT))
        n_box += sum(e.event == SafetyEvent.WORKSPACE for e in events)
        qv = qv + v * DT
        assert qv[0] <= 0.5 + 1e-9
    assert n_box > 0 and qv[0] > 0.4


class FakeArm:
    """A minimal Arm: integrates commands, records what it received."""

    def __init__(self):
        self.q = np.array([0.0, 0.0, 1.0])
        self.v = np.zeros(N)
        self.t = 0.0
        self.received = []
        self._mode = ControlMode.POSITION

    joint_names = ("a", "b", "c")
    limits = LIM
    control_period = DT

    def read(self):
        return state(self.q, self.v, self.t)

    def set_mode(self, mode):
        self._mode = ControlMode(mode)

    def command_positions(self, q, qd=None):
        self.received.append(("pos", np.array(q)))
        self.v = (np.asarray(q) - self.q) / DT
        self.q = np.asarray(q, float)

    def command_velocities(self, qd):
        self.received.append(("vel", np.array(qd)))
        self.v = np.asarray(qd, float)
        self.q = self.q + self.v * DT

    def command_torques(self, tau):
        self.received.append(("tau", np.array(tau)))

    def tick(self):
        self.t += DT


def test_safe_arm_routes_everything_and_runs_the_watchdog():
    inner = FakeArm()
    seen = []
    arm = SafeArm(inner, SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=5)), require_arming=True,
                  on_event=seen.append)
    assert isinstance(arm, Arm)
    arm.command_positions([0.5, 0.0, 1.0])
    assert arm.counts["not_armed"] == 1 and seen[-1].event == SafetyEvent.NOT_ARMED
    np.testing.assert_allclose(inner.q, [0.0, 0.0, 1.0])
    arm.arm()
    for _ in range(50):  # move at full speed
        arm.command_positions([0.9, 0.0, 1.0])
        inner.tick()
    v_before = inner.v.copy()
    assert v_before[0] > 0
    # stop commanding: after 5 periods the watchdog brakes (within the acceleration limit)
    for k in range(200):
        arm.monitor()
        inner.tick()
    assert arm.counts["watchdog"] == 1
    assert abs(inner.v[0]) < 1e-9
    qs = np.array([c for kind, c in inner.received if kind == "pos"])
    v = np.diff(qs, axis=0) / DT
    assert np.all(np.abs(v) <= LIM.velocity + 1e-9)
    assert np.all(np.abs(np.diff(v, axis=0)) <= LIM.acceleration * DT + 1e-7)
    # wrong mode and e-stop
    arm.command_torques([1.0, 1.0, 1.0])
    assert arm.counts["wrong_mode"] == 1
    arm.set_mode(ControlMode.VELOCITY)
    arm.estop()
    arm.command_velocities([1.0, 1.0, 1.0])
    assert inner.received[-1][0] == "vel" and np.all(inner.received[-1][1] == 0.0)
    arm.release_estop()
    arm.command_velocities([1.0, 1.0, 0.0])
    assert inner.received[-1][1][0] > 0


def test_safe_arm_on_the_simulator_torque_mode():
    """SafeArm around SimArm: a law's torques pass; garbage is replaced by a hold."""
    from officina.benchmarks.bench_control import run_tracking

    out = run_tracking("panda", "computed_torque", safety=True)
    assert out["joint_max_rad"] < 0.002
    from officina.controllers.model import RobotModel
    from officina.sim.arm import SimArm
    from officina.sim.world import SimWorld

    from officina.robots import load_robot

    spec = load_robot("panda")
    m = RobotModel.from_spec(spec)
    with SimWorld() as world:
        sim = SimArm(world, world.load_robot(spec))
        arm = SafeArm(sim, SafetyFilter(spec.limits, 0.001, gravity=m.gravity))
        arm.command_positions(arm.read().position)  # through the fast path: the command as floats
        assert type(arm.position_reference) is list
        assert np.array_equal(arm.position_reference, arm.last_command)
        arm.set_mode(ControlMode.TORQUE)
        assert arm.position_reference is None and arm.last_command is None
        q0 = arm.read().position
        for _ in range(300):
            arm.command_torques([np.nan] * 7)  # garbage every tick: the filter holds the arm
            world.step(sim.substeps)
        assert np.abs(arm.read().position - q0).max() < 0.05
        assert arm.counts["malformed"] == 300
        assert arm.position_reference is None and arm.last_command.shape == (7,)  # a torque, no position


def test_a_silence_at_rest_is_no_watchdog_event():
    """Commands that stop after the arm came to rest: the arm holds its last setpoint; the
    watchdog neither fires nor holds (position mode). A silence mid-motion is an event."""
    f = SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=3))
    q = np.array([0.0, 0.0, 1.0])
    f.reset(state(q))
    for k in range(1, 5):
        f.filter_position(q, state(q, t=k * DT))
    assert f.at_rest
    assert all(f.watchdog(state(q, t=(5 + k) * DT)) is None for k in range(20))
    g = SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=3))
    g.reset(state(q))
    for k in range(1, 40):
        g.filter_position(q + [min(k, 20) * 1e-6 * k, 0, 0], state(q, t=k * DT))
    out = [g.watchdog(state(q, t=(40 + k) * DT)) for k in range(8)]
    assert [e.event for o in out if o is not None for e in o.events] == [SafetyEvent.WATCHDOG]
    # torque mode: a standing torque command always gets the hold
    t = SafetyFilter(LIM, DT, SafetyConfig(watchdog_periods=3))
    t.reset(state(q))
    t.filter_torque([1.0, 0.0, 0.0], state(q))
    assert t.watchdog(state(q, t=10 * DT), ControlMode.TORQUE) is not None


def test_velocity_mode_outside_the_box_moves_only_back_toward_it():
    # tcp = first two joints as x, y (a toy model); the arm starts outside the box (x = 0.6 > 0.5)
    fk = lambda q: np.array([q[0], q[1], 0.0])
    cfg = SafetyConfig(workspace_min=(-0.5, -0.5, -0.1), workspace_max=(0.5, 0.5, 0.1))

    def drive(cmd, periods=500):
        f = SafetyFilter(LIM, DT, cfg, tcp_position=fk)
        q, v = np.array([0.6, 0.0, 1.0]), np.zeros(N)
        f.reset(state(q))
        n_box = 0
        for k in range(periods):
            v, events = f.filter_velocity(cmd, state(q, v, t=k * DT))
            n_box += sum(e.event == SafetyEvent.WORKSPACE for e in events)
            q = q + v * DT
        return q, n_box

    q, n_box = drive([1.0, 0.0, 0.0])  # farther out: stopped, as in position mode
    assert q[0] <= 0.6 + 1e-9 and n_box > 0
    q, n_box = drive([0.0, 1.0, 0.0])  # along the wall, still outside: stopped as well
    assert abs(q[1]) <= 1e-9 and n_box > 0
    q, n_box = drive([-1.0, 0.0, 0.0], periods=300)  # back toward the box: allowed
    assert q[0] < 0.45 and n_box == 0
    q, n_box = drive([0.0, 0.0, 0.0])  # standing still outside: no event
    assert q[0] == 0.6 and n_box == 0
