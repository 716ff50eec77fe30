"""Contact nobody planned for: an external-torque estimate from the control model, and the
protective stop a real arm makes when it hits something.

`ExternalTorqueObserver` is the generalized-momentum observer (De Luca & Mattone, ICRA 2003;
Haddadin, De Luca & Albu-Schäffer, "Robot Collisions: A Survey on Detection, Isolation, and
Identification", IEEE T-RO 33(6), 2017, sec. IV-B): with the momentum ``p = M(q) qd``,

    r = K_O (p(t) - p(0) - int_0^t (tau_m - f(qd) + C(q, qd)^T qd - g(q) + r) ds),

the residual ``r`` follows the external joint torque through a first-order filter of bandwidth
``K_O`` (1/s), without joint accelerations. It needs only what an `Arm` reports (positions,
velocities, measured joint torques) and the robot's model: ``C^T qd`` is ``Mdot qd - C qd``, with
``Mdot`` the finite difference of ``M`` between two updates and ``C qd + g`` one RNEA.

`ContactMonitor` compares the estimate with per-robot thresholds (joint torques, and the force
at the tcp it implies) and says when to make a protective stop. Both are pure: `SafeArm` calls the
monitor once per control period and stops the arm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from officina.controllers.model import RobotModel
from officina.interfaces import JointState

__all__ = ["ExternalTorqueObserver", "ContactThresholds", "ContactMonitor", "ContactVerdict", "force_norm"]


def force_norm(Jv: np.ndarray, tau: np.ndarray, rcond: float = 1e-3) -> float:
    """|F| of the least-squares solution of ``Jv^T F = tau`` (``Jv`` 3xN), singular values of ``Jv``
    below ``rcond`` times the largest taken as zero: what ``np.linalg.lstsq(Jv.T, tau, rcond)``
    gives. When no singular value is that small, F is the solution of the normal equations
    ``Jv Jv^T F = Jv tau``, solved in closed form (3x3 cofactors) on Python floats, a fraction
    of lstsq's cost; otherwise (near a singularity) lstsq itself. With A = Jv Jv^T (eigenvalues
    w1 >= w2 >= w3, the squared singular values), w3 / w1 >= det(A) / tr(A)^3, so
    ``det(A) > rcond^2 tr(A)^3`` proves that none is dropped and that A's condition number is
    below 1 / rcond^2."""
    (a, b, c), (_, d, e), (_, _, f) = (Jv @ Jv.T).tolist()
    y0, y1, y2 = (Jv @ tau).tolist()
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    det = a * c00 + b * c01 + c * c02
    tr = a + d + f
    if det > rcond * rcond * tr * tr * tr:
        c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
        x = (c00 * y0 + c01 * y1 + c02 * y2) / det
        y = (c01 * y0 + c11 * y1 + c12 * y2) / det
        z = (c02 * y0 + c12 * y1 + c22 * y2) / det
        return math.sqrt(x * x + y * y + z * z)
    F, *_ = np.linalg.lstsq(Jv.T, tau, rcond=rcond)
    return float(np.linalg.norm(F))


class ExternalTorqueObserver:
    """The external joint torques (N·m, joint order) estimated from joint states.

    With ``frame``, each update also keeps the linear rows of that frame's Jacobian at the
    state's positions (``jacobian_v``, 3xN, base-aligned axes), from the same pass of the
    model, for whoever turns the residual into a force there.

    A state with a value that is not a number (NaN or inf in its positions, velocities or
    efforts) leaves the estimate as it was (it would stay NaN for good otherwise) and sets
    ``finite`` to False until the next state that is."""

    def __init__(self, model: RobotModel, gain: float = 60.0, frame: str | None = None) -> None:
        if not gain > 0:
            raise ValueError(f"observer gain must be positive, got {gain}")
        self.model = model
        self.gain = float(gain)
        self.frame = frame
        self._p0: np.ndarray | None = None
        self._p0_l: list[float] = [0.0] * model.nq
        self._integral: list[float] = [0.0] * model.nq
        self._M_prev: np.ndarray | None = None
        self._t_prev: float | None = None
        self.residual = np.zeros(model.nq)
        self._r: list[float] = [0.0] * model.nq  # the residual as Python floats
        self.jacobian_v: np.ndarray | None = None
        self.finite = True  # the last state given was all numbers
        self._damping = model.joint_damping
        self._damping_l = self._damping.tolist()

    def reset(self, state: JointState) -> None:
        q, v = np.asarray(state.position, float), np.asarray(state.velocity, float)
        self.jacobian_v = None
        M = self.model.mass_matrix(q)
        p0 = M @ v
        self.finite = bool(np.all(np.isfinite(p0)) and np.all(np.isfinite(np.asarray(state.effort, float)))
                           and np.isfinite(float(state.stamp)))
        self.residual = np.zeros(self.model.nq)
        self._r = [0.0] * self.model.nq
        if not self.finite:
            self._p0 = None  # the next update starts again from its state
            return
        self._p0 = p0
        self._p0_l = self._p0.tolist()
        self._M_prev = M
        self._integral = [0.0] * self.model.nq
        self._t_prev = float(state.stamp)

    def update(self, state: JointState) -> np.ndarray:
        """Advance to ``state`` (its stamp gives the time step); returns the residual r."""
        self.jacobian_v = None
        if self._p0 is None:
            self.reset(state)
            return self.residual
        dt = float(state.stamp) - self._t_prev
        if not dt > 0:
            self.finite = dt == dt  # a NaN stamp is no number either
            return self.residual
        q, v, tau_m = state.position, np.asarray(state.velocity, float), np.asarray(state.effort, float)
        M, h, J = self.model.inertia_and_bias(q, v, self.frame)
        if J is not None:
            self.jacobian_v = J[:3]
        # on Python floats, joint by joint: the same IEEE operations in the same order as the
        # vector expressions in the comments, without numpy's cost per call on a few joints
        Mdot_v_dt = ((M - self._M_prev) @ v).tolist()  # Mdot_v = (M - M_prev) @ v / dt
        Mv = (M @ v).tolist()
        integral, p0, damping, r_prev = self._integral, self._p0_l, self._damping_l, self._r
        gain = self.gain
        r = []
        new_integral = []
        for i, (vi, ti, hi) in enumerate(zip(v.tolist(), tau_m.tolist(), h.tolist())):
            beta = hi - Mdot_v_dt[i] / dt  # beta = h - Mdot_v = g - C^T qd
            s = integral[i] + (ti - damping[i] * vi - beta + r_prev[i]) * dt  # integral += (tau_m - D v - beta + r) dt
            new_integral.append(s)
            r.append(gain * (Mv[i] - p0[i] - s))  # r = gain (M v - p0 - integral)
        # a NaN or inf anywhere in the state reaches r (through M, h or the sums); the sum of a
        # few torques is finite exactly when each one is
        self.finite = math.isfinite(sum(r))
        if not self.finite:
            self.jacobian_v = None
            return self.residual
        self._integral = new_integral
        self._r = r
        self.residual = np.array(r)
        self._M_prev = M
        self._t_prev = float(state.stamp)
        return self.residual


@dataclass(frozen=True)
class ContactThresholds:
    """When an arm stops: any joint's external torque above ``joint_torque_nm`` (per joint), or
    the force at the tcp it implies above ``tcp_force_n`` (None: not checked). ``source`` says
    where the figures come from (the robot's YAML states it)."""

    joint_torque_nm: tuple[float, ...] | None = None
    tcp_force_n: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.joint_torque_nm is None and self.tcp_force_n is None:
            raise ValueError("contact thresholds: give joint_torque_nm, tcp_force_n or both")
        if self.joint_torque_nm is not None and any(not t > 0 for t in self.joint_torque_nm):
            raise ValueError("contact thresholds: joint_torque_nm must be positive")
        if self.tcp_force_n is not None and not self.tcp_force_n > 0:
            raise ValueError("contact thresholds: tcp_force_n must be positive")


@dataclass(frozen=True)
class ContactVerdict:
    stop: bool
    reason: str
    tau_ext: np.ndarray
    tcp_force_n: float


class ContactMonitor:
    """The external-torque estimate against the thresholds, once per control period."""

    def __init__(self, model: RobotModel, thresholds: ContactThresholds, gain: float = 60.0) -> None:
        n = model.nq
        if thresholds.joint_torque_nm is not None and len(thresholds.joint_torque_nm) != n:
            raise ValueError(f"contact thresholds: joint_torque_nm needs {n} values, got "
                             f"{len(thresholds.joint_torque_nm)}")
        self.model = model
        self.thresholds = thresholds
        # the force at the tcp needs the tcp's Jacobian: the observer's pass of the model gives it
        self.observer = ExternalTorqueObserver(model, gain, frame=None if thresholds.tcp_force_n is None else "tcp")
        # the joint torque limits as Python floats: the check compares a few joints per period
        self._tau_max = None if thresholds.joint_torque_nm is None else [float(t) for t in thresholds.joint_torque_nm]
        self._tau_allow = self._tau_max
        self._force_allow = thresholds.tcp_force_n

    def reset(self, state: JointState) -> None:
        self.observer.reset(state)
        self._tau_allow = self._tau_max
        self._force_allow = self.thresholds.tcp_force_n

    def tolerate_current(self, state: JointState) -> None:
        """After a protective stop the arm is still in the contact it stopped in: allow up to half
        as much again as the present load, so that the arm can back out (the release and the
        start of the motion move the estimate); once the estimate is below the thresholds, the
        thresholds hold again. A load above the allowance stops the arm again."""
        tau = self.observer.residual
        if self._tau_max is not None:
            self._tau_allow = np.maximum(self._tau_max, 1.5 * np.abs(tau)).tolist()
        if self.thresholds.tcp_force_n is not None:
            self._force_allow = max(self.thresholds.tcp_force_n,
                                    1.5 * self.tcp_force(np.asarray(state.position, float), tau))

    def tcp_force(self, q: np.ndarray, tau_ext: np.ndarray) -> float:
        """|F| of the force at the tcp that explains ``tau_ext`` best (least squares, J_v^T F = tau)."""
        return force_norm(self.model.jacobian(q, "tcp")[:3], tau_ext)

    def check(self, state: JointState) -> ContactVerdict:
        tau = self.observer.update(state)
        if not self.observer.finite:
            # no estimate from this state: stop rather than go on blind
            return ContactVerdict(True, "joint state not a number: no external torque estimate", tau, math.nan)
        force = 0.0
        reason = ""
        if self._tau_max is not None:
            a = [abs(x) for x in tau.tolist()]
            allow = self._tau_allow
            if any(x > y for x, y in zip(a, allow)):
                j = max(range(len(a)), key=lambda i: a[i] / allow[i])  # the first largest, as np.argmax
                reason = (f"external torque {a[j]:.1f} N·m on {self.model.joint_names[j]} above "
                          f"{allow[j]:.1f} N·m")
            elif allow is not self._tau_max and all(x <= y for x, y in zip(a, self._tau_max)):
                self._tau_allow = self._tau_max  # released: the thresholds hold again
        if self.thresholds.tcp_force_n is not None:
            Jv = self.observer.jacobian_v  # at this state's positions (None when the update did not run)
            force = self.tcp_force(np.asarray(state.position, float), tau) if Jv is None else force_norm(Jv, tau)
            if not reason and force > self._force_allow:
                reason = f"contact force {force:.0f} N at the tcp above {self._force_allow:.0f} N"
            elif self._force_allow > self.thresholds.tcp_force_n and force <= self.thresholds.tcp_force_n:
                self._force_allow = self.thresholds.tcp_force_n
        return ContactVerdict(bool(reason), reason, tau, force)
