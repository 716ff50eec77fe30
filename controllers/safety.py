"""The safety filter between every controller and every `Arm`: a pure function of commands and states.

`SafetyFilter` turns any command (position, velocity or torque; possibly NaN, inf, of the
wrong length or huge) into a command within the limits, and says what it did: every call returns
a `Filtered` (the command to send and the `SafetyRecord` events it caused; none when the command
passed unchanged). It keeps no log and no counters; the adapters that put it in front of an arm
(`officina.controllers.safe_arm.SafeArm`, the ROS 2 safety gate) record the events.

Guarantees of every emitted command (the property tests check them):

* position mode: ``lower <= q <= upper``; the step between two emitted commands is within
  the velocity limit (``|dq| <= v_max dt``) and the change of that step within the
  acceleration limit (``|ddq| <= a_max dt^2``). Near a limit the velocity is bounded by the
  braking distance (``v <= -a dt + sqrt((a dt)^2 + 2 a d)``), so stopping is always possible
  within the acceleration limit; a command is never jerked to a stop.
* velocity mode: ``|qd| <= v_max``; ``|qd - qd_prev| <= a_max dt``; near/beyond a position
  limit the velocity toward it is bounded by the braking distance (zero beyond the limit).
* torque mode: ``|tau| <= effort``; joints beyond a position limit (moving outward) or above
  their velocity limit get a bounded braking torque instead of the command.
* workspace: the tcp (given a forward-kinematics function) stays inside an axis-aligned box
  in the base frame: a position step that would leave the box is shortened (clamp) or
  replaced by a stop (reject); velocity commands that would leave it (or, outside
  it, would not bring the tcp closer to it) are stopped.
* watchdog (`SafetyFilter.watchdog`, called once per control period by whoever owns the loop):
  no fresh command within ``watchdog_periods`` control periods -> hold: position mode brakes to a
  stop and holds the last position, velocity mode ramps to zero velocity, torque mode sends
  gravity compensation (if known) plus joint damping.

Violations are clamped or rejected according to `SafetyConfig.action` (``"clamp"``: the nearest
command within the limits; ``"reject"``: the whole command is dropped and the arm holds). A
malformed command (NaN, inf, wrong length, not numbers) is always rejected. The filter never
raises on a command or a state.

Cost: a position command that provably touches no limit (the common case at 1 kHz) takes a
short path (`SafetyFilter._position_fast`) that emits exactly what the full checks would, using
the same `_emit_position`; ``SafetyConfig(fast_path=False)`` turns it off, which is how the tests
compare the two and the simulation benchmark measures what it saves.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from officina.interfaces import ControlMode, JointLimits, JointState

__all__ = ["Filtered", "as_command", "SafetyConfig", "SafetyEvent", "SafetyFilter", "SafetyRecord"]


class SafetyEvent(str, enum.Enum):
    MALFORMED = "malformed"  # NaN/inf/wrong length/not numbers: always rejected
    POSITION_LIMIT = "position_limit"
    VELOCITY_LIMIT = "velocity_limit"
    ACCELERATION_LIMIT = "acceleration_limit"
    TORQUE_LIMIT = "torque_limit"
    WORKSPACE = "workspace"
    WATCHDOG = "watchdog"
    ESTOP = "estop"
    NOT_ARMED = "not_armed"
    WRONG_MODE = "wrong_mode"
    PROTECTIVE_STOP = "protective_stop"  # contact nobody planned for (`officina.controllers.contact`)
    # the speed override of the robot's safety system fell to 0 (speed and separation monitoring):
    # a stop the arm resumes from by itself when the override rises again, not a fault
    SPEED_OVERRIDE_STOP = "speed_override_stop"


@dataclass(frozen=True)
class SafetyRecord:
    stamp: float
    event: SafetyEvent
    action: str  # "clamped" | "rejected" | "hold"
    reason: str

    def __str__(self) -> str:
        return f"t={self.stamp:.4f} s safety {self.event.value} ({self.action}): {self.reason}"


class Filtered(NamedTuple):
    """What one call of the filter produced: the command to send and the events it caused."""

    command: np.ndarray
    events: tuple[SafetyRecord, ...] = ()


@dataclass(frozen=True)
class SafetyConfig:
    """Limits are those of the arm (`JointLimits`), scaled here; margins shrink the position range.

    ``action``: "clamp" or "reject" for limit violations (per event kind with ``actions``, e.g.
    ``{"workspace": "reject"}``). ``workspace_min/max``: tcp box (m, base frame) or None.
    ``watchdog_periods``: control periods without a fresh command before holding (0: off).
    ``fast_path``: take the short path for commands that provably touch no limit.
    """

    action: str = "clamp"
    actions: tuple[tuple[str, str], ...] = ()
    position_margin_rad: float = 0.0
    velocity_scale: float = 1.0
    acceleration_scale: float = 1.0
    effort_scale: float = 1.0
    workspace_min: tuple[float, float, float] | None = None
    workspace_max: tuple[float, float, float] | None = None
    watchdog_periods: int = 10
    hold_damping: float = 2.0  # N·m·s/rad per unit of effort fraction, torque-mode hold/brake
    fast_path: bool = True

    def __post_init__(self) -> None:
        for a in [self.action] + [v for _, v in self.actions]:
            if a not in ("clamp", "reject"):
                raise ValueError(f"safety action {a!r}: expected 'clamp' or 'reject'")
        for k, _ in self.actions:
            try:
                SafetyEvent(k)
            except ValueError:
                raise ValueError(f"safety actions: unknown event {k!r}; expected one of "
                                 f"{', '.join(e.value for e in SafetyEvent)}") from None
        for nm in ("velocity_scale", "acceleration_scale", "effort_scale"):
            v = getattr(self, nm)
            if not (0.0 < v <= 1.0):
                raise ValueError(f"{nm} must be in (0, 1], got {v}")
        if (self.workspace_min is None) != (self.workspace_max is None):
            raise ValueError("workspace_min and workspace_max go together")
        if self.workspace_min is not None and np.any(np.asarray(self.workspace_min) >= np.asarray(self.workspace_max)):
            raise ValueError("workspace_min must be below workspace_max on every axis")
        if self.watchdog_periods < 0:
            raise ValueError("watchdog_periods must be >= 0")
        if not 0.0 <= self.position_margin_rad < float("inf"):  # a negative one would widen the limits
            raise ValueError(f"position_margin_rad must be >= 0, got {self.position_margin_rad}")

    def action_for(self, event: SafetyEvent) -> str:
        return dict(self.actions).get(event.value, self.action)


def _clip(a, lo, hi):
    """np.clip for the hot path (a third of its call overhead on 6-7 element arrays)."""
    return np.minimum(np.maximum(a, lo), hi)


def as_command(x, n: int) -> tuple[np.ndarray | None, str]:
    """``x`` as a command of ``n`` finite floats (a copy), or None and why it is not one."""
    if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (n,) and all(map(math.isfinite, x.tolist())):
        return x.copy(), ""  # the common case: a well-formed float array
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




class SafetyFilter:
    """Filters the commands of one arm at its control period ``dt`` (s).

    ``reset(state)`` starts a command sequence from a measured state (when arming or switching
    mode; the first command does it if nobody did). Then one ``filter_*`` call per command and
    one ``watchdog(state, mode)`` call per control period. ``tcp_position``: optional
    ``q -> xyz`` (base frame) for the workspace box; ``gravity``: optional ``q -> tau`` used for
    the torque-mode hold.
    """

    def __init__(
        self,
        limits: JointLimits,
        dt: float,
        config: SafetyConfig | None = None,
        *,
        tcp_position: Callable[[np.ndarray], np.ndarray] | None = None,
        gravity: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        if not (dt > 0 and np.isfinite(dt)):
            raise ValueError(f"dt must be positive, got {dt}")
        self.config = config or SafetyConfig()
        c = self.config
        self.dt = float(dt)
        self.n = limits.n
        self._fast_path = c.fast_path
        # the watchdog's silence limit (s), None without a watchdog
        self._stale_after = (c.watchdog_periods + 0.5) * self.dt if c.watchdog_periods > 0 else None
        self.lower = np.asarray(limits.lower, float) + c.position_margin_rad
        self.upper = np.asarray(limits.upper, float) - c.position_margin_rad
        if np.any(self.lower >= self.upper):
            raise ValueError("position_margin_rad leaves no range for some joint")
        self.vmax = np.asarray(limits.velocity, float) * c.velocity_scale
        self._vfull = self.vmax.copy()  # the velocity limits without a speed override
        self._speed_scale = 1.0
        self._scaled = False  # the limits are currently below _vfull (an override acts)
        self.amax = np.asarray(limits.acceleration, float) * c.acceleration_scale
        self.effort = np.asarray(limits.effort, float) * c.effort_scale
        self._adt = self.amax * self.dt
        self._adt2 = self._adt * self._adt
        self._two_a = 2.0 * self.amax
        self._neg_vmax = -self.vmax
        self._fast_lo, self._fast_hi = self._fast_range()
        self._vlo, self._vhi = (-self._vfull).tolist(), self._vfull.tolist()  # without an override
        self._shape = (self.n,)
        # per joint, as Python floats (the fast path's arithmetic on 6-7 joints is cheaper in the
        # interpreter than in numpy's per-call overhead): the fast range, -v_max, v_max, a_max dt
        self._fast_joints = None if self._fast_lo is None else tuple(zip(
            self._fast_lo.tolist(), self._fast_hi.tolist(), (-self._vfull).tolist(), self._vfull.tolist(),
            self._adt.tolist()))
        self.tcp_position = tcp_position if c.workspace_min is not None else None
        self.box_min = None if c.workspace_min is None else np.asarray(c.workspace_min, float)
        self.box_max = None if c.workspace_max is None else np.asarray(c.workspace_max, float)
        self.gravity = gravity
        self._estopped = False
        # The last emitted position command (position mode; None before the first) and the
        # velocity of the emitted command sequence, each held as an array or as a list of Python
        # floats (the fast path's form), the other form made when asked for (see `_q`, `_v`).
        self._qa: np.ndarray | None = None
        self._ql: list[float] | None = None
        self._va: np.ndarray | None = np.zeros(self.n)
        self._vl: list[float] | None = None
        self._q_in: np.ndarray | None = None  # last position command received (before filtering)
        self._last_cmd_stamp: float | None = None
        self._stamp = 0.0
        self._holding = False

    # --- the command sequence's state: arrays for numpy, float lists for the fast path -------------
    @property
    def _q(self) -> np.ndarray | None:
        if self._qa is None and self._ql is not None:
            self._qa = np.array(self._ql)
        return self._qa

    @_q.setter
    def _q(self, q: np.ndarray | None) -> None:
        self._qa, self._ql = q, None

    @property
    def _v(self) -> np.ndarray:
        if self._va is None:
            self._va = np.array(self._vl)
        return self._va

    @_v.setter
    def _v(self, v: np.ndarray) -> None:
        self._va, self._vl = v, None

    # --- state, read-only from outside ------------------------------------------------------------
    @property
    def estopped(self) -> bool:
        return self._estopped

    @property
    def holding(self) -> bool:
        """True while the watchdog holds (from its first expired period to the next command)."""
        return self._holding

    @property
    def last_position(self) -> np.ndarray | None:
        """The last emitted position command (position mode), or None before the first."""
        return None if self._q is None else self._q.copy()

    @property
    def velocity(self) -> np.ndarray:
        """The velocity of the emitted command sequence (rad/s)."""
        return self._v.copy()

    @property
    def at_rest(self) -> bool:
        """The emitted command sequence has stopped (velocity zero)."""
        return float(np.max(np.abs(self._v))) < 1e-9

    def feedforward(self, qd) -> np.ndarray | None:
        """A velocity feed-forward clipped to the velocity limits, or None if it is malformed."""
        out = self.feedforward_floats(qd)
        return None if out is None else np.array(out)

    def feedforward_floats(self, qd) -> list[float] | None:
        """`feedforward` as a list of Python floats (the same values), or None."""
        if not self._scaled and type(qd) is np.ndarray and qd.dtype == np.float64 and qd.shape == self._shape:
            # the common case, in Python floats (the same clip as below, value for value)
            xs = qd.tolist()
            for x, lo, hi in zip(xs, self._vlo, self._vhi):
                if not lo <= x <= hi:
                    break
            else:
                return xs  # within the limits: as it is
            out: list[float] = []
            for x, lo, hi in zip(xs, self._vlo, self._vhi):
                if not lo <= x <= hi:  # outside the limits, or not a number
                    if not math.isfinite(x):
                        return None
                    x = hi if x > hi else lo
                out.append(x)
            return out
        v, _ = as_command(qd, self.n)
        return None if v is None else _clip(v, self._neg_vmax, self.vmax).tolist()

    def _rec(self, events: list, event: SafetyEvent, action: str, reason: str) -> None:
        events.append(SafetyRecord(self._stamp, event, action, reason))

    def reset(self, state: JointState | None) -> None:
        """Start from the measured state (positions clamped into the limits, velocity measured
        and clamped), e.g. when arming or switching mode."""
        q = None if state is None else as_command(getattr(state, "position", None), self.n)[0]
        v = None if state is None else as_command(getattr(state, "velocity", None), self.n)[0]
        self._q = None if q is None else _clip(q, self.lower, self.upper)
        self._v = np.zeros(self.n) if v is None else _clip(v, -self.vmax, self.vmax)
        if self._q is not None:
            # The sequence must be able to stop: bound the initial velocity by the braking distance.
            lo, hi = self._brake_bounds(self._q)
            self._v = _clip(self._v, lo, hi)
        self._last_cmd_stamp = None if state is None else self._stamp_of(state)
        self._q_in = None
        self._holding = False

    def set_estop(self, active: bool, state: JointState | None = None) -> tuple[SafetyRecord, ...]:
        """E-stop on: every command is replaced by the hold of its mode until it is released.
        Releasing restarts the command sequence from ``state``."""
        events: list[SafetyRecord] = []
        if active and not self._estopped:
            self._stamp = self._stamp_of(state)
            self._rec(events, SafetyEvent.ESTOP, "hold", "e-stop requested")
        if not active and self._estopped:
            self.reset(state)
        self._estopped = bool(active)
        return tuple(events)

    def _stamp_of(self, state) -> float:
        """``state.stamp`` as a float, or the last stamp when it has none (the callers on the
        hot path take a finite float stamp as it is, without calling this)."""
        try:
            s = float(getattr(state, "stamp", self._stamp))
            return s if math.isfinite(s) else self._stamp
        except (TypeError, ValueError):
            return self._stamp

    def _measured(self, state) -> tuple[np.ndarray | None, np.ndarray | None]:
        q = as_command(getattr(state, "position", None), self.n)[0] if state is not None else None
        v = as_command(getattr(state, "velocity", None), self.n)[0] if state is not None else None
        return q, v

    @property
    def speed_scale(self) -> float:
        """The speed override in force (1: none)."""
        return self._speed_scale

    def set_speed_scale(self, scale: float) -> None:
        """A speed override from the safety system (e.g. speed and separation monitoring), in
        [0, 1]: from the next command on, every joint's velocity limit is ``scale`` times its own
        and a joint moving faster brakes within its acceleration limit (never jerked to a stop);
        0 brings the arm to rest and holds it there. Not a number: 0."""
        s = float(scale) if isinstance(scale, (int, float, np.floating)) and math.isfinite(scale) else 0.0
        self._speed_scale = min(1.0, max(0.0, s))

    def _apply_speed_scale(self) -> None:
        """The velocity limits of this period under the override: ``scale * v_max``, but never
        below what braking from the current velocity within the acceleration limit reaches."""
        if self._speed_scale >= 1.0 and not self._scaled:
            return
        cap = np.minimum(self._vfull, np.maximum(self._speed_scale * self._vfull, np.abs(self._v) - self._adt))
        self._scaled = bool(np.any(cap < self._vfull))
        self.vmax = cap if self._scaled else self._vfull.copy()
        self._neg_vmax = -self.vmax

    def _brake_bounds(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Velocity bounds such that a stop within the acceleration limit is possible before the
        position limits (discrete-time braking distance, one period of lookahead)."""
        adt = self._adt
        d_up = np.maximum(self.upper - q, 0.0)
        d_lo = np.maximum(q - self.lower, 0.0)
        vb_up = np.sqrt(self._adt2 + self._two_a * d_up) - adt
        vb_lo = np.sqrt(self._adt2 + self._two_a * d_lo) - adt
        return -np.minimum(vb_lo, self.vmax), np.minimum(vb_up, self.vmax)

    def _fast_range(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Per joint, the commands ``[lo, hi]`` for which `_position_fast` may decide (None: never,
        e.g. infinite or extreme limits). Far enough inside the limits that, whenever the step
        to such a command is within ``+-v_max dt``, the last command too is so far from the
        limits that `_brake_bounds` gives exactly ``(-v_max, v_max)`` for it.

        The braking bound is ``v_max`` from a distance ``D = v_max (v_max + 2 a dt) / 2a`` (the
        bound of `_brake_bounds` solved for d); ``dm`` is D plus 1e-9 relative and the float
        check of it below uses `_brake_bounds`' own operations, all monotone in d. ``[lo, hi]``
        keeps ``dm + 2 v_max dt`` from the limits, so the last command, within
        ``v_max dt (1 + 4 eps)`` of the new one, keeps more than ``dm`` (checked in floats, and
        ``v_max dt`` checked to dwarf the rounding of positions).
        """
        vals = (self.lower, self.upper, self.vmax, self.amax)
        if not (all(np.all(np.isfinite(x)) and np.all(np.abs(x) < 1e50) for x in vals)
                and np.all(self.vmax > 0) and np.all(self.amax > 0) and 1e-50 < self.dt < 1e50):
            return None, None
        with np.errstate(all="ignore"):
            step = self.vmax * self.dt
            dm = self.vmax * (self.vmax + 2.0 * self._adt) / (2.0 * self.amax) * (1.0 + 1e-9)
            lo, hi = self.lower + (dm * (1.0 + 1e-9) + 2.0 * step), self.upper - (dm * (1.0 + 1e-9) + 2.0 * step)
            lo_prev, hi_prev = lo - 1.5 * step, hi + 1.5 * step  # the last command is within these
            reach = np.sqrt(self._adt2 + self._two_a * dm) - self._adt
            ok = ((reach >= self.vmax) & (lo_prev - self.lower >= dm) & (self.upper - hi_prev >= dm) & (lo <= hi)
                  & (step > 1e-9 * (1.0 + np.abs(self.lower) + np.abs(self.upper))))
        lo, hi = np.where(ok, lo, np.inf), np.where(ok, hi, -np.inf)  # a joint without a range: never
        for a in (lo, hi):
            a.flags.writeable = False
        return lo, hi

    def in_workspace(self, q: np.ndarray) -> bool:
        """True when the tcp at ``q`` is inside the workspace box (always, without a box; never when
        the model fails or gives no finite point)."""
        return self._box_excess(q) == 0.0

    def _box_excess(self, q: np.ndarray) -> float:
        """How far (m) the tcp at ``q`` is outside the workspace box: 0 inside (or without a box),
        ``inf`` when the model fails or gives no finite point."""
        if self.tcp_position is None:
            return 0.0
        try:
            p = np.asarray(self.tcp_position(q), dtype=float).reshape(3)
        except Exception:  # noqa: BLE001 - a failing model counts as outside
            return math.inf
        if not np.all(np.isfinite(p)):
            return math.inf
        return float(np.linalg.norm(np.maximum(np.maximum(self.box_min - p, p - self.box_max), 0.0)))

    # --- position mode ----------------------------------------------------------------------------
    def _braking_step(self) -> np.ndarray:
        """Velocity of the next step when stopping: toward zero within the acceleration limit."""
        adt = self.amax * self.dt
        v = np.sign(self._v) * np.maximum(np.abs(self._v) - adt, 0.0)
        lo, hi = self._brake_bounds(self._q)
        return _clip(_clip(v, lo, hi), self._v - adt, self._v + adt)

    def _emit_position(self, v_new: np.ndarray) -> np.ndarray:
        q_new = _clip(self._q + v_new * self.dt, self.lower, self.upper)
        self._v = (q_new - self._q) / self.dt
        self._q = q_new
        return q_new.copy()

    def hold_position(self, state=None) -> np.ndarray:
        """The next command of a stop (braking within the limits, then holding)."""
        if self._q is None:
            self.reset(state)
            if self._q is None:
                return _clip(np.zeros(self.n), self.lower, self.upper)
        return self._emit_position(self._braking_step())

    def _position_fast(self, q, state) -> list[float] | None:
        """`filter_position` of a well-formed command that provably touches no limit (the command
        to send as a list of Python floats, which is also the filter's state: not to be changed),
        else None.

        The pre-check: the command is within `_fast_range` (so it is finite, within the limits,
        and the last command is far enough from them that its velocity/braking bounds are
        exactly ``+-v_max``) and its step velocity is within ``+-v_max`` and the acceleration
        bounds ``v_prev -+ a dt``. Then every check of `filter_position` passes without an event
        and leaves the step as it is, and this emits the same command by the same arithmetic
        as `_emit_position` (IEEE double operations one joint at a time, as numpy does them
        element-wise, so the bits are the same). Nothing changes unless a command is returned.
        Only called without a speed override in force (the limits are then the unscaled ones
        held in ``_fast_joints``).
        """
        joints = self._fast_joints
        if (type(q) is not np.ndarray or q.dtype != np.float64 or q.shape != self._shape
                or self._estopped or self.tcp_position is not None or joints is None):
            return None
        q_prev = self._ql
        if q_prev is None:
            if self._qa is None:
                return None
            q_prev = self._ql = self._qa.tolist()
        v_prev = self._vl
        if v_prev is None:
            v_prev = self._vl = self._va.tolist()
        dt = self.dt
        q_new: list[float] = []
        v_new: list[float] = []
        for x, p, vp, (lo_q, hi_q, neg_vmax, vmax, adt) in zip(q.tolist(), q_prev, v_prev, joints):
            v = (x - p) / dt  # (no exception in floats: NaN or inf at worst, refused below)
            # within the fast range (also not NaN, inf, huge), and max(v_prev - a dt, -v_max) <= v
            # <= min(v_prev + a dt, v_max), as four comparisons
            if not (lo_q <= x <= hi_q and neg_vmax <= v <= vmax and vp - adt <= v <= vp + adt):
                return None
            # `_emit_position` without its clip: the command is inside the fast range, more than
            # two velocity steps from the limits, so the clip is the identity (and the bits the same).
            y = p + v * dt
            q_new.append(y)
            v_new.append((y - p) / dt)
        s = getattr(state, "stamp", None)
        self._stamp = self._last_cmd_stamp = s if type(s) is float and math.isfinite(s) else self._stamp_of(state)
        self._vl, self._va = v_new, None
        self._ql, self._qa = q_new, None
        self._q_in = q
        self._holding = False
        return q_new

    def filter_position(self, q_cmd, state: JointState | None = None) -> Filtered:
        """A position command (rad) -> the position command to send (always within the limits)."""
        out = self.filter_position_floats(q_cmd, state)
        if out is not None:
            return Filtered(np.array(out))
        events: list[SafetyRecord] = []
        with np.errstate(all="ignore"):
            try:
                cmd = self._filter_position(q_cmd, state, events)
            except Exception as exc:  # noqa: BLE001 - the loop must never see an exception
                self._rec(events, SafetyEvent.MALFORMED, "rejected", f"position command: {type(exc).__name__}: {exc}")
                cmd = self._hold_or_reset(ControlMode.POSITION, state)
        return Filtered(cmd, tuple(events))

    def filter_position_floats(self, q_cmd, state: JointState | None = None) -> list[float] | None:
        """`filter_position` of a command its fast path decides (no event, the command passes
        unchanged but for rounding), as a list of Python floats (not to be changed); None, with
        nothing changed, for a command that needs the full checks: then call `filter_position`."""
        if not self._speed_scale >= 1.0 or self._scaled:  # (else `_apply_speed_scale` has nothing to do)
            self._apply_speed_scale()  # (idempotent: a second call, from `filter_position`, changes nothing)
        if not self._fast_path or self._scaled:
            return None
        try:
            return self._position_fast(q_cmd, state)
        except Exception:  # noqa: BLE001 - the full checks decide (and record) what happens
            return None

    def _filter_position(self, q_cmd, state, events: list) -> np.ndarray:
        self._stamp = self._stamp_of(state)
        if self._q is None:
            self.reset(state)
            if self._q is None:  # no usable state either: hold the clamped command or mid-range
                q0, _ = as_command(q_cmd, self.n)
                self._q = _clip(q0 if q0 is not None else 0.5 * (self.lower + self.upper), self.lower, self.upper)
                self._v = np.zeros(self.n)
        if self._estopped:
            self._rec(events, SafetyEvent.ESTOP, "hold", "e-stop active")
            return self.hold_position(state)
        q, why = as_command(q_cmd, self.n)
        if q is None:
            self._rec(events, SafetyEvent.MALFORMED, "rejected", f"position command: {why}")
            return self.hold_position(state)
        self._last_cmd_stamp = self._stamp
        self._holding = False
        reject = False
        # 1. position limits
        out = (q < self.lower) | (q > self.upper)
        if out.any():
            act = self.config.action_for(SafetyEvent.POSITION_LIMIT)
            self._rec(events, SafetyEvent.POSITION_LIMIT, "rejected" if act == "reject" else "clamped",
                      f"joints {np.nonzero(out)[0].tolist()} outside [lower, upper]")
            reject |= act == "reject"
            q = _clip(q, self.lower, self.upper)
        # 2. velocity (and braking distance), 3. acceleration
        v_des = (q - self._q) / self.dt
        lo_b, hi_b = self._brake_bounds(self._q)
        lo_v, hi_v = np.maximum(-self.vmax, lo_b), np.minimum(self.vmax, hi_b)
        adt = self.amax * self.dt
        lo_a, hi_a = self._v - adt, self._v + adt
        over_v = (v_des < lo_v - 1e-12) | (v_des > hi_v + 1e-12)
        if over_v.any():
            act = self.config.action_for(SafetyEvent.VELOCITY_LIMIT)
            self._rec(events, SafetyEvent.VELOCITY_LIMIT, "rejected" if act == "reject" else "clamped",
                      f"joints {np.nonzero(over_v)[0].tolist()} step above the velocity/braking limit")
            reject |= act == "reject"
        v = _clip(v_des, lo_v, hi_v)
        over_a = (v < lo_a - 1e-12) | (v > hi_a + 1e-12)
        if over_a.any():
            act = self.config.action_for(SafetyEvent.ACCELERATION_LIMIT)
            self._rec(events, SafetyEvent.ACCELERATION_LIMIT, "rejected" if act == "reject" else "clamped",
                      f"joints {np.nonzero(over_a)[0].tolist()} above the acceleration limit")
            reject |= act == "reject"
        # A clamped joint falls behind its command and then catches up with it. It approaches the
        # command no faster than it could stop where the command would stop if it braked now
        # within the same acceleration limit (the gap plus the command's own braking distance;
        # discrete, as for the position limits), so it joins the command instead of running past
        # it and swinging about it (an acceleration-limited chase that does not brake ahead
        # overshoots by about as much as it lagged, again and again).
        clamped = over_v | over_a
        if clamped.any():
            gap = q - self._q
            ahead = np.zeros(self.n) if self._q_in is None else np.maximum(
                np.sign(gap) * _clip((q - self._q_in) / self.dt, -self.vmax, self.vmax), 0.0)
            reach = np.abs(gap) + ahead * ahead / self._two_a
            vb = np.sqrt(self._adt2 + self._two_a * reach) - self._adt
            v = np.where(clamped, _clip(v, -vb, vb), v)
        self._q_in = q
        # Acceleration bounds first, then the (hard) velocity/braking bounds: by construction of
        # the braking bound the two intersect whenever the previous command respected them.
        v = _clip(_clip(v, lo_a, hi_a), lo_v, hi_v)
        # 4. workspace: the tcp must stay in the box at the point where the arm would stop if it
        # braked after this step (per-joint braking distance v|v|/2a), so the box is approached
        # within the acceleration limit instead of being hit.
        if not reject and self.tcp_position is not None:
            def stop_point(frac: float) -> np.ndarray:
                vv = frac * v
                return _clip(self._q + vv * self.dt + vv * np.abs(vv) / (2.0 * self.amax), self.lower, self.upper)

            if not self.in_workspace(stop_point(1.0)):
                act = self.config.action_for(SafetyEvent.WORKSPACE)
                if act == "reject" or not self.in_workspace(self._q):
                    self._rec(events, SafetyEvent.WORKSPACE, "rejected", "tcp would leave the workspace box")
                    reject = True
                else:
                    a, b = 0.0, 1.0
                    for _ in range(12):
                        mid = 0.5 * (a + b)
                        if self.in_workspace(stop_point(mid)):
                            a = mid
                        else:
                            b = mid
                    self._rec(events, SafetyEvent.WORKSPACE, "clamped", f"tcp step shortened to {a:.3f} to stay in the box")
                    # The shortened step, within the acceleration limit (the joint limits are
                    # hard, the box is kept by braking early).
                    v = _clip(_clip(a * v, lo_a, hi_a), lo_v, hi_v)
        if reject:
            return self.hold_position(state)
        return self._emit_position(v)

    # --- velocity mode ----------------------------------------------------------------------------
    def _velocity_bounds(self, q_meas: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = -self.vmax, self.vmax.copy()
        if q_meas is not None:
            lb, hb = self._brake_bounds(_clip(q_meas, self.lower, self.upper))
            lo, hi = np.maximum(lo, lb), np.minimum(hi, hb)
            hi = np.where(q_meas >= self.upper, np.minimum(hi, 0.0), hi)
            lo = np.where(q_meas <= self.lower, np.maximum(lo, 0.0), lo)
        return lo, hi

    def hold_velocity(self, state=None) -> np.ndarray:
        """The next command of a stop in velocity mode: ramp to zero within the acceleration limit."""
        adt = self.amax * self.dt
        v = np.sign(self._v) * np.maximum(np.abs(self._v) - adt, 0.0)
        q_meas, _ = self._measured(state)
        lo, hi = self._velocity_bounds(q_meas)
        v = _clip(v, np.minimum(lo, 0.0), np.maximum(hi, 0.0))
        v = _clip(v, -self.vmax, self.vmax)
        self._v = v
        return v.copy()

    def filter_velocity(self, qd_cmd, state: JointState | None = None) -> Filtered:
        """A velocity command (rad/s) -> the velocity command to send."""
        self._apply_speed_scale()
        events: list[SafetyRecord] = []
        with np.errstate(all="ignore"):
            try:
                cmd = self._filter_velocity(qd_cmd, state, events)
            except Exception as exc:  # noqa: BLE001 - the loop must never see an exception
                self._rec(events, SafetyEvent.MALFORMED, "rejected", f"velocity command: {type(exc).__name__}: {exc}")
                cmd = self._hold_or_reset(ControlMode.VELOCITY, state)
        return Filtered(cmd, tuple(events))

    def _filter_velocity(self, qd_cmd, state, events: list) -> np.ndarray:
        self._stamp = self._stamp_of(state)
        if self._estopped:
            self._rec(events, SafetyEvent.ESTOP, "hold", "e-stop active")
            return self.hold_velocity(state)
        v_des, why = as_command(qd_cmd, self.n)
        if v_des is None:
            self._rec(events, SafetyEvent.MALFORMED, "rejected", f"velocity command: {why}")
            return self.hold_velocity(state)
        self._last_cmd_stamp = self._stamp
        self._holding = False
        q_meas, _ = self._measured(state)
        reject = False
        lo_v, hi_v = self._velocity_bounds(q_meas)
        over_v = (v_des < lo_v) | (v_des > hi_v)
        if over_v.any():
            beyond = q_meas is not None and bool(np.any(((q_meas >= self.upper) & (v_des > 0)) | ((q_meas <= self.lower) & (v_des < 0))))
            ev = SafetyEvent.POSITION_LIMIT if beyond else SafetyEvent.VELOCITY_LIMIT
            act = self.config.action_for(ev)
            self._rec(events, ev, "rejected" if act == "reject" else "clamped",
                      f"joints {np.nonzero(over_v)[0].tolist()} above the velocity/braking limit")
            reject |= act == "reject"
        v = _clip(v_des, lo_v, hi_v)
        adt = self.amax * self.dt
        over_a = np.abs(v - self._v) > adt + 1e-12
        if over_a.any():
            act = self.config.action_for(SafetyEvent.ACCELERATION_LIMIT)
            self._rec(events, SafetyEvent.ACCELERATION_LIMIT, "rejected" if act == "reject" else "clamped",
                      f"joints {np.nonzero(over_a)[0].tolist()} above the acceleration limit")
            reject |= act == "reject"
        v = _clip(v, self._v - adt, self._v + adt)
        # The velocity limit is hard (the acceleration limit yields to it, e.g. after a reset).
        v = _clip(v, -self.vmax, self.vmax)
        if not reject and self.tcp_position is not None and q_meas is not None:
            # Look ahead by the stopping time of the command: leaving the box -> stop. Outside the
            # box (started there, or carried out by a measurement), only a command that brings the
            # tcp closer to the box, or none (standing still), passes.
            t_stop = float(np.max(np.abs(v) / self.amax)) + self.dt
            ahead = self._box_excess(q_meas + v * t_stop)
            if ahead > 0.0:
                now = self._box_excess(q_meas)
                if now == 0.0:
                    self._rec(events, SafetyEvent.WORKSPACE, "rejected", "tcp would leave the workspace box")
                    reject = True
                elif not ahead < now and np.any(v != 0.0):  # (standing still is no move away)
                    self._rec(events, SafetyEvent.WORKSPACE, "rejected",
                              "tcp outside the workspace box would not move back toward it")
                    reject = True
        if reject:
            return self.hold_velocity(state)
        self._v = v
        return v.copy()

    # --- torque mode ------------------------------------------------------------------------------
    def _brake_torque(self, q, v) -> np.ndarray:
        g = np.zeros(self.n)
        if self.gravity is not None and q is not None:
            try:
                g = np.asarray(self.gravity(q), dtype=float).reshape(self.n)
                if not np.all(np.isfinite(g)):
                    g = np.zeros(self.n)
            except Exception:  # noqa: BLE001
                g = np.zeros(self.n)
        damp = self.config.hold_damping * self.effort / np.maximum(self._vfull, 1e-6)
        tau = g - (0.0 if v is None else damp * v)
        return _clip(tau, -self.effort, self.effort)

    def hold_torque(self, state=None) -> np.ndarray:
        """Gravity compensation (if known) plus joint damping, within the effort limits."""
        q, v = self._measured(state)
        return self._brake_torque(q, v)

    def filter_torque(self, tau_cmd, state: JointState | None = None) -> Filtered:
        """A torque command (N·m) -> the torque command to send (always within the effort limits)."""
        self._apply_speed_scale()
        events: list[SafetyRecord] = []
        with np.errstate(all="ignore"):
            try:
                cmd = self._filter_torque(tau_cmd, state, events)
            except Exception as exc:  # noqa: BLE001 - the loop must never see an exception
                self._rec(events, SafetyEvent.MALFORMED, "rejected", f"torque command: {type(exc).__name__}: {exc}")
                cmd = self._hold_or_reset(ControlMode.TORQUE, state)
        return Filtered(cmd, tuple(events))

    def _filter_torque(self, tau_cmd, state, events: list) -> np.ndarray:
        self._stamp = self._stamp_of(state)
        if self._estopped:
            self._rec(events, SafetyEvent.ESTOP, "hold", "e-stop active")
            return self.hold_torque(state)
        tau, why = as_command(tau_cmd, self.n)
        if tau is None:
            self._rec(events, SafetyEvent.MALFORMED, "rejected", f"torque command: {why}")
            return self.hold_torque(state)
        self._last_cmd_stamp = self._stamp
        self._holding = False
        q, v = self._measured(state)
        over = np.abs(tau) > self.effort
        if over.any():
            act = self.config.action_for(SafetyEvent.TORQUE_LIMIT)
            self._rec(events, SafetyEvent.TORQUE_LIMIT, "rejected" if act == "reject" else "clamped",
                      f"joints {np.nonzero(over)[0].tolist()} above the effort limit")
            if act == "reject":
                return self.hold_torque(state)
            tau = _clip(tau, -self.effort, self.effort)
        if q is not None and v is not None:
            brake = self._brake_torque(q, v)
            outward = ((q >= self.upper) & (v > 0)) | ((q <= self.lower) & (v < 0))
            fast = np.abs(v) > self.vmax
            bad = outward | fast
            if bad.any():
                ev = SafetyEvent.POSITION_LIMIT if outward.any() else SafetyEvent.VELOCITY_LIMIT
                self._rec(events, ev, "clamped", f"joints {np.nonzero(bad)[0].tolist()} braked "
                          f"({'beyond a position limit' if outward.any() else 'above the velocity limit'})")
                tau = np.where(bad, brake, tau)
            if self.tcp_position is not None and not self.in_workspace(q):
                self._rec(events, SafetyEvent.WORKSPACE, "rejected", "tcp outside the workspace box: braking")
                tau = brake
        return _clip(tau, -self.effort, self.effort)

    # --- holding and the watchdog -------------------------------------------------------------------
    def hold(self, mode: ControlMode, state=None) -> np.ndarray:
        """The next command of a stop in ``mode`` (what the watchdog, an e-stop or a refused
        command sends)."""
        mode = ControlMode(mode)
        if mode == ControlMode.POSITION:
            return self.hold_position(state)
        if mode == ControlMode.VELOCITY:
            return self.hold_velocity(state)
        return self.hold_torque(state)

    def _hold_or_reset(self, mode: ControlMode, state) -> np.ndarray:
        try:
            return self.hold(mode, state)
        except Exception:  # noqa: BLE001 - a state that breaks the hold: hold from nothing
            return self.hold(mode, None)

    def stale(self, state) -> bool:
        """True when no fresh command came within ``watchdog_periods`` periods of ``state.stamp``."""
        last, after = self._last_cmd_stamp, self._stale_after
        if after is None or last is None:
            return False
        return self._stamp_of(state) - last > after

    def watchdog(self, state, mode: ControlMode = ControlMode.POSITION) -> Filtered | None:
        """Once per control period: None while commands are fresh; otherwise the hold command of
        ``mode`` to send this period, with a WATCHDOG event on the first period of the silence.

        A silence after the command sequence has come to rest (position or velocity mode) is no
        event and needs no hold: the arm already holds its last setpoint, which is what the hold
        would send. A torque command is never left standing."""
        last, after = self._last_cmd_stamp, self._stale_after
        if after is None or last is None:
            return None  # `stale`, without its calls while commands come
        s = getattr(state, "stamp", None)
        now = s if type(s) is float and math.isfinite(s) else self._stamp_of(state)
        if not now - last > after:
            return None
        mode = ControlMode(mode)
        if not self._holding and mode != ControlMode.TORQUE and self.at_rest:
            return None
        events: list[SafetyRecord] = []
        with np.errstate(all="ignore"):
            if not self._holding:
                self._stamp = self._stamp_of(state)
                self._holding = True
                self._rec(events, SafetyEvent.WATCHDOG, "hold",
                          f"no fresh command for {self.config.watchdog_periods} periods")
            cmd = self._hold_or_reset(mode, state)
        return Filtered(cmd, tuple(events))
