"""Torque-level control laws over a Pinocchio `RobotModel`.

Every law is a class built with its control period ``dt`` (s) and gains, and has one method
called once per control tick (the documented rate is ``1/dt``; the defaults are tuned for
1 kHz, the rate of the simulated arms and of franka_ros2 / the UR RTDE torque interfaces)::

    tau, status = law.step(state, reference)

* ``state``: an `officina.interfaces.JointState` (positions rad, velocities rad/s, in the
  robot's joint-name order).
* ``reference``: a `JointReference` (q, qd, qdd) for the joint-space laws, a
  `CartesianReference` (tcp pose, twist, acceleration, optional posture) for the Cartesian ones.
* ``tau``: joint torques in N·m, already clipped to the robot's effort limits.
* ``status``: a `LawStatus`; the loop never raises. An invalid state or reference (NaN, wrong
  length) gives ``INVALID_INPUT`` and the gravity-compensation torque of the last valid
  configuration (or zeros if there was none): the arm holds itself, the safety filter decides
  what happens next.

Cartesian errors are expressed with base-aligned axes at the frame origin: position error
``p_ref - p`` (m) and orientation error ``log3(R_ref R^T)`` (rad); twists are (v [m/s], w [rad/s]).
Near singularities the Cartesian laws stay bounded: the operational-space inertia
``Lambda = (J M^-1 J^T)^-1`` is computed with a damped (Tikhonov) inverse whose damping grows as
the smallest singular value falls below a threshold, and the null-space projector uses the same
damped inverse. No PyBullet here: the plant is whatever implements the `Arm` protocol.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import pinocchio as pin
from officina.controllers.model import RobotModel

from officina.interfaces import JointState

__all__ = [
    "LAWS",
    "CartesianImpedance",
    "CartesianReference",
    "ComputedTorque",
    "JointPDGravity",
    "JointReference",
    "LawStatus",
    "OperationalSpace",
    "cartesian_reference_from_joint",
    "damped_inverse",
]


class LawStatus(str, enum.Enum):
    OK = "ok"
    SATURATED = "saturated"  # at least one torque was clipped to its effort limit
    NEAR_SINGULAR = "near_singular"  # Cartesian law: damping active (smallest singular value low)
    INVALID_INPUT = "invalid_input"


@dataclass(frozen=True)
class JointReference:
    """Desired joint positions (rad), velocities (rad/s), accelerations (rad/s^2)."""

    q: np.ndarray
    qd: np.ndarray | None = None
    qdd: np.ndarray | None = None


@dataclass(frozen=True)
class CartesianReference:
    """Desired ``base_T_tcp`` (4x4, m), twist (6,) [v m/s, w rad/s] and its derivative (6,),
    base-aligned axes; ``q_posture`` (rad) for the null space of redundant arms."""

    base_T_tcp: np.ndarray
    twist: np.ndarray | None = None
    accel: np.ndarray | None = None
    q_posture: np.ndarray | None = None


def damped_inverse(A: np.ndarray, sigma_min: float = 1e-2, lam_max: float = 1e-1) -> tuple[np.ndarray, float]:
    """Damped inverse of a symmetric positive semi-definite matrix (Nakamura/Maciejewski style).

    With ``A = U diag(s) U^T``, returns ``U diag(s / (s^2 + l^2)) U^T`` where ``l^2`` is zero when
    the smallest eigenvalue is above ``sigma_min`` and grows smoothly to ``lam_max^2`` as it falls
    to zero. Every entry stays bounded by ``1 / (2 l)`` near a singularity. Returns (inverse,
    smallest eigenvalue)."""
    s, U = np.linalg.eigh(0.5 * (A + A.T))
    s = np.maximum(s, 0.0)
    smin = float(s[0])
    l2 = 0.0 if smin >= sigma_min else (1.0 - (smin / sigma_min) ** 2) * lam_max**2
    return (U * (s / (s * s + l2) if l2 > 0 else 1.0 / s)) @ U.T, smin


def _finite(a, n: int) -> np.ndarray | None:
    try:
        x = np.asarray(a, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None
    if x.shape != (n,) or not np.all(np.isfinite(x)):
        return None
    return x


def _pose_error(base_T_ref: np.ndarray, base_T_cur: np.ndarray) -> np.ndarray:
    """6-D error (p_ref - p, log3(R_ref R^T)) with base-aligned axes."""
    e = np.empty(6)
    e[:3] = base_T_ref[:3, 3] - base_T_cur[:3, 3]
    e[3:] = pin.log3(base_T_ref[:3, :3] @ base_T_cur[:3, :3].T)
    return e


class _Law:
    """Shared plumbing: dt, torque clipping, invalid-input fallback. ``reference_type`` is the
    reference class `step` takes (`JointReference` or `CartesianReference`)."""

    reference_type: type

    def __init__(self, robot: RobotModel, dt: float):
        if not (dt > 0 and np.isfinite(dt)):
            raise ValueError(f"control period dt must be positive, got {dt}")
        self.robot = robot
        self.dt = float(dt)
        self.n = robot.nq
        self.effort = np.asarray(robot.limits.effort, dtype=float)
        # Viscous friction of the URDF's <dynamics damping>, compensated by every law (the
        # simulator applies it; on a real arm it is the identified viscous friction).
        self._fv = robot.joint_damping
        self._last_q: np.ndarray | None = None

    @property
    def rate_hz(self) -> float:
        return 1.0 / self.dt

    def _state(self, state: JointState) -> tuple[np.ndarray, np.ndarray] | None:
        q = _finite(getattr(state, "position", None), self.n)
        v = _finite(getattr(state, "velocity", None), self.n)
        if q is None or v is None:
            return None
        self._last_q = q
        return q, v

    def _invalid(self) -> tuple[np.ndarray, LawStatus]:
        if self._last_q is None:
            return np.zeros(self.n), LawStatus.INVALID_INPUT
        return np.clip(self.robot.gravity(self._last_q), -self.effort, self.effort), LawStatus.INVALID_INPUT

    def _clip(self, tau: np.ndarray, status: LawStatus = LawStatus.OK) -> tuple[np.ndarray, LawStatus]:
        if not np.all(np.isfinite(tau)):
            return self._invalid()
        out = np.clip(tau, -self.effort, self.effort)
        if np.any(out != tau):
            status = LawStatus.SATURATED
        return out, status

    def reset(self) -> None:
        self._last_q = None

    def validate(self, reference) -> str | None:
        """None if ``reference`` is usable by this law, else a one-line reason (call outside the loop)."""
        raise NotImplementedError


def _default_joint_gains(robot: RobotModel, omega: float, zeta: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint PD gains from the diagonal of M at the home pose: kp = w^2 m_ii, kd = 2 z w m_ii."""
    m = np.diag(robot.mass_matrix(robot.spec.home)).copy()
    m = np.maximum(m, 1e-3)
    return omega**2 * m, 2.0 * zeta * omega * m


