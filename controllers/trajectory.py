"""Joint and Cartesian trajectories, sampled at the control rate.

Joint moves use Ruckig (time-optimal, jerk-limited, within velocity, acceleration and jerk
limits). Straight-line tcp moves interpolate the pose (position linearly, orientation by
SLERP) with a jerk-limited 1-D time scaling from Ruckig, and solve IK at each sample seeded
with the previous solution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin
from ruckig import InputParameter, Result, Ruckig, Trajectory

from officina.controllers.ik import solve_ik
from officina.controllers.model import RobotModel
from officina.interfaces import JointLimits

__all__ = ["JointTrajectory", "plan_joint_move", "plan_waypoints", "plan_cartesian_line", "TrajectoryError",
           "time_scale", "torque_time_scale"]


class TrajectoryError(ValueError):
    """A trajectory that cannot be planned (target outside limits, IK failure along a line)."""


@dataclass(frozen=True)
class JointTrajectory:
    """Samples at ``dt``: t (N,), q/qd/qdd (N, n) in joint-name order."""

    dt: float
    t: np.ndarray
    q: np.ndarray
    qd: np.ndarray
    qdd: np.ndarray

    @property
    def duration(self) -> float:
        return float(self.t[-1]) if len(self.t) else 0.0

    def __len__(self) -> int:
        return len(self.t)

    @staticmethod
    def concatenate(parts: list["JointTrajectory"]) -> "JointTrajectory":
        parts = [p for p in parts if len(p)]
        if not parts:
            raise TrajectoryError("no samples to concatenate")
        dt = parts[0].dt
        t, q, qd, qdd = [], [], [], []
        t0 = 0.0
        for p in parts:
            t.append(p.t + t0)
            q.append(p.q)
            qd.append(p.qd)
            qdd.append(p.qdd)
            t0 = t[-1][-1]  # each part's first sample is one period after its start
        return JointTrajectory(dt, np.concatenate(t), np.concatenate(q), np.concatenate(qd), np.concatenate(qdd))


def time_scale(traj: JointTrajectory, factor: float) -> JointTrajectory:
    """The same path ``factor`` (>= 1) times slower: sample k of the result is the original at
    time ``t_k / factor`` (q linearly interpolated between samples, qd divided by ``factor``, qdd by
    its square); it ends on the original's last sample, at rest when that one is."""
    if not factor >= 1.0:
        raise TrajectoryError(f"time scale factor must be >= 1, got {factor}")
    if factor == 1.0 or len(traj) < 2:
        return traj
    dt = traj.dt
    n = int(np.ceil(traj.duration * factor / dt - 1e-9))
    t_new = dt * np.arange(1, n + 1)
    t_src = np.minimum(t_new / factor, traj.duration)
    # the start (t = 0, one period before the first sample), extrapolated from the first sample
    t_all = np.concatenate(([0.0], traj.t))

    def interp(a: np.ndarray, a0: np.ndarray) -> np.ndarray:
        a = np.vstack((a0, a))
        return np.stack([np.interp(t_src, t_all, a[:, j]) for j in range(a.shape[1])], axis=1)

    q0 = traj.q[0] - traj.qd[0] * (traj.t[0] - 0.0)
    return JointTrajectory(dt, t_new, interp(traj.q, q0), interp(traj.qd, traj.qd[0] - traj.qdd[0] * traj.t[0]) / factor,
                           interp(traj.qdd, traj.qdd[0]) / factor**2)


def _check_within(q: np.ndarray, limits: JointLimits, what: str) -> None:
    if q.shape != limits.lower.shape or not np.all(np.isfinite(q)):
        raise TrajectoryError(f"{what}: expected {limits.n} finite joint positions")
    if np.any(q < limits.lower - 1e-9) or np.any(q > limits.upper + 1e-9):
        bad = np.nonzero((q < limits.lower - 1e-9) | (q > limits.upper + 1e-9))[0].tolist()
        raise TrajectoryError(f"{what}: joints {bad} outside their position limits")


