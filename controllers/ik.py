"""Inverse kinematics: full 6-D pose (position + orientation) of a frame, within joint limits.

Algorithm (one attempt): damped Gauss-Newton / Levenberg-Marquardt on the SE(3) error
``log6(base_T_frame^-1 base_T_target)`` (expressed in the frame, Pinocchio's ``LOCAL``
Jacobian), with

* an active set on the joint limits: a joint sitting on a limit whose step would push it
  further out is removed from the Jacobian for that step, so the other joints keep making
  progress instead of the whole step being clipped away;
* full-turn joints (revolute, range >= 2 pi, e.g. the UR5e's +-2 pi joints) wrap by a whole
  turn when a step crosses a limit (same pose) instead of being blocked;
* a damping ``lambda = damping + 1e-3 |e|^2`` that vanishes near the solution (quadratic
  convergence) and regularises far from it and near singularities;
* a step-size cap (``max_step_rad`` on the Euclidean norm of the joint step) and a stall
  detector (the error must halve within ``stall_iterations`` iterations, else the attempt is
  abandoned and the solver restarts).

Attempts: first from ``q_seed``, then from random configurations drawn from the injected
``numpy.random.Generator`` (uniform within the limits; on full-turn joints, uniform over one
turn around the seed), until solved or out of restarts. The answer depends only on the inputs
and the generator; a wall-clock budget (``timeout_s``) is opt-in, for callers with a deadline.
An optional null-space posture objective pulls redundant arms toward ``posture`` without
disturbing the task.

Cost: one iteration is one Pinocchio pass (``computeJointJacobians`` + ``updateFramePlacement``
+ ``log6`` + ``getFrameJacobian``; in Pinocchio 4.1 ``computeFrameJacobian`` does not refresh
``data.oMf``) and a handful of small numpy calls (6x6 LDLT); the exact position/orientation
test runs only once ``|log6|`` is near the tolerance, and per-(robot, frame) constants are
cached on the ``RobotModel``.
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
    NOT_CONVERGED = "not_converged"  # restarts (or the opt-in time budget) exhausted
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


def _is_rotation(R: np.ndarray) -> bool:
    """R^T R == I and det R == +1 to ~1e-12 (plain floats: far cheaper than numpy on 3x3)."""
    (a, b, c), (d, e, f), (g, h, i) = R.tolist()
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return (
        abs(a * a + d * d + g * g - 1.0) < 1e-12
        and abs(b * b + e * e + h * h - 1.0) < 1e-12
        and abs(c * c + f * f + i * i - 1.0) < 1e-12
        and abs(a * b + d * e + g * h) < 1e-12
        and abs(a * c + d * f + g * i) < 1e-12
        and abs(b * c + e * f + h * i) < 1e-12
        and det > 0.0
    )


def _orthonormalise(R: np.ndarray) -> np.ndarray:
    if _is_rotation(R):
        return R.copy()  # the common case: skip the SVD
    U, _, Vt = np.linalg.svd(R)
    R = U @ Vt
    if np.linalg.det(R) < 0:  # a reflection, not a rotation: flip the smallest axis
        U[:, -1] *= -1.0
        R = U @ Vt
    return R


_TWO_PI = 2.0 * np.pi
_EYE6 = np.eye(6)


class _Setup:
    """Per-(robot, frame) constants of the solver, cached on the RobotModel instance."""

    __slots__ = ("draw_offset", "draw_width", "fid", "identity", "limits", "lower", "mid", "model", "upper", "wrap")

    def __init__(self, robot: RobotModel, frame: str) -> None:
        lim = robot.spec.limits
        model = robot.model
        self.limits, self.model = lim, model
        self.fid = robot.frame_id(frame)
        self.lower = np.array(lim.lower, dtype=float)
        self.upper = np.array(lim.upper, dtype=float)
        self.mid = 0.5 * (self.lower + self.upper)
        n = robot.nq
        self.identity = bool(np.all(robot._q_index == np.arange(n))) and model.nq == n
        # Revolute joints whose range covers a full turn: q and q +- 2 pi are the same pose, so
        # a step past a limit wraps around instead of being blocked, and restarts are drawn
        # over one turn around the seed instead of the whole (redundant) range.
        wrap = np.zeros(n, dtype=bool)
        for i, jn in enumerate(robot.spec.joint_names):
            kind = model.joints[model.getJointId(jn)].shortname()
            revolute = kind.startswith("JointModelR") and not kind.startswith("JointModelRUB")
            wrap[i] = revolute and self.upper[i] - self.lower[i] >= _TWO_PI - 1e-9
        self.wrap = wrap if wrap.any() else None
        # Restart draws (robots with wrap joints): lower + U(0, 1) (upper - lower) on the other
        # joints, seed - pi + U(0, 1) 2 pi on the wrap joints.
        self.draw_offset = np.where(wrap, -np.pi, self.lower)
        self.draw_width = np.where(wrap, _TWO_PI, self.upper - self.lower)

    def wrap_into_limits(self, q: np.ndarray) -> None:
        """In place: bring wrap joints back into [lower, upper] by whole turns (when possible)."""
        w = self.wrap
        lo, hi = self.lower, self.upper
        over = w & (q > hi)
        if over.any():
            q[over] -= _TWO_PI * np.ceil((q[over] - hi[over]) / _TWO_PI)
        under = w & (q < lo)
        if under.any():
            q[under] += _TWO_PI * np.ceil((lo[under] - q[under]) / _TWO_PI)


def _setup(robot: RobotModel, frame: str) -> _Setup:
    cache = robot.__dict__.setdefault("_ik_setup_cache", {})
    s = cache.get(frame)
    if s is None or s.limits is not robot.spec.limits or s.model is not robot.model:
        s = cache[frame] = _Setup(robot, frame)
    return s


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
    timeout_s: float | None = None,
    damping: float = 1e-6,
    max_step_rad: float = 1.5,
    stall_iterations: int = 4,
    posture: np.ndarray | None = None,
    posture_gain: float = 0.0,
) -> IKResult:
    """Solve for q with ``base_T_frame(q) == base_T_target`` within the tolerances.

    ``base_T_target`` is a 4x4 pose in the robot base frame (m); ``frame`` is ``"tcp"``,
    ``"flange"`` or a link name. Starts from ``q_seed`` (default: mid-range), then random
    restarts drawn from ``rng`` (default: a Generator seeded with 0) until solved or
    ``max_restarts`` restarts are spent; each attempt runs at most ``max_iterations`` iterations.
    The result depends only on the inputs. ``timeout_s`` (wall-clock seconds, checked between
    attempts and every 10 iterations) is opt-in: with it, a slower machine may stop earlier.
    ``posture`` with ``posture_gain`` in (0, 1] adds a null-space pull toward ``posture``.
    Never raises on an unreachable or invalid target: ``success`` is False and the errors
    are those of the best attempt (``inf`` for an invalid target).
    """
    t0 = time.perf_counter()
    deadline = np.inf if timeout_s is None else t0 + timeout_s
    n = robot.nq
    try:
        T = np.asarray(base_T_target, dtype=float)
        ok = T.shape == (4, 4) and bool(np.isfinite(T).all())
    except (TypeError, ValueError):
        ok = False
    if ok and q_seed is not None:
        q_seed = np.asarray(q_seed, dtype=float).reshape(-1)
        ok = q_seed.shape == (n,) and bool(np.isfinite(q_seed).all())
    if not ok:
        return IKResult(False, robot.spec.limits.mid(), np.inf, np.inf, 0, 0, time.perf_counter() - t0,
                        IKStatus.INVALID_INPUT)
    S = _setup(robot, frame)
    lower, upper, wrap = S.lower, S.upper, S.wrap
    oMdes = pin.SE3(_orthonormalise(T[:3, :3]), T[:3, 3].copy())
    fid = S.fid
    model, data = robot.model, robot.data
    rng = rng if rng is not None else np.random.default_rng(0)
    if q_seed is None:
        q = S.mid.copy()
    else:
        q = q_seed.copy()
        if wrap is not None:
            S.wrap_into_limits(q)
        np.maximum(q, lower, out=q)
        np.minimum(q, upper, out=q)
    if wrap is not None:
        draw_lo = np.where(wrap, q, 0.0) + S.draw_offset
    use_posture = posture is not None and posture_gain > 0.0
    if use_posture:
        posture = np.asarray(posture, dtype=float).reshape(-1)
    identity = S.identity
    v_index = robot._v_index
    tol_p2 = tol_position_m**2
    tol_r2 = tol_orientation_rad**2
    # |log6|^2 = |v|^2 + |w|^2 with |v| = |t| (1 + O(|w|^2)): below this bound the exact
    # position and orientation tests are worth running.
    near2 = 4.0 * (tol_p2 + tol_r2)
    step2 = max_step_rad**2
    cjj, ufp, gfj, log6 = pin.computeJointJacobians, pin.updateFramePlacement, pin.getFrameJacobian, pin.log6
    LOCAL, LDLT = pin.ReferenceFrame.LOCAL, eigenpy.LDLT
    eye6 = _EYE6
    best_e2, best_q = np.inf, q
    total_iters = 0
    restarts = 0
    check_every = 10
    while True:
        best_local = np.inf
        since = 0
        clamped = True  # check the active set on the first step
        for k in range(max_iterations):
            cjj(model, data, q if identity else robot._to_model(q))
            iMd = ufp(model, data, fid).actInv(oMdes)
            err = log6(iMd).vector
            total_iters += 1
            e2 = err.dot(err)
            if e2 <= near2:
                tr = iMd.translation
                ep2 = tr.dot(tr)
                w = err[3:]
                er2 = w.dot(w)
                if ep2 <= tol_p2 and er2 <= tol_r2:
                    return IKResult(
                        True, q, float(np.sqrt(ep2)), float(np.sqrt(er2)), total_iters, restarts,
                        time.perf_counter() - t0, IKStatus.SOLVED,
                    )
            if e2 < best_e2:
                best_e2, best_q = e2, q
            if e2 < 0.5 * best_local:
                best_local, since = e2, 0
            else:
                since += 1
                if since >= stall_iterations:
                    break
            if k % check_every == check_every - 1 and timeout_s is not None and time.perf_counter() > deadline:
                break
            J = gfj(model, data, fid, LOCAL)
            if not identity:
                J = J[:, v_index]
            lamI = (damping + 1e-3 * e2) * eye6
            H = J.dot(J.T)
            H += lamI
            dq = J.T.dot(LDLT(H).solve(err))
            had_block = False
            if clamped:
                blocked = ((q <= lower) & (dq < 0.0)) | ((q >= upper) & (dq > 0.0))
                if blocked.any():
                    had_block = True
                    J = J.copy()
                    J[:, blocked] = 0.0
                    H = J.dot(J.T)
                    H += lamI
                    dq = J.T.dot(LDLT(H).solve(err))
            if use_posture:
                # Null-space projection of the posture pull: (I - J^+ J) g.
                g = posture_gain * (posture - q)
                dq += g - J.T.dot(LDLT(H).solve(J.dot(g)))
            s2 = dq.dot(dq)
            if s2 > step2:
                dq *= max_step_rad / np.sqrt(s2)
            qn = q + dq
            q = np.minimum(np.maximum(qn, lower), upper)
            if (q != qn).any():
                if wrap is not None:
                    S.wrap_into_limits(qn)
                    q = np.minimum(np.maximum(qn, lower), upper)
                    clamped = had_block or bool((q != qn).any())
                else:
                    clamped = True
            else:
                clamped = had_block
        restarts += 1
        if restarts > max_restarts or (timeout_s is not None and time.perf_counter() > deadline):
            break
        if wrap is None:
            q = rng.uniform(lower, upper)
        else:
            # One turn around the seed on full-turn joints: every angle is there once.
            q = draw_lo + rng.random(n) * S.draw_width
            S.wrap_into_limits(q)
            np.maximum(q, lower, out=q)
            np.minimum(q, upper, out=q)
    ep, er = pose_error(robot.frame_transform(best_q, frame), oMdes.homogeneous)
    return IKResult(
        False, best_q.copy(), ep, er, total_iters, restarts - 1, time.perf_counter() - t0, IKStatus.NOT_CONVERGED
    )
