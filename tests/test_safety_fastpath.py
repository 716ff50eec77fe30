"""The fast path of `SafetyFilter.filter_position` against the algorithm it shortcuts.

`_RefFilter` below is the position mode of the filter as it was before the fast path (a
verbatim copy, kept here and not in the library): the filter must emit the same commands and
record the same events, counts and log messages for every command sequence, well-formed or not
(near the limits, at the velocity/acceleration bounds, NaN, inf, wrong length, huge, garbage).
`SafeArm.command_positions` is compared likewise (the command and the feed-forward it sends).
"""

import logging
from collections import deque
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from officina.controllers.safety import SafeArm, SafetyConfig, SafetyEvent, SafetyFilter, SafetyRecord

from officina.interfaces import JointLimits, JointState
from officina.robots import load_robot

# --- the reference: the position mode of controllers/safety.py before the fast path ----------------


def _clip(a, lo, hi):
    return np.minimum(np.maximum(a, lo), hi)


def _as_command(x, n):
    if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (n,) and np.isfinite(x).all():
        return x.copy(), ""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None, "not an array of numbers"
    if a.ndim != 1:
        a = a.reshape(-1) if a.size == n else a
    if a.ndim != 1 or a.shape[0] != n:
        return None, f"expected {n} values, got shape {a.shape}"
    if not np.all(np.isfinite(a)):
        bad = np.nonzero(~np.isfinite(a))[0].tolist()
        return None, f"non-finite values at joints {bad}"
    return a.copy(), ""


def _never_raise(hold_name):
    import functools

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, cmd, state=None):
            with np.errstate(all="ignore"):
                try:
                    return fn(self, cmd, state)
                except Exception as exc:  # noqa: BLE001
                    self._event(SafetyEvent.MALFORMED, "rejected", f"{fn.__name__}: {type(exc).__name__}: {exc}")
                    try:
                        return getattr(self, hold_name)(state)
                    except Exception:  # noqa: BLE001
                        return getattr(self, hold_name)(None)

        return wrapper

    return deco