def plan_joint_move(
    q0: np.ndarray,
    q1: np.ndarray,
    limits: JointLimits,
    dt: float,
    *,
    velocity_scale: float = 1.0,
    acceleration_scale: float = 1.0,
    jerk_scale: float = 1.0,
    v0: np.ndarray | None = None,
    a0: np.ndarray | None = None,
    v1: np.ndarray | None = None,
) -> JointTrajectory:
    """Time-optimal jerk-limited point-to-point move from q0 to q1 (all joints synchronised)."""
    q0 = np.asarray(q0, dtype=float)
    q1 = np.asarray(q1, dtype=float)
    _check_within(q0, limits, "start")
    _check_within(q1, limits, "target")
    for nm, s in (("velocity_scale", velocity_scale), ("acceleration_scale", acceleration_scale), ("jerk_scale", jerk_scale)):
        if not (0.0 < s <= 1.0):
            raise TrajectoryError(f"{nm} must be in (0, 1], got {s}")
    n = len(q0)
    otg = Ruckig(n)
    inp = InputParameter(n)
    inp.current_position = q0.tolist()
    inp.current_velocity = (np.zeros(n) if v0 is None else np.asarray(v0, float)).tolist()
    inp.current_acceleration = (np.zeros(n) if a0 is None else np.asarray(a0, float)).tolist()
    inp.target_position = q1.tolist()
    inp.target_velocity = (np.zeros(n) if v1 is None else np.asarray(v1, float)).tolist()
    inp.target_acceleration = [0.0] * n
    inp.max_velocity = (limits.velocity * velocity_scale).tolist()
    inp.max_acceleration = (limits.acceleration * acceleration_scale).tolist()
    inp.max_jerk = (limits.jerk * jerk_scale).tolist()
    traj = Trajectory(n)
    res = otg.calculate(inp, traj)
    if res not in (Result.Working, Result.Finished):
        raise TrajectoryError(f"Ruckig could not plan the move: {res}")
    return sample(traj, dt)


def sample(traj: Trajectory, dt: float) -> JointTrajectory:
    """Sample a Ruckig trajectory every dt, the last sample exactly at its end."""
    duration = traj.duration
    k = int(np.ceil(duration / dt - 1e-9))
    t = np.arange(1, k + 1) * dt  # the first sample is one period after the start
    if k == 0:
        t = np.array([0.0])
    t[-1] = min(t[-1], duration)
    qqq = _evaluate_profiles(traj, t)
    if qqq is None:
        q = np.empty((len(t), traj.degrees_of_freedom))
        qd = np.empty_like(q)
        qdd = np.empty_like(q)
        for i, ti in enumerate(t):
            p, v, a = traj.at_time(float(ti))
            q[i], qd[i], qdd[i] = p, v, a
    else:
        q, qd, qdd = qqq
    t = np.arange(1, len(t) + 1) * dt
    return JointTrajectory(dt, t, q, qd, qdd)


