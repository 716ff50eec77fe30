"""Admittance control on a position-controlled arm: the force loop next to the arm.

`Admittance` is the law of ros2_controllers' ``admittance_controller`` (a chainable controller in
the controller_manager that reads the wrist wrench and offsets the joint references coming from a
joint_trajectory_controller): every control period it takes the joint reference and the wrist
sensor's wrench and returns the joint command

    q_cmd = q_ref + J_C(q_ref)^# x

where ``x`` (6: translation, then a small rotation vector) is the displacement of the compliant
frame C from where the reference puts it, driven by the external wrench at C through a
mass-spring-damper per selected axis (axes of the base frame, origin at C):

    M x'' + D x' + K x = F_ext,   D = 2 zeta sqrt(K M)

so that at rest a force F displaces C by F / K: a reference pushed 3 mm into a surface with
K = 1000 N/m presses on it with 3 N, as a Cartesian impedance with that stiffness would. ``x`` is
bounded (``max_offset_m`` for the translation, ``max_offset_rad`` for the rotation): the offset
can never take the arm further than that from the reference it was sent. The wrench is tared when
the admittance is enabled (the tool's weight: the mean over the first `TARE_S`, during which the
references pass unchanged; one reading would leave the sensor's noise as a bias), low-pass filtered, turned into the base frame with
the sensor frame's orientation and moved to C.

The loop has no network delay when it runs where the arm's controller runs (the sim's control
period, ``officina ros sim``; a ros2_control controller on a real arm): the force read in a period
moves the command of that period. What it returns still goes through the arm's safety filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from officina.controllers.laws import damped_inverse
from officina.interfaces import AdmittanceConfig, JointState, Wrench

__all__ = ["Admittance", "AdmittanceArm", "AdmittanceConfig", "validate_admittance"]


def validate_admittance(cfg: AdmittanceConfig) -> AdmittanceConfig:
    """The config with its arrays as float arrays of the right length; ValueError (one line) for
    a length, a negative or non-finite value, or a zero mass on a selected axis."""
    out = {}
    for name, n in (("selected_axes", 6), ("mass", 6), ("damping_ratio", 6), ("stiffness", 6),
                    ("frame_offset_xyz", 3)):
        a = np.asarray(getattr(cfg, name), dtype=bool if name == "selected_axes" else float).reshape(-1)
        if a.size != n:
            raise ValueError(f"admittance {name}: expected {n} values, got {a.size}")
        if name != "selected_axes" and not np.all(np.isfinite(a)):
            raise ValueError(f"admittance {name}: values must be finite")
        if name in ("mass", "damping_ratio", "stiffness") and np.any(a < 0):
            raise ValueError(f"admittance {name}: values must be >= 0")
        out[name] = tuple(a.tolist())
    if any(s and m <= 0 for s, m in zip(out["selected_axes"], out["mass"])):
        raise ValueError("admittance mass: must be > 0 on every selected axis")
    for name in ("max_offset_m", "max_offset_rad", "filter_time_s"):
        v = float(getattr(cfg, name))
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"admittance {name}: must be >= 0, got {v}")
    return replace(cfg, **out)


@dataclass
class _AxisState:
    x: np.ndarray = field(default_factory=lambda: np.zeros(6))
    v: np.ndarray = field(default_factory=lambda: np.zeros(6))
    f: np.ndarray = field(default_factory=lambda: np.zeros(6))


class Admittance:
    """The admittance law for one arm (``model``: its `RobotModel`; ``sensor_frame``: the frame
    the wrench is measured in, a frame of the model; ``dt``: the control period)."""

    TARE_S = 0.1

    def __init__(self, model, dt: float, sensor_frame: str) -> None:
        self.model = model
        self.dt = float(dt)
        self.sensor_frame = sensor_frame
        model.frame_id(sensor_frame)  # raises for an unknown frame
        self.config = AdmittanceConfig()
        self._frame_model = model
        self._tare = np.zeros(6)
        self._tare_sum = np.zeros(6)
        self._tare_n = 0
        self._tare_periods = max(1, int(round(self.TARE_S / self.dt)))
        self._s = _AxisState()

    @property
    def enabled(self) -> bool:
        return bool(self.config.enabled)

    @property
    def offset(self) -> np.ndarray:
        """The present displacement of the compliant frame (m, rad; base axes)."""
        return self._s.x.copy()

    @property
    def force(self) -> np.ndarray:
        """The filtered external wrench at the compliant frame (N, N·m; base axes)."""
        return self._s.f.copy()

    def configure(self, cfg: AdmittanceConfig, wrench: Wrench | None = None) -> None:
        """New parameters. Enabling from disabled starts from zero offset and tares the wrench over
        the next `TARE_S` (``wrench``, the sensor's reading now, is the first sample; the tool at
        rest and free); a change while enabled keeps the offset (bounded by the new maximum) and
        the tare."""
        cfg = validate_admittance(cfg)
        was = self.enabled
        if cfg.frame_offset_xyz != self.config.frame_offset_xyz or self._frame_model is self.model:
            T = np.eye(4)
            T[:3, 3] = cfg.frame_offset_xyz
            self._frame_model = self.model.with_frame("admittance_control", "tcp", T)
        self.config = cfg
        if cfg.enabled and not was:
            self._s = _AxisState()
            self._tare_sum = np.zeros(6)
            self._tare_n = 0
            if wrench is not None:
                self._add_tare(wrench)
        elif not cfg.enabled:
            self._s = _AxisState()
        else:
            self._bound()

    def _add_tare(self, wrench: Wrench) -> None:
        self._tare_sum += np.concatenate((wrench.force, wrench.torque))
        self._tare_n += 1
        self._tare = self._tare_sum / self._tare_n

    def _bound(self) -> None:
        s, c = self._s, self.config
        for sl, lim in ((slice(0, 3), c.max_offset_m), (slice(3, 6), c.max_offset_rad)):
            n = float(np.linalg.norm(s.x[sl]))
            if n > lim:
                u = s.x[sl] / n
                s.x[sl] *= lim / n
                s.v[sl] -= max(0.0, float(s.v[sl] @ u)) * u  # no velocity outwards

    def external_wrench(self, q: np.ndarray, wrench: Wrench) -> np.ndarray:
        """The tared wrench at the compliant frame, base axes (force, then moment)."""
        w = np.concatenate((wrench.force, wrench.torque)) - self._tare
        S = self._frame_model.frame_transform(q, self.sensor_frame)
        C = self._frame_model.frame_transform(q, "admittance_control")
        f = S[:3, :3] @ w[:3]
        m = S[:3, :3] @ w[3:] + np.cross(S[:3, 3] - C[:3, 3], f)
        return np.concatenate((f, m))

    def step(self, q_ref: np.ndarray, state: JointState, wrench: Wrench) -> np.ndarray:
        """One control period: the joint command for the reference ``q_ref`` given the measured
        ``state`` and ``wrench``. Disabled: ``q_ref`` unchanged."""
        q_ref = np.asarray(q_ref, float)
        if not self.enabled:
            return q_ref
        if self._tare_n < self._tare_periods:
            self._add_tare(wrench)
            return q_ref
        c, s, dt = self.config, self._s, self.dt
        sel = np.asarray(c.selected_axes, bool)
        F = self.external_wrench(state.position, wrench)
        alpha = 1.0 if c.filter_time_s <= 0 else min(1.0, dt / c.filter_time_s)
        s.f += alpha * (F - s.f)
        M = np.asarray(c.mass, float)
        K = np.asarray(c.stiffness, float)
        D = 2.0 * np.asarray(c.damping_ratio, float) * np.sqrt(K * M)
        acc = np.where(sel, (s.f - D * s.v - K * s.x) / np.where(sel, M, 1.0), 0.0)
        s.v = np.where(sel, s.v + dt * acc, 0.0)  # semi-implicit Euler
        s.x = np.where(sel, s.x + dt * s.v, 0.0)
        self._bound()
        if not np.any(s.x):
            return q_ref
        J = self._frame_model.jacobian(q_ref, "admittance_control")
        # damped near a singularity, so that an offset there cannot ask for large joint steps
        return q_ref + J.T @ (damped_inverse(J @ J.T)[0] @ s.x)


class AdmittanceArm:
    """An `Arm` (position mode) with the admittance of `Admittance` in front of it: the
    `CompliantArm` of `officina.interfaces` for a simulated cell in one process. Every position
    command is offset by the admittance of the period it runs in (the wrist sensor read after the
    last physics step), then goes to the wrapped arm (keep that a `SafeArm`: the offset passes
    its filter)."""

    def __init__(self, arm, wrist, model, sensor_frame: str) -> None:
        self._arm = arm
        self._wrist = wrist
        self.admittance = Admittance(model, arm.control_period, sensor_frame)

    def __getattr__(self, name):
        return getattr(self._arm, name)

    @property
    def joint_names(self):
        return self._arm.joint_names

    @property
    def limits(self):
        return self._arm.limits

    @property
    def control_period(self) -> float:
        return self._arm.control_period

    def read(self) -> JointState:
        return self._arm.read()

    def set_mode(self, mode) -> None:
        self._arm.set_mode(mode)

    def set_admittance(self, config: AdmittanceConfig) -> None:
        self.admittance.configure(config, self._wrist.read())

    def command_positions(self, q, qd=None) -> None:
        if self.admittance.enabled:
            q = self.admittance.step(q, self._arm.read(), self._wrist.read())
        self._arm.command_positions(q, qd)

    def command_velocities(self, qd) -> None:
        self._arm.command_velocities(qd)

    def command_torques(self, tau) -> None:
        self._arm.command_torques(tau)

    def fault(self):
        return self._arm.fault()

    def clear_fault(self) -> bool:
        return self._arm.clear_fault()
