"""Torque control of an arm along a joint trajectory: the runtime path of the control laws.

``track(arm, law, reference, tick)`` runs one law (`officina.controllers.laws`) once per control
period on any `Arm` in torque mode: read the state, compute the torques against the reference
sample, command them, ``tick()`` (simulation: one control period of physics; real arm: wait for
the next period), and measure the error of the state reached against the next sample. The
Cartesian laws get the tcp reference of the same joint sample, so every law tracks the very same
motion. `standard_trajectory` is the reference the tracking benchmark and the tests use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from officina.controllers.ik import pose_error
from officina.controllers.laws import CartesianReference, JointReference, LawStatus, cartesian_reference_from_joint
from officina.controllers.model import RobotModel
from officina.controllers.trajectory import JointTrajectory, plan_waypoints
from officina.interfaces import Arm, ControlMode

__all__ = ["STANDARD_OFFSETS_RAD", "TrackingResult", "standard_trajectory", "track"]

#: Offsets (rad) of the standard trajectory's far point from the home pose, joint by joint; an arm
#: with more joints than offsets reuses them from the start (joint 8 moves like joint 1).
STANDARD_OFFSETS_RAD = np.array([0.5, 0.35, -0.4, 0.45, 0.5, -0.45, 0.6])


def standard_trajectory(robot: RobotModel, dt: float, velocity_scale: float = 0.5) -> JointTrajectory:
    """home -> home + offsets -> home (Ruckig at ``velocity_scale`` of the velocity and
    acceleration limits), sampled at ``dt``. The far point is kept inside the limits by 0.1 rad,
    or by a quarter of the range on joints whose range is under 0.4 rad, so every joint moves."""
    lim = robot.limits
    home = np.asarray(robot.spec.home, dtype=float)
    offsets = np.resize(STANDARD_OFFSETS_RAD, robot.nq)
    margin = np.minimum(0.1, 0.25 * (lim.upper - lim.lower))
    target = np.clip(home + offsets, lim.lower + margin, lim.upper - margin)
    return plan_waypoints([home, target, home], lim, dt, velocity_scale=velocity_scale,
                          acceleration_scale=velocity_scale)


@dataclass(frozen=True)
class TrackingResult:
    """Errors of the state one control period after each command, against the reference sample
    of that instant: joints (rad), tcp position (m) and orientation (rad), RMS and max; the peak
    of |tau| / effort limit and |qd| / velocity limit over all joints; ticks the law saturated."""

    duration_s: float
    rate_hz: float
    joint_rms_rad: float
    joint_max_rad: float
    tcp_rms_m: float
    tcp_max_m: float
    tcp_rot_rms_rad: float
    tcp_rot_max_rad: float
    peak_torque_ratio: float
    peak_velocity_ratio: float
    saturated_ticks: int

    def to_json(self) -> dict:
        return asdict(self)


def track(
    arm: Arm,
    law,
    reference: JointTrajectory,
    tick: Callable[[], None],
    *,
    settle_s: float = 0.0,
    frame: str = "tcp",
) -> TrackingResult:
    """Track ``reference`` with ``law`` (built for ``arm.control_period``) on ``arm`` in torque mode.

    The arm should start at the reference's first sample. After the last sample the reference
    holds there for ``settle_s`` (zero velocity and acceleration). ``frame`` is where the
    Cartesian error is measured (and the frame of a Cartesian law's reference). Raises ValueError
    when the law's period or the reference's ``dt`` is not the arm's control period.
    """
    dt = float(arm.control_period)
    if abs(law.dt - dt) > 1e-12 or abs(reference.dt - dt) > 1e-12:
        raise ValueError(f"tracking: law dt {law.dt} s and reference dt {reference.dt} s must equal the arm's "
                         f"control period {dt} s")
    robot: RobotModel = law.robot
    n = robot.nq
    effort = np.asarray(arm.limits.effort, dtype=float)
    velocity = np.asarray(arm.limits.velocity, dtype=float)
    cartesian = law.reference_type is CartesianReference
    law_frame = getattr(law, "frame", frame)
    last = len(reference) - 1
    n_steps = len(reference) + round(settle_s / dt)
    zeros = np.zeros(n)
    qerr = np.zeros((n_steps, n))
    perr = np.zeros(n_steps)
    rerr = np.zeros(n_steps)
    tau_ratio = vel_ratio = 0.0
    saturated = 0
    arm.set_mode(ControlMode.TORQUE)
    st = arm.read()
    for k in range(n_steps):
        i = min(k, last)
        q_r = reference.q[i]
        qd_r = reference.qd[i] if k <= last else zeros
        qdd_r = reference.qdd[i] if k <= last else zeros
        if cartesian:
            ref = cartesian_reference_from_joint(robot, q_r, qd_r, qdd_r, law_frame, q_posture=q_r)
        else:
            ref = JointReference(q_r, qd_r, qdd_r)
        tau, status = law.step(st, ref)
        saturated += status == LawStatus.SATURATED
        tau_ratio = max(tau_ratio, float(np.max(np.abs(tau) / effort)))
        vel_ratio = max(vel_ratio, float(np.max(np.abs(st.velocity) / velocity)))
        arm.command_torques(tau)
        tick()
        st = arm.read()
        q_next = reference.q[min(k + 1, last)]
        qerr[k] = st.position - q_next
        T = robot.frame_transform(st.position, frame)
        T_ref = robot.frame_transform(q_next, frame)
        perr[k], rerr[k] = pose_error(T, T_ref)
    return TrackingResult(
        duration_s=float(n_steps * dt),
        rate_hz=1.0 / dt,
        joint_rms_rad=float(np.sqrt(np.mean(qerr**2))),
        joint_max_rad=float(np.abs(qerr).max()),
        tcp_rms_m=float(np.sqrt(np.mean(perr**2))),
        tcp_max_m=float(perr.max()),
        tcp_rot_rms_rad=float(np.sqrt(np.mean(rerr**2))),
        tcp_rot_max_rad=float(rerr.max()),
        peak_torque_ratio=tau_ratio,
        peak_velocity_ratio=vel_ratio,
        saturated_ticks=int(saturated),
    )
