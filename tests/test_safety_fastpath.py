"""The fast path of `SafetyFilter.filter_position` against the full checks of the same filter.

Two filters with the same limits and configuration, one with ``fast_path=False``: for every
command sequence, well-formed or not (near the limits, at the velocity/acceleration bounds, NaN,
inf, wrong length, huge, garbage), both emit the same commands and report the same events and
reach the same state. `SafeArm.command_positions` is compared likewise (the command and the
velocity feed-forward it sends on).
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from officina.controllers.safe_arm import SafeArm
from officina.controllers.safety import SafetyConfig, SafetyFilter
from officina.interfaces import JointLimits, JointState
from officina.robots import load_robot

PANDA = load_robot("panda").limits
SMALL = JointLimits(lower=np.array([-1.0, -2.0, 0.5]), upper=np.array([1.0, 2.0, 1.5]),
                    velocity=np.array([1.0, 2.0, 0.5]), acceleration=np.array([5.0, 10.0, 2.0]),
                    jerk=np.array([100.0, 100.0, 100.0]), effort=np.array([50.0, 20.0, 5.0]))
WIDE = JointLimits(lower=np.full(2, -1e60), upper=np.full(2, 1e60), velocity=np.full(2, 1e60),
                   acceleration=np.full(2, 1e60), jerk=np.ones(2), effort=np.ones(2))  # no fast path
LIMITS = {"panda": PANDA, "small": SMALL, "wide": WIDE}
CONFIGS = {
    "default": SafetyConfig(),
    "reject": SafetyConfig(action="reject"),
    "scaled": SafetyConfig(position_margin_rad=0.05, velocity_scale=0.5, acceleration_scale=0.3,
                           actions=(("acceleration_limit", "reject"),)),
    "box": SafetyConfig(workspace_min=(-0.5, -0.5, -1.0), workspace_max=(0.5, 0.5, 1.0)),
}


def _fk(q):  # a toy tcp: the first two joints as x, y
    return np.array([q[0], q[1] if len(q) > 1 else 0.0, 0.0])


def _pair(lim, cfg):
    kw = {"tcp_position": _fk}
    fast = SafetyFilter(lim, 0.001, cfg, **kw)
    full = SafetyFilter(lim, 0.001, dataclasses.replace(cfg, fast_path=False), **kw)
    return fast, full


def _same_state(f, r):
    assert (f.last_position is None) == (r.last_position is None)
    if f.last_position is not None:
        assert np.array_equal(f.last_position, r.last_position)
    assert np.array_equal(f.velocity, r.velocity)
    assert f.holding == r.holding and f.estopped == r.estopped
    s = JointState(1e9, (), np.zeros(f.n), np.zeros(f.n), np.zeros(f.n))
    assert f.stale(s) == r.stale(s)


def _command(kind, x, f, lim, rng, fast_range):
    """A command of the given kind, built from the current state (the same in both filters);
    ``fast_range``: the command range of the fast path (`SafetyFilter._fast_range`)."""
    n = f.n
    q = f.last_position if f.last_position is not None else lim.mid()
    v = f.velocity
    vmax, adt = f.vmax, f.amax * f.dt
    if kind == "step":  # within the velocity/acceleration bounds or a little beyond (x ~ 1)
        return q + np.clip(v + x * adt * rng.uniform(-1, 1, n), -vmax, vmax) * f.dt
    if kind == "edge_a":  # exactly at (and one ulp around) the acceleration bound
        vv = v + np.sign(rng.uniform(-1, 1, n)) * adt
        return np.nextafter(q + vv * f.dt, rng.choice([-np.inf, 0.0, np.inf], n) * np.abs(q + 1))
    if kind == "edge_v":  # at the velocity bound
        return q + np.sign(rng.uniform(-1, 1, n)) * vmax * f.dt * (1 + x * 1e-12)
    if kind == "edge_fast":  # at the border of the fast path's range, one ulp either way
        b = np.where(rng.uniform(size=n) < 0.5, *fast_range) if fast_range[0] is not None else q
        b = np.where(np.isfinite(b), b, q)
        return np.nextafter(b, rng.choice([-np.inf, 0.0, np.inf], n) * np.abs(b + 1))
    if kind == "limit":  # at/near/beyond the position limits
        b = np.where(rng.uniform(size=n) < 0.5, f.lower, f.upper)
        return b + x * rng.uniform(-1e-3, 1e-3, n)
    if kind == "far":
        return rng.uniform(lim.lower - 1, lim.upper + 1)
    if kind == "same":
        return q.copy()
    if kind == "nan":
        c = q.copy()
        c[rng.integers(n)] = np.nan
        return c
    if kind == "inf":
        c = q.copy()
        c[rng.integers(n)] = rng.choice([np.inf, -np.inf])
        return c
    if kind == "huge":
        c = q.copy()
        c[rng.integers(n)] = rng.choice([1e308, -1e308, 1e200, np.finfo(float).max])
        return c
    if kind == "tiny":  # subnormal steps
        return q + rng.choice([0.0, 5e-324, -5e-324, 1e-310], n)
    if kind == "short":
        return q[:-1].copy()
    if kind == "long":
        return np.append(q, 0.0)
    if kind == "list":
        return (q + 1e-6).tolist()
    if kind == "float32":
        return q.astype(np.float32) if np.all(np.abs(q) < 1e30) else q.tolist()
    if kind == "int":
        return np.zeros(n, dtype=int)
    if kind == "2d":
        return q.reshape(1, n).copy()
    if kind == "noncontig":
        return np.repeat(q, 2)[::2]
    if kind == "garbage":
        return ["garbage", None, [[1.0, 2.0], [3.0]], {"a": 1}, [1.0] * n][rng.integers(5)]
    raise AssertionError(kind)


KINDS = ["step", "step", "step", "step", "edge_a", "edge_v", "edge_fast", "limit", "far", "same", "nan", "inf",
         "huge", "tiny", "short", "long", "list", "float32", "int", "2d", "noncontig", "garbage"]
EXTRA = ["none", "estop", "release", "state_none", "stamp_nan", "stamp_str", "stamp_big"]


def _state(f, lim, k, dt, extra):
    q = f.last_position if f.last_position is not None else lim.mid()
    stamp = {"stamp_nan": np.nan, "stamp_str": "t", "stamp_big": 10**400}.get(extra, k * dt)
    if extra == "state_none":
        return None
    return JointState(stamp, (), q.copy(), np.zeros(len(q)), np.zeros(len(q)))


def _run(limits_name, config_name, seed, ops, start):
    lim = LIMITS[limits_name]
    f, r = _pair(lim, CONFIGS[config_name])
    rng = np.random.default_rng(seed)
    q0 = {"mid": lim.mid(), "lower": lim.lower, "upper": lim.upper, "none": lim.mid(), "box": lim.mid(),
          "random": rng.uniform(np.maximum(lim.lower, -10), np.minimum(lim.upper, 10))}[start]
    v0 = rng.uniform(-1, 1, lim.n) * (start == "random")
    if start == "box":  # just inside the wall x = 0.5 of the box config, moving toward it
        q0 = np.array(q0, float)
        q0[0], v0[0] = 0.499, 0.5
    s0 = JointState(0.0, (), np.array(q0, float), v0, np.zeros(lim.n))
    if start != "none":
        f.reset(s0)
        r.reset(s0)
    _same_state(f, r)
    return _compare(f, r, lim, seed, ops)


def _compare(f, r, lim, seed, ops):
    fast_range = f._fast_range()
    taken = 0
    for k, (kind, x, extra) in enumerate(ops):
        state = _state(r, lim, k, 0.001, extra)
        if extra in ("estop", "release"):
            assert f.set_estop(extra == "estop", state) == r.set_estop(extra == "estop", state)
        cmd = _command(kind, x, r, lim, np.random.default_rng([seed, k]), fast_range)
        c1, c2 = (cmd.copy(), cmd.copy()) if isinstance(cmd, np.ndarray) else (cmd, cmd)
        out_f = f.filter_position(c1, state)
        out_r = r.filter_position(c2, state)
        assert out_f.command.dtype == out_r.command.dtype == np.float64
        assert np.array_equal(out_f.command, out_r.command), (k, kind, out_f, out_r)
        assert out_f.events == out_r.events, (k, kind)
        taken += not out_f.events
        _same_state(f, r)
    return taken


ops_strategy = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from([0.0, 0.5, 0.999999, 1.0, 1.000001, 2.0, -1.0]),
              st.sampled_from(["none"] * 12 + EXTRA)),
    min_size=1, max_size=60)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(limits_name=st.sampled_from(sorted(LIMITS)), config_name=st.sampled_from(sorted(CONFIGS)),
       seed=st.integers(0, 2**32 - 1), ops=ops_strategy,
       start=st.sampled_from(["mid", "lower", "upper", "random", "none", "box"]))
def test_fast_path_matches_the_full_checks(limits_name, config_name, seed, ops, start):
    _run(limits_name, config_name, seed, ops, start)


@pytest.mark.parametrize("limits_name", ["panda", "small"])
def test_long_random_walks_match_the_full_checks(limits_name):
    """Long trajectories that mostly take the fast path, with pushes against the bounds."""
    rng = np.random.default_rng(7)
    kinds = ["step"] * 30 + ["edge_a", "edge_v", "edge_fast", "limit", "same", "nan", "tiny"]
    ops = [(kinds[rng.integers(len(kinds))], float(rng.choice([0.5, 0.999999, 1.0, 1.01, 3.0])), "none")
           for _ in range(4000)]
    _run(limits_name, "default", 11, ops, "mid")


class _RecordingArm:
    def __init__(self, lim):
        self.limits = lim
        self.joint_names = tuple(f"j{i}" for i in range(lim.n))
        self.control_period = 0.001
        self.q = lim.mid()
        self.t = 0.0
        self.received = []

    def read(self):
        return JointState(self.t, self.joint_names, self.q.copy(), np.zeros(len(self.q)), np.zeros(len(self.q)))

    def set_mode(self, mode):
        pass

    def command_positions(self, q, qd=None):
        self.received.append((np.array(q), None if qd is None else np.array(qd)))
        self.q = np.asarray(q, float)
        self.t += 0.001


class _FloatRecordingArm(_RecordingArm):
    """An arm that also takes position commands as lists of Python floats (as `SimArm` does):
    `SafeArm` sends it the filter's output so."""

    def __init__(self, lim):
        super().__init__(lim)
        self.as_floats = 0

    def command_positions(self, q, qd=None):
        super().command_positions(q, qd)

    def command_position_floats(self, q, qd=None):
        for v in (q,) if qd is None else (q, qd):
            assert type(v) is list and len(v) == self.limits.n and all(type(x) is float for x in v)
        self.as_floats += 1
        super().command_positions(q, qd)