class _RefFilter:
    def __init__(self, limits, dt, config=None, *, tcp_position=None):
        self.config = config or SafetyConfig()
        c = self.config
        self.dt = float(dt)
        self.n = limits.n
        self.lower = np.asarray(limits.lower, float) + c.position_margin_rad
        self.upper = np.asarray(limits.upper, float) - c.position_margin_rad
        self.vmax = np.asarray(limits.velocity, float) * c.velocity_scale
        self.amax = np.asarray(limits.acceleration, float) * c.acceleration_scale
        self._adt = self.amax * self.dt
        self._adt2 = self._adt * self._adt
        self._two_a = 2.0 * self.amax
        self.tcp_position = tcp_position if c.workspace_min is not None else None
        self.box_min = None if c.workspace_min is None else np.asarray(c.workspace_min, float)
        self.box_max = None if c.workspace_max is None else np.asarray(c.workspace_max, float)
        self.counts = {e.value: 0 for e in SafetyEvent}
        self.events = deque(maxlen=c.max_events_kept)
        self.messages = []  # what the filter logs
        self.estopped = False
        self._q = None
        self._v = np.zeros(self.n)
        self._last_cmd_stamp = None
        self._stamp = 0.0
        self.holding = False

    def _event(self, event, action, reason):
        self.counts[event.value] += 1
        self.events.append(SafetyRecord(self._stamp, event, action, reason))
        self.messages.append("safety %s (%s) at t=%.4f s: %s" % (event.value, action, self._stamp, reason))

    @property
    def total_events(self):
        return int(sum(self.counts.values()))

    def reset(self, state):
        q = None if state is None else _as_command(getattr(state, "position", None), self.n)[0]
        v = None if state is None else _as_command(getattr(state, "velocity", None), self.n)[0]
        self._q = None if q is None else _clip(q, self.lower, self.upper)
        self._v = np.zeros(self.n) if v is None else _clip(v, -self.vmax, self.vmax)
        if self._q is not None:
            lo, hi = self._brake_bounds(self._q)
            self._v = _clip(self._v, lo, hi)
        self._last_cmd_stamp = None if state is None else float(getattr(state, "stamp", 0.0))
        self.holding = False

    def _stamp_of(self, state):
        try:
            s = float(getattr(state, "stamp", self._stamp))
            return s if np.isfinite(s) else self._stamp
        except (TypeError, ValueError):
            return self._stamp

    def _brake_bounds(self, q):
        adt = self._adt
        d_up = np.maximum(self.upper - q, 0.0)
        d_lo = np.maximum(q - self.lower, 0.0)
        vb_up = np.sqrt(self._adt2 + self._two_a * d_up) - adt
        vb_lo = np.sqrt(self._adt2 + self._two_a * d_lo) - adt
        return -np.minimum(vb_lo, self.vmax), np.minimum(vb_up, self.vmax)

    def _in_box(self, q):
        if self.tcp_position is None:
            return True
        try:
            p = np.asarray(self.tcp_position(q), dtype=float).reshape(3)
        except Exception:  # noqa: BLE001
            return False
        return bool(np.all(np.isfinite(p)) and np.all(p >= self.box_min) and np.all(p <= self.box_max))

    def _braking_step(self):
        adt = self.amax * self.dt
        v = np.sign(self._v) * np.maximum(np.abs(self._v) - adt, 0.0)
        lo, hi = self._brake_bounds(self._q)
        return _clip(_clip(v, lo, hi), self._v - adt, self._v + adt)

    def _emit_position(self, v_new):
        q_new = _clip(self._q + v_new * self.dt, self.lower, self.upper)
        self._v = (q_new - self._q) / self.dt
        self._q = q_new
        return q_new.copy()

    def hold_position(self, state=None):
        if self._q is None:
            self.reset(state)
            if self._q is None:
                return _clip(np.zeros(self.n), self.lower, self.upper)
        return self._emit_position(self._braking_step())

    @_never_raise("hold_position")
    def filter_position(self, q_cmd, state=None):
        self._stamp = self._stamp_of(state)
        if self._q is None:
            self.reset(state)
            if self._q is None:
                q0, _ = _as_command(q_cmd, self.n)
                self._q = _clip(q0 if q0 is not None else 0.5 * (self.lower + self.upper), self.lower, self.upper)
                self._v = np.zeros(self.n)
        if self.estopped:
            self._event(SafetyEvent.ESTOP, "hold", "e-stop active")
            return self.hold_position(state)
        q, why = _as_command(q_cmd, self.n)
        if q is None:
            self._event(SafetyEvent.MALFORMED, "rejected", f"position command: {why}")
            return self.hold_position(state)
        self._last_cmd_stamp = self._stamp
        self.holding = False
        reject = False
        out = (q < self.lower) | (q > self.upper)
        if out.any():
            act = self.config.action_for(SafetyEvent.POSITION_LIMIT)
            self._event(SafetyEvent.POSITION_LIMIT, "rejected" if act == "reject" else "clamped",
                        f"joints {np.nonzero(out)[0].tolist()} outside [lower, upper]")
            reject |= act == "reject"
            q = _clip(q, self.lower, self.upper)
        v_des = (q - self._q) / self.dt
        lo_b, hi_b = self._brake_bounds(self._q)
        lo_v, hi_v = np.maximum(-self.vmax, lo_b), np.minimum(self.vmax, hi_b)
        adt = self.amax * self.dt
        lo_a, hi_a = self._v - adt, self._v + adt
        over_v = (v_des < lo_v - 1e-12) | (v_des > hi_v + 1e-12)
        if over_v.any():
            act = self.config.action_for(SafetyEvent.VELOCITY_LIMIT)
            self._event(SafetyEvent.VELOCITY_LIMIT, "rejected" if act == "reject" else "clamped",
                        f"joints {np.nonzero(over_v)[0].tolist()} step above the velocity/braking limit")
            reject |= act == "reject"
        v = _clip(v_des, lo_v, hi_v)
        over_a = (v < lo_a - 1e-12) | (v > hi_a + 1e-12)
        if over_a.any():
            act = self.config.action_for(SafetyEvent.ACCELERATION_LIMIT)
            self._event(SafetyEvent.ACCELERATION_LIMIT, "rejected" if act == "reject" else "clamped",
                        f"joints {np.nonzero(over_a)[0].tolist()} above the acceleration limit")
            reject |= act == "reject"
        v = _clip(_clip(v, lo_a, hi_a), lo_v, hi_v)
        if not reject and self.tcp_position is not None:
            def stop_point(frac):
                vv = frac * v
                return _clip(self._q + vv * self.dt + vv * np.abs(vv) / (2.0 * self.amax), self.lower, self.upper)

            if not self._in_box(stop_point(1.0)):
                act = self.config.action_for(SafetyEvent.WORKSPACE)
                if act == "reject" or not self._in_box(self._q):
                    self._event(SafetyEvent.WORKSPACE, "rejected", "tcp would leave the workspace box")
                    reject = True
                else:
                    a, b = 0.0, 1.0
                    for _ in range(12):
                        mid = 0.5 * (a + b)
                        if self._in_box(stop_point(mid)):
                            a = mid
                        else:
                            b = mid
                    self._event(SafetyEvent.WORKSPACE, "clamped", f"tcp step shortened to {a:.3f} to stay in the box")
                    v = _clip(_clip(a * v, lo_a, hi_a), lo_v, hi_v)
        if reject:
            return self.hold_position(state)
        return self._emit_position(v)


