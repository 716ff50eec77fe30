"""Inverse kinematics: full 6-D pose (position + orientation) of a frame, within joint limits.

Algorithm (one attempt): damped Gauss-Newton / Levenberg-Marquardt on the SE(3) error
``log6(base_T_frame^-1 base_T_target)`` (expressed in the frame, Pinocchio's ``LOCAL``
Jacobian), with

* an active set on the joint limits: a joint sitting on a limit whose step would push it
  further out is removed from the Jacobian for that step, so the other joints keep making
  progress instead of the whole step being clipped away (this is what makes the solver
  converge from the mid-range seed on >99 % of targets);
* a damping ``lambda = damping + 1e-3 |e|^2`` that vanishes near the solution (quadratic
  convergence) and regularises far from it and near singularities;
* a step-size cap (``max_step_rad`` on the largest joint step) and a stall detector (the
  error must halve within ``stall_iterations`` iterations, else the attempt is abandoned).

Attempts: first from ``q_seed``, then from random configurations drawn from the injected
``numpy.random.Generator``, until solved, out of restarts or out of the wall-time budget.
An optional null-space posture objective pulls redundant arms toward ``posture`` without
disturbing the task.

Pinocchio note: in Pinocchio 4.1 ``computeFrameJacobian`` does not refresh ``data.oMf``;
the loop therefore calls ``computeJointJacobians`` + ``updateFramePlacement`` +
``getFrameJacobian`` explicitly (one forward pass per iteration).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

import eigenpy
import numpy as np
import pinocchio as pin
from officina.controllers.model import RobotModel

__all__ = ["IKResult", "IKStatus", "pose_error", "solve_ik"]


class IKStatus(str, enum.Enum):
    SOLVED = "solved"
    NOT_CONVERGED = "not_converged"  # iterations/restarts/time budget exhausted
    INVALID_INPUT = "invalid_input"


@dataclass(frozen=True)
class IKResult:
    """``q`` is the solution (or the best attempt when ``success`` is False), in joint-name order.
    Errors are those of ``q``: position in metres, orientation as a rotation angle in radians."""

    success: bool
    q: np.ndarray
    position_error_m: float
    orientation_error_rad: float
    iterations: int
    restarts: int
    solve_time_s: float
    status: IKStatus


def pose_error(base_T_frame: np.ndarray, base_T_target: np.ndarray) -> tuple[float, float]:
    """(position error [m], orientation error [rad]) between two 4x4 poses."""
    dp = float(np.linalg.norm(base_T_frame[:3, 3] - base_T_target[:3, 3]))
    R = base_T_frame[:3, :3].T @ base_T_target[:3, :3]
    return dp, float(np.linalg.norm(pin.log3(R)))


def _orthonormalise(R: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(R)
    R = U @ Vt
    if np.linalg.det(R) < 0:  # a reflection, not a rotation: flip the smallest axis
        U[:, -1] *= -1.0
        R = U @ Vt
    return R


def solve_ik(
    robot: RobotModel,
    base_T_target: np.ndarray,
    frame: str = "tcp",
    q_seed: np.ndarray | None = None,
    *,
    rng: np.random.Generator | None = None,
    tol_position_m: float = 1e-5,
    tol_orientation_rad: float = 1e-5,
    max_iterations: int = 100,
    max_restarts: int = 200,
    timeout_s: float = 0.05,
    damping: float = 1e-6,
    max_step_rad: float = 0.5,
    stall_iterations: int = 6,
    posture: np.ndarray | None = None,
    posture_gain: float = 0.0,
) -> IKResult:
    """Solve for q with ``base_T_frame(q) == base_T_target`` within the tolerances.

    ``base_T_target`` is a 4x4 pose in the robot base frame (m); ``frame`` is ``"tcp"``,
    ``"flange"`` or a link name. Starts from ``q_seed`` (default: mid-range), then random
    restarts drawn from ``rng`` (default: a Generator seeded with 0, so results are
    deterministic given the same wall-time budget) until solved, out of restarts, or
    ``timeout_s`` of wall time has passed (checked between attempts and every 10 iterations).
    ``posture`` with ``posture_gain`` in (0, 1] adds a null-space pull toward ``posture``.
    Never raises on an unreachable or invalid target: ``success`` is False and the errors
    are those of the best attempt (``inf`` for an invalid target).
    """
    t0 = time.perf_counter()
    lim = robot.spec.limits
    n = robot.nq
    lower, upper = lim.lower, lim.upper
    try:
        T = np.asarray(base_T_target, dtype=float)
        ok = T.shape == (4, 4) and bool(np.all(np.isfinite(T)))
    except (TypeError, ValueError):
        ok = False
    if ok and q_seed is not None:
        q_seed = np.asarray(q_seed, dtype=float).reshape(-1)
        ok = q_seed.shape == (n,) and bool(np.all(np.isfinite(q_seed)))
    if not ok:
        return IKResult(False, lim.mid(), np.inf, np.inf, 0, 0, time.perf_counter() - t0, IKStatus.INVALID_INPUT)
    oMdes = pin.SE3(_orthonormalise(T[:3, :3]), T[:3, 3].copy())
    fid = robot.frame_id(frame)
    model, data = robot.model, robot.data
    rng = rng if rng is not None else np.random.default_rng(0)
    q = lim.mid() if q_seed is None else np.minimum(np.maximum(q_seed, lower), upper)
    use_posture = posture is not None and posture_gain > 0.0
    if use_posture:
        posture = np.asarray(posture, dtype=float).reshape(-1)
    identity = bool(np.all(robot._q_index == np.arange(n))) and model.nq == n
    tol_p2 = tol_position_m**2
    tol_r2 = tol_orientation_rad**2
    cjj, ufp, gfj, log6 = pin.computeJointJacobians, pin.updateFramePlacement, pin.getFrameJacobian, pin.log6
    LOCAL, LDLT = pin.ReferenceFrame.LOCAL, eigenpy.LDLT
    best_e2, best_q = np.inf, q.copy()
    total_iters = 0
    restarts = 0
    while True:
        best_local = np.inf
        since = 0
        clamped = True  # check the active set on the first step
        for k in range(max_iterations):
            qm = q if identity else robot._to_model(q)
            cjj(model, data, qm)
            iMd = ufp(model, data, fid).actInv(oMdes)
            err = log6(iMd).vector
            total_iters += 1
            tr = iMd.translation
            ep2 = float(tr @ tr)
            er2 = float(err[3] * err[3] + err[4] * err[4] + err[5] * err[5])
            if ep2 <= tol_p2 and er2 <= tol_r2:
                return IKResult(
                    True, q, float(np.sqrt(ep2)), float(np.sqrt(er2)), total_iters, restarts,
                    time.perf_counter() - t0, IKStatus.SOLVED,
                )
            e2 = ep2 + er2
            if e2 < best_e2:
                best_e2, best_q = e2, q
            if e2 < 0.5 * best_local:
                best_local, since = e2, 0
            else:
                since += 1
                if since >= stall_iterations:
                    break
            if k % 10 == 9 and time.perf_counter() - t0 > timeout_s:
                break
            J = gfj(model, data, fid, LOCAL)
            if not identity:
                J = J[:, robot._v_index]
            lam = damping + 1e-3 * float(err @ err)
            H = J @ J.T
            H.flat[::7] += lam
            dq = J.T @ LDLT(H).solve(err)
            had_block = False
            if clamped:
                blocked = ((q <= lower) & (dq < 0.0)) | ((q >= upper) & (dq > 0.0))
                if blocked.any():
                    had_block = True
                    J = J.copy()
                    J[:, blocked] = 0.0
                    H = J @ J.T
                    H.flat[::7] += lam
                    dq = J.T @ LDLT(H).solve(err)
            if use_posture:
                # Null-space projection of the posture pull: (I - J^+ J) g.
                g = posture_gain * (posture - q)
                dq += g - J.T @ LDLT(H).solve(J @ g)
            m = max(dq.max(), -dq.min())
            if m > max_step_rad:
                dq *= max_step_rad / m
            qn = q + dq
            q = np.minimum(np.maximum(qn, lower), upper)
            clamped = had_block or bool((q != qn).any())
        restarts += 1
        if restarts > max_restarts or time.perf_counter() - t0 > timeout_s:
            break
        q = rng.uniform(lower, upper)
    ep, er = pose_error(robot.frame_transform(best_q, frame), oMdes.homogeneous)
    return IKResult(
        False, best_q.copy(), ep, er, total_iters, restarts - 1, time.perf_counter() - t0, IKStatus.NOT_CONVERGED
    )