class JointPDGravity(_Law):
    """Joint PD with gravity compensation: ``tau = Kp (q_r - q) + Kd (qd_r - qd) + g(q)``.

    Gains in N·m/rad and N·m·s/rad; default: a critically damped ``omega`` rad/s per joint,
    scaled by the joint's own inertia at the home pose. Rate: 1/dt (default tuning for 1 kHz).
    """

    reference_type = JointReference

    def __init__(self, robot: RobotModel, dt: float, kp=None, kd=None, *, omega: float = 30.0, zeta: float = 1.0):
        super().__init__(robot, dt)
        dkp, dkd = _default_joint_gains(robot, omega, zeta)
        self.kp = dkp if kp is None else np.broadcast_to(np.asarray(kp, float), (self.n,)).copy()
        self.kd = dkd if kd is None else np.broadcast_to(np.asarray(kd, float), (self.n,)).copy()

    def validate(self, reference) -> str | None:
        if not isinstance(reference, JointReference) or _finite(reference.q, self.n) is None:
            return f"expected a JointReference with {self.n} finite positions"
        return None

    def step(self, state: JointState, reference: JointReference) -> tuple[np.ndarray, LawStatus]:
        s = self._state(state)
        qr = _finite(getattr(reference, "q", None), self.n)
        if s is None or qr is None:
            return self._invalid()
        q, v = s
        vr = np.zeros(self.n) if reference.qd is None else _finite(reference.qd, self.n)
        if vr is None:
            return self._invalid()
        tau = self.kp * (qr - q) + self.kd * (vr - v) + self.robot.gravity(q) + self._fv * v
        return self._clip(tau)


