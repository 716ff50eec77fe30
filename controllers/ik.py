"""Inverse kinematics: full 6-D pose (position + orientation) of a frame, within joint limits.

Damped Newton (Levenberg-Marquardt) on the SE(3) error ``log6(base_T_frame^-1 base_T_target)``
with Pinocchio's analytic frame Jacobian, joint positions clamped to the limits after each step,
random restarts (from the injected ``numpy.random.Generator``) and an optional null-space
posture objective. Same structure as Pinocchio's ``examples/inverse-kinematics.py``.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from officina.controllers.model import RobotModel

__all__ = ["IKStatus", "IKResult", "solve_ik", "pose_error"]


class IKStatus(str, enum.Enum):
    SOLVED = "solved"
    NOT_CONVERGED = "not_converged"  # iterations/restarts/time budget exhausted
    INVALID_INPUT = "invalid_input"


@dataclass(frozen=True)
class IKResult:
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
    c = np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)
    return dp, float(np.arccos(c))


def solve_ik(
    robot: RobotModel,
    base_T_target: np.ndarray,
    frame: str = "tcp",
    q_seed: np.ndarray | None = None,
    *,
    rng: np.random.Generator | None = None,
    tol_position_m: float = 1e-5,
    tol_orientation_rad: float = 1e-5,
    max_iterations: int = 60,
    max_restarts: int = 50,
    timeout_s: float = 0.05,
    damping: float = 1e-8,
    posture: np.ndarray | None = None,
    posture_gain: float = 0.0,
) -> IKResult:
    """Solve for q with ``base_T_frame(q) == base_T_target`` within the tolerances.

    Starts from ``q_seed`` (default: mid-range), then random restarts drawn from ``rng``
    (default: a Generator seeded with 0, so results are deterministic) until solved, out of
    restarts, or ``timeout_s`` of wall time has passed. Never raises on an unreachable target:
    ``success`` is False and the errors are those of the best attempt.
    """
    t0 = time.perf_counter()
    lim = robot.spec.limits
    n = robot.nq
    T = np.asarray(base_T_target, dtype=float)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        return IKResult(False, lim.mid(), np.inf, np.inf, 0, 0, 0.0, IKStatus.INVALID_INPUT)
    R = T[:3, :3]
    # Re-orthonormalise the target rotation (users pass 4-decimal quaternions).
    U, _, Vt = np.linalg.svd(R)
    R = U @ Vt
    oMdes = pin.SE3(R, T[:3, 3].copy())
    fid = robot.frame_id(frame)
    model, data = robot.model, robot.data
    rng = rng if rng is not None else np.random.default_rng(0)
    lower, upper = lim.lower, lim.upper
    q = lim.mid() if q_seed is None else np.clip(np.asarray(q_seed, dtype=float), lower, upper)
    if posture is not None:
        posture = np.asarray(posture, dtype=float)
    best = (np.inf, np.inf, q.copy())
    total_iters = 0
    eye6 = np.eye(6)
    restarts = 0
    # A model whose coordinates are the arm joints in order (the built-in robots) needs no mapping.
    identity = bool(np.all(robot._q_index == np.arange(n)))
    while True:
        for _ in range(max_iterations):
            qm = q if identity else robot._to_model(q)
            J = pin.computeFrameJacobian(model, data, qm, fid, pin.ReferenceFrame.LOCAL)
            oMf = data.oMf[fid]
            iMd = oMf.actInv(oMdes)
            err = pin.log6(iMd).vector
            total_iters += 1
            ep = float(np.linalg.norm(oMdes.translation - oMf.translation))
            er = float(np.linalg.norm(err[3:]))
            if ep + er < best[0] + best[1]:
                best = (ep, er, q.copy())
            if ep <= tol_position_m and er <= tol_orientation_rad:
                return IKResult(
                    True, q.copy(), ep, er, total_iters, restarts, time.perf_counter() - t0, IKStatus.SOLVED
                )
            if not identity:
                J = J[:, robot._v_index]
            Jl = pin.Jlog6(iMd.inverse()) @ J
            # LM step: dq = Jl^T (Jl Jl^T + lambda I)^-1 err, lambda grows with the error.
            lam = damping + 1e-3 * float(err @ err)
            dq = Jl.T @ np.linalg.solve(Jl @ Jl.T + lam * eye6, err)
            if posture is not None and posture_gain > 0.0:
                Jpinv = Jl.T @ np.linalg.inv(Jl @ Jl.T + lam * eye6)
                dq += (np.eye(n) - Jpinv @ Jl) @ (posture_gain * (posture - q))
            q = np.minimum(np.maximum(q + dq, lower), upper)
            if float(dq @ dq) < 1e-24:
                break
        restarts += 1
        if restarts > max_restarts or time.perf_counter() - t0 > timeout_s:
            break
        q = rng.uniform(lower, upper)
    ep, er, qb = best
    return IKResult(False, qb, ep, er, total_iters, restarts, time.perf_counter() - t0, IKStatus.NOT_CONVERGED)
