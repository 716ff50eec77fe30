"""Trajectory semantics of ros2_control's joint_trajectory_controller, as pure functions.

No rclpy here: the sim node converts a ``trajectory_msgs/JointTrajectory`` into a
`TrajectoryMsg` (plain floats and tuples) and calls `validate_trajectory`; the controller loop
calls `JointTrajectoryFollower.sample(t)` once per control period. The gate uses the same
functions to check a trajectory before it forwards it. Rules (ros2_controllers
``joint_trajectory_controller`` userdoc, "Trajectory Representation" and "Trajectory
Replacement"):

* an empty trajectory (no joint names or no points) is rejected;
* every controller joint must be named (any order) unless ``allow_partial_joints_goal``; joint
  names must be known and unique; omitted joints (partial goals) hold their desired position;
* every point has positions (one per named joint); velocities and accelerations are either
  empty or one per joint; all values finite;
* ``time_from_start`` is counted from ``header.stamp`` (zero stamp = now) and strictly increasing;
* a trajectory with a non-zero stamp that ends in the past is rejected; waypoints already in the
  past are dropped (the rest is executed);
* the last point must have zero velocity unless ``allow_nonzero_velocity_at_trajectory_end``;
* interpolation per segment: positions only -> linear; + velocities -> cubic; + velocities and
  accelerations -> quintic. From the desired state at hand-off to the first point, the same rule
  by the first point's fields (a first point at ``time_from_start`` 0 is reached at once);
* a new trajectory replaces the active one from its start time on (a future start is deferred;
  until then the active trajectory or hold continues); after the last point its position is held.

All times are seconds of the clock in use (simulation time in fast/lockstep pacing).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = [
    "Interp",
    "JtcConfig",
    "TrajectoryPointMsg",
    "TrajectoryMsg",
    "Trajectory",
    "TrajectoryRejected",
    "validate_trajectory",
    "interpolate",
    "segment_kind",
    "JointTrajectoryFollower",
    "sample_trajectory",
]


class Interp(str, enum.Enum):
    LINEAR = "linear"
    CUBIC = "cubic"
    QUINTIC = "quintic"


@dataclass(frozen=True)
class JtcConfig:
    allow_partial_joints_goal: bool = False
    allow_nonzero_velocity_at_trajectory_end: bool = False
    stopped_velocity_tolerance: float = 0.01


@dataclass(frozen=True)
class TrajectoryPointMsg:
    """One ``JointTrajectoryPoint``: ``time_from_start`` in seconds, fields as given (may be empty)."""

    time_from_start: float
    positions: Sequence[float] = ()
    velocities: Sequence[float] = ()
    accelerations: Sequence[float] = ()


@dataclass(frozen=True)
class TrajectoryMsg:
    """A ``JointTrajectory`` in plain Python: ``stamp`` seconds of the clock in use (0 = now)."""

    stamp: float
    joint_names: tuple[str, ...]
    points: tuple[TrajectoryPointMsg, ...]


@dataclass(frozen=True)
class Trajectory:
    """A validated trajectory in controller joint order, absolute times.

    ``qd``/``qdd`` are None when the points carried no velocities/accelerations. ``received``
    is the time the message was accepted (the earliest possible hand-off).
    """

    start: float
    times: np.ndarray  # (K,) absolute seconds, strictly increasing
    q: np.ndarray  # (K, n)
    qd: np.ndarray | None
    qdd: np.ndarray | None
    received: float = 0.0

    @property
    def end(self) -> float:
        return float(self.times[-1])

    @property
    def kind(self) -> Interp:
        return segment_kind(self.qd is not None, self.qdd is not None)


class TrajectoryRejected(ValueError):
    """Raised by `validate_trajectory` with a one-line reason."""


def segment_kind(has_velocities: bool, has_accelerations: bool) -> Interp:
    if has_velocities and has_accelerations:
        return Interp.QUINTIC
    if has_velocities:
        return Interp.CUBIC
    return Interp.LINEAR


def _field(values: Sequence[float], n: int, what: str, i: int, required: bool) -> np.ndarray | None:
    try:
        a = np.asarray(list(values), dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise TrajectoryRejected(f"point {i}: {what} are not numbers ({exc})") from None
    if a.size == 0:
        if required:
            raise TrajectoryRejected(f"point {i}: positions are required (got none)")
        return None
    if a.size != n:
        raise TrajectoryRejected(f"point {i}: {a.size} {what} for {n} joints")
    if not np.all(np.isfinite(a)):
        raise TrajectoryRejected(f"point {i}: non-finite {what}")
    return a


def validate_trajectory(
    msg: TrajectoryMsg,
    joints: Sequence[str],
    now: float,
    hold_q: np.ndarray,
    config: JtcConfig = JtcConfig(),
) -> Trajectory:
    """Check a trajectory message against the controller's ``joints`` at time ``now``.

    ``hold_q`` (controller order) fills the joints a partial goal omits. Returns the trajectory
    (past waypoints dropped) or raises `TrajectoryRejected` with the reason.
    """
    joints = tuple(joints)
    n = len(joints)
    names = tuple(msg.joint_names)
    if not names:
        raise TrajectoryRejected("empty joint_names")
    if not msg.points:
        raise TrajectoryRejected("empty trajectory (no points)")
    if len(set(names)) != len(names):
        raise TrajectoryRejected(f"duplicate joint names in {list(names)}")
    unknown = [j for j in names if j not in joints]
    if unknown:
        raise TrajectoryRejected(f"unknown joints {unknown} (controller joints: {list(joints)})")
    if len(names) != n and not config.allow_partial_joints_goal:
        missing = [j for j in joints if j not in names]
        raise TrajectoryRejected(
            f"joints {missing} missing and allow_partial_joints_goal is false (all {n} joints required)"
        )
    if not np.isfinite(msg.stamp) or msg.stamp < 0:
        raise TrajectoryRejected(f"invalid header.stamp {msg.stamp}")
    m = len(names)
    idx = [joints.index(j) for j in names]
    tfs = []
    qs, vs, accs = [], [], []
    for i, pt in enumerate(msg.points):
        t = float(pt.time_from_start)
        if not np.isfinite(t) or t < 0:
            raise TrajectoryRejected(f"point {i}: time_from_start {t} is negative or not finite")
        if i > 0 and t <= tfs[-1]:
            raise TrajectoryRejected(
                f"time_from_start not strictly increasing (point {i - 1}: {tfs[-1]:.6f} s, point {i}: {t:.6f} s)"
            )
        tfs.append(t)
        qs.append(_field(pt.positions, m, "positions", i, True))
        vs.append(_field(pt.velocities, m, "velocities", i, False))
        accs.append(_field(pt.accelerations, m, "accelerations", i, False))
    has_v = all(v is not None for v in vs)
    has_a = has_v and all(a is not None for a in accs)
    if any(v is not None for v in vs) and not has_v:
        raise TrajectoryRejected("velocities given for some points but not all")
    if any(a is not None for a in accs) and not all(a is not None for a in accs):
        raise TrajectoryRejected("accelerations given for some points but not all")
    start = float(now) if msg.stamp == 0.0 else float(msg.stamp)
    end = start + tfs[-1]
    if msg.stamp != 0.0 and end < now:
        raise TrajectoryRejected(f"trajectory ends in the past (end {end:.6f} s, now {now:.6f} s)")
    if has_v and not config.allow_nonzero_velocity_at_trajectory_end:
        last_v = vs[-1]
        if np.any(np.abs(last_v) > 0.0):
            bad = [names[k] for k in np.nonzero(np.abs(last_v) > 0.0)[0]]
            raise TrajectoryRejected(
                f"last point has non-zero velocity for {bad} (allow_nonzero_velocity_at_trajectory_end is false)"
            )
    # Drop waypoints already in the past (they cannot be reached any more).
    keep = [k for k, t in enumerate(tfs) if start + t >= now]
    hold = np.asarray(hold_q, float).reshape(n)
    K = len(keep)
    Q = np.tile(hold, (K, 1))
    QD = np.zeros((K, n)) if has_v else None
    QDD = np.zeros((K, n)) if has_a else None
    for r, k in enumerate(keep):
        Q[r, idx] = qs[k]
        if QD is not None:
            QD[r, idx] = vs[k]
        if QDD is not None:
            QDD[r, idx] = accs[k]
    times = np.array([start + tfs[k] for k in keep])
    return Trajectory(start=start, times=times, q=Q, qd=QD, qdd=QDD, received=float(now))


def interpolate(
    kind: Interp, T: float, s: float,
    p0: np.ndarray, v0: np.ndarray, a0: np.ndarray,
    p1: np.ndarray, v1: np.ndarray, a1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample one segment of duration ``T`` at ``s`` seconds from its start: (q, qd, qdd)."""
    if T <= 0.0 or s >= T:
        return p1.copy(), v1.copy() if kind != Interp.LINEAR else np.zeros_like(p1), (
            a1.copy() if kind == Interp.QUINTIC else np.zeros_like(p1))
    s = max(0.0, s)
    if kind == Interp.LINEAR:
        v = (p1 - p0) / T
        return p0 + v * s, v, np.zeros_like(p0)
    if kind == Interp.CUBIC:
        T2, T3 = T * T, T * T * T
        c0, c1 = p0, v0
        c2 = (3.0 * (p1 - p0) - (2.0 * v0 + v1) * T) / T2
        c3 = (-2.0 * (p1 - p0) + (v0 + v1) * T) / T3
        q = c0 + c1 * s + c2 * s * s + c3 * s ** 3
        qd = c1 + 2.0 * c2 * s + 3.0 * c3 * s * s
        qdd = 2.0 * c2 + 6.0 * c3 * s
        return q, qd, qdd
    # Quintic with position, velocity and acceleration at both ends.
    T2, T3, T4, T5 = T ** 2, T ** 3, T ** 4, T ** 5
    c0, c1, c2 = p0, v0, 0.5 * a0
    c3 = (20.0 * (p1 - p0) - (8.0 * v1 + 12.0 * v0) * T - (3.0 * a0 - a1) * T2) / (2.0 * T3)
    c4 = (-30.0 * (p1 - p0) + (14.0 * v1 + 16.0 * v0) * T + (3.0 * a0 - 2.0 * a1) * T2) / (2.0 * T4)
    c5 = (12.0 * (p1 - p0) - 6.0 * (v1 + v0) * T + (a1 - a0) * T2) / (2.0 * T5)
    q = c0 + c1 * s + c2 * s ** 2 + c3 * s ** 3 + c4 * s ** 4 + c5 * s ** 5
    qd = c1 + 2 * c2 * s + 3 * c3 * s ** 2 + 4 * c4 * s ** 3 + 5 * c5 * s ** 4
    qdd = 2 * c2 + 6 * c3 * s + 12 * c4 * s ** 2 + 20 * c5 * s ** 3
    return q, qd, qdd