class ComputedTorque(_Law):
    """Computed torque (inverse dynamics):
    ``tau = M(q) (qdd_r + Kp (q_r - q) + Kd (qd_r - qd)) + h(q, qd)``.

    Gains in 1/s^2 and 1/s (the same for every robot: the model cancels the inertia);
    default ``omega`` = 40 rad/s, critically damped. Rate: 1/dt (default tuning for 1 kHz).
    """

    reference_type = JointReference

    def __init__(self, robot: RobotModel, dt: float, kp=None, kd=None, *, omega: float = 40.0, zeta: float = 1.0):
        super().__init__(robot, dt)
        self.kp = np.full(self.n, omega**2) if kp is None else np.broadcast_to(np.asarray(kp, float), (self.n,)).copy()
        self.kd = np.full(self.n, 2 * zeta * omega) if kd is None else np.broadcast_to(np.asarray(kd, float), (self.n,)).copy()

    validate = JointPDGravity.validate

    def step(self, state: JointState, reference: JointReference) -> tuple[np.ndarray, LawStatus]:
        s = self._state(state)
        qr = _finite(getattr(reference, "q", None), self.n)
        if s is None or qr is None:
            return self._invalid()
        q, v = s
        vr = np.zeros(self.n) if reference.qd is None else _finite(reference.qd, self.n)
        ar = np.zeros(self.n) if reference.qdd is None else _finite(reference.qdd, self.n)
        if vr is None or ar is None:
            return self._invalid()
        a = ar + self.kp * (qr - q) + self.kd * (vr - v)
        tau = self.robot.rnea(q, v, a) + self._fv * v
        return self._clip(tau)


class _CartesianLaw(_Law):
    reference_type = CartesianReference

    def __init__(self, robot: RobotModel, dt: float, frame: str, sigma_min: float, lam_max: float,
                 max_error_m: float, max_error_rad: float):
        super().__init__(robot, dt)
        robot.frame_id(frame)
        self.frame = frame
        self.sigma_min = sigma_min
        self.lam_max = lam_max
        self.max_error_m = max_error_m
        self.max_error_rad = max_error_rad
        self.last_sigma_min = np.inf

    def validate(self, reference) -> str | None:
        if not isinstance(reference, CartesianReference):
            return "expected a CartesianReference"
        T = np.asarray(reference.base_T_tcp, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            return "base_T_tcp: expected a finite 4x4 pose"
        return None

    def _ref(self, reference) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None] | None:
        try:
            T = np.asarray(reference.base_T_tcp, dtype=float)
        except (AttributeError, TypeError, ValueError):
            return None
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            return None
        tw = np.zeros(6) if reference.twist is None else _finite(reference.twist, 6)
        ac = np.zeros(6) if reference.accel is None else _finite(reference.accel, 6)
        qp = None if reference.q_posture is None else _finite(reference.q_posture, self.n)
        if tw is None or ac is None or (reference.q_posture is not None and qp is None):
            return None
        return T, tw, ac, qp

    def _error(self, T_ref: np.ndarray, T: np.ndarray) -> np.ndarray:
        e = _pose_error(T_ref, T)
        # Bound the error fed to the spring (a far target must not produce a huge wrench).
        npos, nrot = np.linalg.norm(e[:3]), np.linalg.norm(e[3:])
        if npos > self.max_error_m:
            e[:3] *= self.max_error_m / npos
        if nrot > self.max_error_rad:
            e[3:] *= self.max_error_rad / nrot
        return e

    def _dynamics(self, q: np.ndarray, J: np.ndarray):
        M = self.robot.mass_matrix(q)
        Minv = np.linalg.inv(M)
        Lam, smin = damped_inverse(J @ Minv @ J.T, self.sigma_min, self.lam_max)
        self.last_sigma_min = smin
        return M, Minv, Lam, smin

    def _nullspace(self, J, Minv, Lam, q, v, qp, kn, dn) -> np.ndarray:
        """Null-space posture torque ``(I - J^T Jbar^T) (kn (qp - q) - dn qd)``, with
        the dynamically consistent inverse ``Jbar = M^-1 J^T Lambda`` (damped Lambda)."""
        if qp is None:
            qp = self.robot.spec.home
        tau0 = kn * (qp - q) - dn * v
        Jbar = Minv @ J.T @ Lam
        return tau0 - J.T @ (Jbar.T @ tau0)