def _ref_command_positions(ref, arm, q, qd=None):
    """SafeArm.command_positions before the fast path (armed, position mode)."""
    st_ = arm.read()
    before = ref.total_events
    q_out = ref.filter_position(q, st_)
    ff = None
    if qd is not None and ref.total_events == before:
        ff, _ = _as_command(qd, ref.n)
    if ff is None:
        arm.command_positions(q_out)
    else:
        arm.command_positions(q_out, _clip(ff, -ref.vmax, ref.vmax))


# --- the comparison --------------------------------------------------------------------------------

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


class _Log(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextmanager
def _captured_log():
    """The messages the filter logs (logger officina.safety), whatever the logging setup."""
    h = _Log()
    lg = logging.getLogger("officina.safety")
    old = lg.level
    lg.addHandler(h)
    lg.setLevel(logging.WARNING)
    try:
        yield h.messages
    finally:
        lg.removeHandler(h)
        lg.setLevel(old)


def _same_state(f, r):
    assert (f._q is None) == (r._q is None)
    if f._q is not None:
        assert np.array_equal(f._q, r._q)
    assert np.array_equal(f._v, r._v)
    assert f._stamp == r._stamp and f._last_cmd_stamp == r._last_cmd_stamp and f.holding == r.holding
    assert f.counts == r.counts and f.total_events == r.total_events
    assert list(f.events) == list(r.events)


def _command(kind, x, f, lim, rng, fast_range):
    """A command of the given kind, built from the current state (the same in both filters);
    ``fast_range``: the command range of the fast path (`SafetyFilter._fast_range`)."""
    n = f.n
    q, v = (f._q, f._v) if f._q is not None else (lim.mid(), np.zeros(n))
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
EXTRA = ["none", "estop", "release", "holding", "state_none", "stamp_nan", "stamp_str", "stamp_big"]


def _state(f, lim, k, dt, extra):
    q = f._q if f._q is not None else lim.mid()
    stamp = {"stamp_nan": np.nan, "stamp_str": "t", "stamp_big": 10**400}.get(extra, k * dt)
    if extra == "state_none":
        return None
    return JointState(stamp, (), q.copy(), np.zeros(len(q)), np.zeros(len(q)))


def _run(limits_name, config_name, seed, ops, start):
    lim = LIMITS[limits_name]
    cfg = CONFIGS[config_name]
    kw = {"tcp_position": _fk}
    f = SafetyFilter(lim, 0.001, cfg, **kw)
    r = _RefFilter(lim, 0.001, cfg, **kw)
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
    with _captured_log() as messages:
        _compare(f, r, lim, seed, ops)
    assert messages == r.messages


def _compare(f, r, lim, seed, ops):
    for k, (kind, x, extra) in enumerate(ops):
        if extra == "estop":
            f.estopped = r.estopped = True
        elif extra == "release":
            f.estopped = r.estopped = False
        elif extra == "holding":  # as after a watchdog hold
            f.holding = r.holding = True
        state = _state(r, lim, k, 0.001, extra)
        # both get the same command object's value (fresh copies: neither may keep a reference)
        cmd = _command(kind, x, r, lim, np.random.default_rng([seed, k]), (f._fast_lo, f._fast_hi))
        c1, c2 = (cmd.copy(), cmd.copy()) if isinstance(cmd, np.ndarray) else (cmd, cmd)
        out_f = f.filter_position(c1, state)
        out_r = r.filter_position(c2, state)
        assert out_f.dtype == out_r.dtype == np.float64
        assert np.array_equal(out_f, out_r), (k, kind, out_f, out_r)
        assert out_f is not f._q
        _same_state(f, r)


ops_strategy = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from([0.0, 0.5, 0.999999, 1.0, 1.000001, 2.0, -1.0]),
              st.sampled_from(["none"] * 12 + EXTRA)),
    min_size=1, max_size=60)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(limits_name=st.sampled_from(sorted(LIMITS)), config_name=st.sampled_from(sorted(CONFIGS)),
       seed=st.integers(0, 2**32 - 1), ops=ops_strategy, start=st.sampled_from(["mid", "lower", "upper", "random", "none", "box"]))