@pytest.mark.parametrize("arm_kind", [_RecordingArm, _FloatRecordingArm])
@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), ops=ops_strategy,
       qd_kind=st.lists(st.sampled_from(["none", "ok", "big", "nan", "inf", "one_nan", "one_ninf", "edge", "short",
                                         "list"]), min_size=60,
                        max_size=60))
def test_safe_arm_command_positions_fast_and_full_agree(arm_kind, seed, ops, qd_kind):
    """The fast path's arm (taking float lists or arrays) receives what the full checks send to
    an arm taking arrays."""
    lim = PANDA
    cfg = SafetyConfig(watchdog_periods=0)
    a_fast, a_full = arm_kind(lim), _RecordingArm(lim)
    ev_fast, ev_full = [], []
    fast = SafeArm(a_fast, SafetyFilter(lim, 0.001, cfg), on_event=ev_fast.append)
    full = SafeArm(a_full, SafetyFilter(lim, 0.001, dataclasses.replace(cfg, fast_path=False)),
                   on_event=ev_full.append)
    fast_range = fast.safety._fast_range()
    quiet = 0
    for k, (kind, x, _) in enumerate(ops):
        rng = np.random.default_rng([seed, k])
        cmd = _command(kind, x, full.safety, lim, rng, fast_range)
        qd = {"none": None, "ok": rng.uniform(-1, 1, 7), "big": rng.uniform(-10, 10, 7),
              "nan": np.full(7, np.nan), "inf": np.full(7, np.inf), "short": np.zeros(3),
              "one_nan": np.where(np.arange(7) == k % 7, np.nan, 0.5),
              "one_ninf": np.where(np.arange(7) == k % 7, -np.inf, -0.5),
              "edge": np.nextafter(lim.velocity * rng.choice([-1.0, 1.0], 7), rng.choice([-np.inf, np.inf], 7)),
              "list": [0.1] * 7}[qd_kind[k]]
        n_ev = len(ev_fast)
        fast.command_positions(cmd.copy() if isinstance(cmd, np.ndarray) else cmd, qd)
        full.command_positions(cmd, qd)
        quiet += len(ev_fast) == n_ev
        (q1, ff1), (q2, ff2) = a_fast.received[-1], a_full.received[-1]
        assert np.array_equal(q1, q2)
        assert (ff1 is None) == (ff2 is None)
        if ff1 is not None:
            assert np.array_equal(ff1, ff2)
        assert ev_fast == ev_full and fast.counts == full.counts
        assert np.array_equal(fast.last_command, full.last_command)
        assert np.array_equal(np.asarray(fast.position_reference), full.last_command)
        _same_state(fast.safety, full.safety)
    if arm_kind is _FloatRecordingArm:  # every command that passed without an event went as floats
        assert a_fast.as_floats == quiet