class CartesianImpedance(_CartesianLaw):
    """Cartesian impedance of the tcp with null-space posture control:

    ``tau = J^T (K e + D (twist_r - J qd) + Lambda accel_r) + N^T (Kn (q_p - q) - Dn qd) + h(q, qd)``

    K (N/m, N·m/rad) and D (N·s/m, N·m·s/rad) are 6-vectors, the first three translational;
    default D is critical damping w.r.t. the operational-space inertia at home. The wrench is
    computed from a bounded error, and Lambda and the null-space projector use the damped
    inverse, so torques stay bounded through singularities. Rate: 1/dt (tuned for 1 kHz).
    """

    def __init__(
        self, robot: RobotModel, dt: float, *, frame: str = "tcp",
        stiffness=(2000.0, 2000.0, 2000.0, 150.0, 150.0, 150.0), damping=None,
        nullspace_stiffness: float = 20.0, nullspace_damping: float | None = None,
        sigma_min: float = 1e-2, lam_max: float = 0.1, max_error_m: float = 0.05, max_error_rad: float = 0.5,
        feedforward: bool = True, damping_ratio: float = 1.0,
    ):
        super().__init__(robot, dt, frame, sigma_min, lam_max, max_error_m, max_error_rad)
        self.K = np.broadcast_to(np.asarray(stiffness, dtype=float), (6,)).copy()
        self.zeta = float(damping_ratio)
        # damping=None: D from the current Lambda at every tick (double diagonalisation), so that
        # every Cartesian mode is damped with ``damping_ratio`` whatever its apparent inertia.
        self.D = None if damping is None else np.broadcast_to(np.asarray(damping, dtype=float), (6,)).copy()
        self.kn = float(nullspace_stiffness)
        self.dn = 2.0 * np.sqrt(self.kn) if nullspace_damping is None else float(nullspace_damping)
        self.feedforward = feedforward

    def _modal_damping(self, Lam: np.ndarray) -> np.ndarray:
        """``D = 2 zeta Lambda^1/2 sqrt(Lambda^-1/2 K Lambda^-1/2) Lambda^1/2``."""
        s, U = np.linalg.eigh(0.5 * (Lam + Lam.T))
        s = np.maximum(s, 1e-9)
        Lh = (U * np.sqrt(s)) @ U.T
        Lih = (U / np.sqrt(s)) @ U.T
        B = Lih @ (self.K[:, None] * Lih)
        w, V = np.linalg.eigh(0.5 * (B + B.T))
        return 2.0 * self.zeta * Lh @ ((V * np.sqrt(np.maximum(w, 0.0))) @ V.T) @ Lh

    def step(self, state: JointState, reference: CartesianReference) -> tuple[np.ndarray, LawStatus]:
        s = self._state(state)
        r = self._ref(reference)
        if s is None or r is None:
            return self._invalid()
        q, v = s
        T_ref, tw_ref, ac_ref, qp = r
        T, J = self.robot.kinematics(q, self.frame)
        _M, Minv, Lam, smin = self._dynamics(q, J)
        e = self._error(T_ref, T)
        ev = tw_ref - J @ v
        F = self.K * e + (self.D * ev if self.D is not None else self._modal_damping(Lam) @ ev)
        if self.feedforward:
            F = F + Lam @ (ac_ref - self.robot.jdot_qd(q, v, self.frame))
        tau = J.T @ F + self._nullspace(J, Minv, Lam, q, v, qp, self.kn, self.dn)
        tau = tau + self.robot.nonlinear_effects(q, v) + self._fv * v
        return self._clip(tau, LawStatus.NEAR_SINGULAR if smin < self.sigma_min else LawStatus.OK)