def _evaluate_profiles(traj: Trajectory, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Position, velocity and acceleration at the times ``t`` from the trajectory's jerk
    profiles (seven constant-jerk phases per joint), for all samples at once; None when the
    trajectory has more than one section or a brake/acceleration phase (then sample it with
    ``at_time``)."""
    sections = traj.profiles
    if len(sections) != 1:
        return None
    q = np.empty((len(t), traj.degrees_of_freedom))
    qd = np.empty_like(q)
    qdd = np.empty_like(q)
    for k, prof in enumerate(sections[0]):
        if prof.brake.duration > 0 or prof.accel.duration > 0:
            return None
        ends = np.cumsum(prof.t)
        if ends[-1] < traj.duration - 1e-9 and prof.vf != 0.0:
            return None  # the joint moves on at a constant velocity after its profile
        starts = np.concatenate([[0.0], ends[:-1]])
        i = np.minimum(np.searchsorted(ends, t, side="right"), 6)
        tau = np.minimum(t - starts[i], np.asarray(prof.t)[i])
        j = np.asarray(prof.j)[i]
        a = np.asarray(prof.a)[i]
        v = np.asarray(prof.v)[i]
        p = np.asarray(prof.p)[i]
        q[:, k] = p + tau * (v + tau * (a / 2 + tau * j / 6))
        qd[:, k] = v + tau * (a + tau * j / 2)
        qdd[:, k] = a + tau * j
    return q, qd, qdd


def plan_waypoints(
    waypoints: list[np.ndarray],
    limits: JointLimits,
    dt: float,
    *,
    velocity_scale: float = 1.0,
    acceleration_scale: float = 1.0,
) -> JointTrajectory:
    """A multi-waypoint joint trajectory through every waypoint (stopping at each one)."""
    if len(waypoints) < 2:
        raise TrajectoryError("plan_waypoints needs at least two waypoints (start and target)")
    parts = [
        plan_joint_move(a, b, limits, dt, velocity_scale=velocity_scale, acceleration_scale=acceleration_scale)
        for a, b in zip(waypoints[:-1], waypoints[1:])
    ]
    return JointTrajectory.concatenate(parts)


def _time_scaling(length: float, v_max: float, a_max: float, j_max: float, dt: float) -> np.ndarray:
    """Jerk-limited 1-D scaling s(t) from 0 to length, sampled at dt (s at each sample)."""
    otg = Ruckig(1)
    inp = InputParameter(1)
    inp.current_position = [0.0]
    inp.target_position = [length]
    inp.max_velocity = [v_max]
    inp.max_acceleration = [a_max]
    inp.max_jerk = [j_max]
    traj = Trajectory(1)
    otg.calculate(inp, traj)
    return sample(traj, dt).q[:, 0]


def _hermite(nodes: np.ndarray, qn: np.ndarray, n: int, dt: float, q_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C1 cubic Hermite interpolation of joint nodes (sample indices ``nodes``, starting at rest at
    ``q_start`` one period before sample 0 and ending at rest): positions and velocities at every
    sample. Node velocities by central differences, so the velocity is continuous (no steps that a
    safety filter's acceleration limit would flag)."""
    t_nodes = np.r_[-1.0, nodes.astype(float)] * dt
    qk = np.vstack([q_start, qn])
    vk = np.zeros_like(qk)
    if len(qk) > 2:
        vk[1:-1] = (qk[2:] - qk[:-2]) / (t_nodes[2:] - t_nodes[:-2])[:, None]
    t = np.arange(n, dtype=float) * dt
    seg = np.clip(np.searchsorted(t_nodes, t, side="right") - 1, 0, len(t_nodes) - 2)
    t0, t1 = t_nodes[seg], t_nodes[seg + 1]
    h = (t1 - t0)[:, None]
    u = ((t - t0) / (t1 - t0))[:, None]
    p0, p1, m0, m1 = qk[seg], qk[seg + 1], vk[seg] * h, vk[seg + 1] * h
    u2, u3 = u * u, u * u * u
    q = (2 * u3 - 3 * u2 + 1) * p0 + (u3 - 2 * u2 + u) * m0 + (-2 * u3 + 3 * u2) * p1 + (u3 - u2) * m1
    dq = ((6 * u2 - 6 * u) * p0 + (3 * u2 - 4 * u + 1) * m0 + (-6 * u2 + 6 * u) * p1 + (3 * u2 - 2 * u) * m1) / h
    return q, dq


def plan_cartesian_line(
    robot: RobotModel,
    q0: np.ndarray,
    base_T_goal: np.ndarray,
    dt: float,
    *,
    frame: str = "tcp",
    max_speed_m_s: float = 0.25,
    max_accel_m_s2: float = 1.0,
    max_jerk_m_s3: float = 10.0,
    max_angular_speed_rad_s: float = 1.0,
    ik_every: int = 10,
) -> JointTrajectory:
    """Straight-line move of ``frame`` from its pose at q0 to ``base_T_goal`` (orientation by SLERP).

    The path parameter follows a jerk-limited profile; the angular speed limit is respected by
    scaling the path length. Raises TrajectoryError if IK fails anywhere along the line or a
    joint would exceed its velocity limit.
    """
    q0 = np.asarray(q0, dtype=float)
    T0 = pin.SE3(robot.frame_transform(q0, frame))
    T1 = pin.SE3(np.asarray(base_T_goal, dtype=float))
    dist = float(np.linalg.norm(T1.translation - T0.translation))
    ang = float(np.linalg.norm(pin.log3(T0.rotation.T @ T1.rotation)))
    length = max(dist / max_speed_m_s, ang / max_angular_speed_rad_s)  # seconds at cruise speed
    if length < 1e-9:
        return JointTrajectory(dt, np.array([dt]), q0[None, :], np.zeros((1, len(q0))), np.zeros((1, len(q0))))
    # Normalise: s in [0, 1], with speed limit 1/length per second.
    s = _time_scaling(1.0, 1.0 / length, max_accel_m_s2 / max(dist, 1e-9) if dist > 1e-6 else 4.0, max_jerk_m_s3 / max(dist, 1e-9) if dist > 1e-6 else 40.0, dt)
    s = np.clip(s, 0.0, 1.0)
    # IK at nodes every `ik_every` samples (and at the last one), joint-space interpolation in
    # between: the deviation from the straight line is second order in the node spacing.
    nodes = np.arange(0, len(s), ik_every)
    if nodes[-1] != len(s) - 1:
        nodes = np.append(nodes, len(s) - 1)
    qn = np.empty((len(nodes), len(q0)))
    prev = q0
    rng = np.random.default_rng(0)
    for k, i in enumerate(nodes):
        si = float(s[i])
        Ti = pin.SE3.Interpolate(T0, T1, si)
        r = solve_ik(robot, Ti.homogeneous, frame, prev, rng=rng, max_restarts=0, max_iterations=50)
        if not r.success:
            raise TrajectoryError(
                f"straight line not feasible: IK failed at {100 * si:.0f}% of the path "
                f"(error {r.position_error_m * 1e3:.2f} mm, {np.rad2deg(r.orientation_error_rad):.2f} deg)"
            )
        qn[k] = r.q
        prev = r.q
    q, qd = _hermite(nodes, qn, len(s), dt, q0)
    qdd = np.gradient(qd, dt, axis=0) if len(q) > 1 else np.zeros_like(q)
    if np.any(np.abs(qd) > robot.spec.limits.velocity * 1.05):
        raise TrajectoryError("straight line not feasible at this speed: a joint would exceed its velocity limit")
    t = np.arange(1, len(s) + 1) * dt
    return JointTrajectory(dt, t, q, qd, qdd)


def torque_time_scale(model: RobotModel, traj: JointTrajectory, fraction: float = 0.8, stride: int = 5) -> float:
    """The slow-down s >= 1 (for `time_scale`) that keeps the joint torques the model's inverse
    dynamics needs along ``traj`` within the robot's effort limits: gravity counts in full, the
    rest (inertia, Coriolis; both scale with 1/s^2) may take ``fraction`` of what gravity leaves
    (at least 5 % of the limit). Every ``stride``-th sample and the last one are checked."""
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    effort = np.asarray(model.limits.effort, float)
    idx = list(range(0, len(traj), max(1, int(stride))))
    if len(traj) and idx[-1] != len(traj) - 1:
        idx.append(len(traj) - 1)
    s2 = 1.0
    for k in idx:
        q = traj.q[k]
        g = model.gravity(q)
        dyn = model.rnea(q, traj.qd[k], traj.qdd[k]) - g
        head = np.maximum(fraction * (effort - np.abs(g)), 0.05 * effort)
        s2 = max(s2, float(np.max(np.abs(dyn) / head)))
    return float(np.sqrt(s2))