def test_the_fast_path_is_taken_in_the_common_case():
    """A smooth trajectory inside the limits goes through the fast path only (and the range
    of that path covers most of the joint range of a Panda)."""
    f = SafetyFilter(PANDA, 0.001)
    f.reset(JointState(0.0, (), PANDA.mid(), np.zeros(7), np.zeros(7)))
    lo, hi = f._fast_range()
    assert np.all((hi - lo) / (PANDA.upper - PANDA.lower) > 0.6)
    ts = np.arange(2000) * 0.001
    qs = PANDA.mid() + 0.3 * (1.0 - np.cos(np.outer(ts, np.linspace(0.5, 1.5, 7))))
    calls = []
    orig = f._position_fast
    f._position_fast = lambda q, s: calls.append(orig(q, s)) or calls[-1]
    for k, q in enumerate(qs):
        assert f.filter_position(q, JointState(ts[k], (), q, np.zeros(7), np.zeros(7))).events == ()
    assert len(calls) == len(qs) and all(c is not None for c in calls)


@pytest.mark.parametrize("arm_kind", [_RecordingArm, _FloatRecordingArm])
def test_safe_arm_feedforward_on_the_fast_path_matches_the_full_checks(arm_kind):
    """A smooth trajectory (the fast path decides) with every kind of velocity feed-forward: in
    range, clipped, one ulp either side of the limits, NaN or infinite at one joint, of another
    type or length; the fast path and its feed-forward send what the full checks send (as float
    lists to an arm that takes them)."""
    lim = PANDA
    cfg = SafetyConfig(watchdog_periods=0)
    a_fast, a_full = arm_kind(lim), _RecordingArm(lim)
    fast = SafeArm(a_fast, SafetyFilter(lim, 0.001, cfg))
    full = SafeArm(a_full, SafetyFilter(lim, 0.001, dataclasses.replace(cfg, fast_path=False)))
    taken = []
    orig = fast.safety._position_fast
    fast.safety._position_fast = lambda q, s: taken.append(orig(q, s)) or taken[-1]
    ts = np.arange(1200) * 0.001
    w = np.linspace(0.5, 1.5, 7)
    qs = lim.mid() + 0.3 * (1.0 - np.cos(np.outer(ts, w)))
    vel = lim.velocity
    rng = np.random.default_rng(3)
    sent = 0
    for k, q in enumerate(qs):
        j = k % 7
        qd = [None, 0.3 * np.sin(ts[k] * w) * w, rng.uniform(-3, 3, 7) * vel,
              np.nextafter(vel * rng.choice([-1.0, 1.0], 7), rng.choice([-np.inf, np.inf], 7)),
              np.where(np.arange(7) == j, np.nan, 0.1), np.where(np.arange(7) == j, np.inf, 0.1),
              np.where(np.arange(7) == j, -np.inf, 0.1), np.where(np.arange(7) == j, 1e308, -1e308),
              [0.1] * 7, np.zeros(7, dtype=np.float32), np.zeros(3), np.zeros(7)[::-1]][k % 12]
        fast.command_positions(q.copy(), qd)
        full.command_positions(q.copy(), qd)
        (q1, ff1), (q2, ff2) = a_fast.received[-1], a_full.received[-1]
        assert np.array_equal(q1, q2) and (ff1 is None) == (ff2 is None), k
        if ff1 is not None:
            assert np.array_equal(ff1, ff2), k
            sent += 1
        _same_state(fast.safety, full.safety)
    assert len(taken) == len(qs) and all(t is not None for t in taken)  # the fast path decided
    assert 0 < sent < len(qs)
    assert getattr(a_fast, "as_floats", len(qs)) == len(qs)