def _point(traj: Trajectory, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = traj.q.shape[1]
    z = np.zeros(n)
    return (traj.q[k], traj.qd[k] if traj.qd is not None else z, traj.qdd[k] if traj.qdd is not None else z)


def sample_trajectory(
    traj: Trajectory, t: float, t_before: float, state_before: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Desired (q, qd, qdd) at ``t``; from ``state_before`` at ``t_before`` to the first point,
    then between points; the last point is held (zero velocity and acceleration)."""
    kind = traj.kind
    if t >= traj.end:
        q, _, _ = _point(traj, len(traj.times) - 1)
        z = np.zeros_like(q)
        return q.copy(), z, z.copy()
    k = int(np.searchsorted(traj.times, t, side="right"))  # first point strictly after t
    if k == 0:
        p0, v0, a0 = state_before
        T = float(traj.times[0] - t_before)
        s = t - t_before
    else:
        p0, v0, a0 = _point(traj, k - 1)
        T = float(traj.times[k] - traj.times[k - 1])
        s = t - float(traj.times[k - 1])
    p1, v1, a1 = _point(traj, k)
    return interpolate(kind, T, s, p0, v0, a0, p1, v1, a1)


@dataclass
class JointTrajectoryFollower:
    """The controller's reference: holds a position, follows a trajectory, accepts replacements.

    ``sample(t)`` is called once per control period with non-decreasing ``t``.
    """

    q_hold: np.ndarray
    active: Trajectory | None = None
    pending: Trajectory | None = None
    _t_before: float = 0.0
    _state_before: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    _last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.q_hold = np.asarray(self.q_hold, float).copy()
        z = np.zeros_like(self.q_hold)
        self._last = (self.q_hold.copy(), z, z.copy())

    @property
    def desired(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The last sampled reference (q, qd, qdd)."""
        return self._last

    @property
    def executing(self) -> bool:
        return self.active is not None or self.pending is not None

    def set_trajectory(self, traj: Trajectory) -> None:
        """Replace: the new trajectory takes over at max(its start, its arrival)."""
        self.pending = traj

    def hold(self, q: np.ndarray) -> None:
        """Cancel any trajectory and hold ``q`` (e.g. a forward position command)."""
        self.active = None
        self.pending = None
        self.q_hold = np.asarray(q, float).copy()
        z = np.zeros_like(self.q_hold)
        self._last = (self.q_hold.copy(), z, z.copy())

    def start_from(self, q: np.ndarray, qd: np.ndarray) -> None:
        """Hold ``q`` and take the measured ``(q, qd)`` (zero acceleration) as the reference the next
        trajectory starts from, as the controller starts from where a moving arm is."""
        self.hold(q)
        self._last = (self.q_hold.copy(), np.asarray(qd, float).copy(), np.zeros_like(self.q_hold))

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.pending is not None and t >= max(self.pending.start, self.pending.received) - 1e-12:
            traj = self.pending
            self.pending = None
            self.active = traj
            q, qd, qdd = self._last
            self._t_before = max(traj.start, traj.received)
            self._state_before = (q.copy(), qd.copy(), qdd.copy())
        if self.active is not None:
            out = sample_trajectory(self.active, t, self._t_before, self._state_before)
            if t >= self.active.end:
                self.q_hold = out[0].copy()
                self.active = None
        else:
            z = np.zeros_like(self.q_hold)
            out = (self.q_hold.copy(), z, z.copy())
        self._last = out
        return out