def test_filter_position_matches_the_reference(limits_name, config_name, seed, ops, start):
    _run(limits_name, config_name, seed, ops, start)


@pytest.mark.parametrize("limits_name", ["panda", "small"])
def test_long_random_walks_match_the_reference(limits_name):
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

    def command_positions(self, q, qd=None):
        self.received.append((np.array(q), None if qd is None else np.array(qd)))
        self.q = np.asarray(q, float)
        self.t += 0.001


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), ops=ops_strategy,
       qd_kind=st.lists(st.sampled_from(["none", "ok", "big", "nan", "inf", "short", "list"]), min_size=60, max_size=60))
def test_safe_arm_command_positions_matches_the_reference(seed, ops, qd_kind):
    lim = PANDA
    a_new, a_ref = _RecordingArm(lim), _RecordingArm(lim)
    arm = SafeArm(a_new, SafetyFilter(lim, 0.001, SafetyConfig(watchdog_periods=0)))
    ref = _RefFilter(lim, 0.001, SafetyConfig(watchdog_periods=0))
    ref.reset(a_ref.read())
    with _captured_log() as messages:
        _compare_arms(arm, a_new, ref, a_ref, seed, ops, qd_kind)
    assert messages == ref.messages


def _compare_arms(arm, a_new, ref, a_ref, seed, ops, qd_kind):
    lim = PANDA
    for k, (kind, x, _) in enumerate(ops):
        rng = np.random.default_rng([seed, k])
        cmd = _command(kind, x, ref, lim, rng, (arm.safety._fast_lo, arm.safety._fast_hi))
        qk = qd_kind[k]
        qd = {"none": None, "ok": rng.uniform(-1, 1, 7), "big": rng.uniform(-10, 10, 7),
              "nan": np.full(7, np.nan), "inf": np.full(7, np.inf), "short": np.zeros(3),
              "list": [0.1] * 7}[qk]
        arm.command_positions(cmd.copy() if isinstance(cmd, np.ndarray) else cmd, qd)
        _ref_command_positions(ref, a_ref, cmd, qd)
        (q1, ff1), (q2, ff2) = a_new.received[-1], a_ref.received[-1]
        assert np.array_equal(q1, q2)
        assert (ff1 is None) == (ff2 is None)
        if ff1 is not None:
            assert np.array_equal(ff1, ff2)
        _same_state(arm.safety, ref)


def test_the_fast_path_is_taken_in_the_common_case():
    """A smooth trajectory inside the limits goes through the fast path only (and the range
    of that path covers most of the joint range of a Panda)."""
    f = SafetyFilter(PANDA, 0.001)
    f.reset(JointState(0.0, (), PANDA.mid(), np.zeros(7), np.zeros(7)))
    width = (f._fast_hi - f._fast_lo) / (PANDA.upper - PANDA.lower)
    assert np.all(width > 0.6)
    ts = np.arange(2000) * 0.001
    qs = PANDA.mid() + 0.3 * (1.0 - np.cos(np.outer(ts, np.linspace(0.5, 1.5, 7))))
    calls = []
    orig = f._position_fast
    f._position_fast = lambda q, s: calls.append(orig(q, s)) or calls[-1]
    for k, q in enumerate(qs):
        f.filter_position(q, JointState(ts[k], (), q, np.zeros(7), np.zeros(7)))
    assert f.total_events == 0 and all(c is not None for c in calls)