class _Offsetting:
    """A wrapper that changes position commands and forwards everything else (as
    `officina.controllers.admittance.AdmittanceArm` does)."""

    def __init__(self, arm):
        self._arm = arm

    def __getattr__(self, name):
        return getattr(self._arm, name)

    def command_positions(self, q, qd=None):
        self._arm.command_positions(np.asarray(q) + 0.01, qd)


class _OffsettingFloatArm(_FloatRecordingArm):
    def command_positions(self, q, qd=None):
        super().command_positions(np.asarray(q) + 0.01, qd)


def _offset_on_the_instance(lim):
    inner = _FloatRecordingArm(lim)
    send = inner.command_positions
    inner.command_positions = lambda q, qd=None: send(np.asarray(q) + 0.01, qd)
    return inner, inner


@pytest.mark.parametrize("wrap", ["wrapper", "subclass", "instance"])
def test_safe_arm_sends_float_lists_only_past_the_arms_own_command_positions(wrap):
    """A wrapper or subclass that changes `command_positions` of an arm taking float lists, or a
    `command_positions` set on the arm instance, gets every command: the float lists would bypass it."""
    lim = PANDA
    if wrap == "wrapper":
        inner = _FloatRecordingArm(lim)
        outer = _Offsetting(inner)
    elif wrap == "subclass":
        inner = outer = _OffsettingFloatArm(lim)
    else:
        inner, outer = _offset_on_the_instance(lim)
    arm = SafeArm(outer, SafetyFilter(lim, 0.001, SafetyConfig(watchdog_periods=0)))
    q = lim.mid() + 1e-6
    arm.command_positions(q, np.zeros(7))
    assert inner.as_floats == 0
    assert np.array_equal(inner.received[-1][0], arm.last_command + 0.01)