class OperationalSpace(_CartesianLaw):
    """Operational-space control (Khatib): a decoupled second-order tcp error dynamics,

    ``tau = J^T Lambda (accel_r + Kp e + Kd (twist_r - J qd) - dJ qd) + N^T (Kn (q_p - q) - Dn qd) + h``

    Kp (1/s^2) and Kd (1/s) are 6-vectors (default 400 and 40: omega = 20 rad/s, critically
    damped); Lambda and the null-space projector use the damped inverse, so torques stay bounded
    through singularities. Rate: 1/dt (tuned for 1 kHz).
    """

    def __init__(
        self, robot: RobotModel, dt: float, *, frame: str = "tcp", kp=400.0, kd=None,
        nullspace_stiffness: float = 20.0, nullspace_damping: float | None = None,
        sigma_min: float = 1e-2, lam_max: float = 0.1, max_error_m: float = 0.05, max_error_rad: float = 0.5,
    ):
        super().__init__(robot, dt, frame, sigma_min, lam_max, max_error_m, max_error_rad)
        self.kp = np.broadcast_to(np.asarray(kp, dtype=float), (6,)).copy()
        self.kd = 2.0 * np.sqrt(self.kp) if kd is None else np.broadcast_to(np.asarray(kd, dtype=float), (6,)).copy()
        self.kn = float(nullspace_stiffness)
        self.dn = 2.0 * np.sqrt(self.kn) if nullspace_damping is None else float(nullspace_damping)

    def step(self, state: JointState, reference: CartesianReference) -> tuple[np.ndarray, LawStatus]:
        s = self._state(state)
        r = self._ref(reference)
        if s is None or r is None:
            return self._invalid()
        q, v = s
        T_ref, tw_ref, ac_ref, qp = r
        T, J = self.robot.kinematics(q, self.frame)
        _M, Minv, Lam, smin = self._dynamics(q, J)
        e = self._error(T_ref, T)
        a_cmd = ac_ref + self.kp * e + self.kd * (tw_ref - J @ v) - self.robot.jdot_qd(q, v, self.frame)
        tau = J.T @ (Lam @ a_cmd) + self._nullspace(J, Minv, Lam, q, v, qp, self.kn, self.dn)
        tau = tau + self.robot.nonlinear_effects(q, v) + self._fv * v
        return self._clip(tau, LawStatus.NEAR_SINGULAR if smin < self.sigma_min else LawStatus.OK)


def cartesian_reference_from_joint(robot: RobotModel, q: np.ndarray, qd: np.ndarray, qdd: np.ndarray,
                                   frame: str = "tcp", q_posture: np.ndarray | None = None) -> CartesianReference:
    """The tcp reference (pose, twist, acceleration) of a joint-space reference sample, so that
    joint and Cartesian laws can track the very same motion."""
    T, J = robot.kinematics(q, frame)
    twist = J @ qd
    accel = J @ qdd + robot.jdot_qd(q, qd, frame)
    return CartesianReference(T, twist, accel, q if q_posture is None else q_posture)


#: Registry of the laws by CLI name: (class, reference kind).
LAWS: dict[str, tuple[type, str]] = {
    "joint_pd": (JointPDGravity, "joint"),
    "computed_torque": (ComputedTorque, "joint"),
    "cartesian_impedance": (CartesianImpedance, "cartesian"),
    "osc": (OperationalSpace, "cartesian"),
}
