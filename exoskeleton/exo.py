"""Exoskeleton models: passive and active back support, passive shoulder support.

Back-support exoskeletons (sagittal, both sides lumped) are modelled as two rigid, massless arms
hinged at the hip joint centres: a trunk arm ending in a chest pad on the trunk
(``chest_pad_from_l5s1_m`` along the trunk line above L5/S1) and a thigh arm ending in a thigh
cuff (``thigh_cuff_from_hip_m`` along the thigh). The hinge torque tau (N m, + = extension of the
trunk relative to the thighs) is delivered as pad forces perpendicular to the arms,
``tau / lever`` at the chest (pushing it backwards) and at the thighs, and the hip belt takes the
remaining force so the device is in equilibrium (a massless device exerts zero net force and
moment on the body). Inverse dynamics applies these three forces to the trunk, thigh and pelvis
bodies (:mod:`officina.exoskeleton.dynamics`), so what the exo takes off L5/S1 (moment, and
compression through the extensor muscle) and what it puts on the thighs and pelvis both come out
of the same computation.

Torques below are totals for the device (both sides).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from officina.exoskeleton.model import G, HumanModel, upper_body_gravity_torque_about_hip

__all__ = [
    "PRESETS",
    "ActiveBackExo",
    "PassiveBackExo",
    "ShoulderExo",
    "arm_gravity_torque",
    "back_exo_torque",
    "exo_by_name",
    "first_order_lag",
    "generic_exo",
    "spring_exo",
]

_D = math.pi / 180.0


@dataclass(frozen=True)
class ReferenceLift:
    """A lift comparable to the study a preset comes from, and the published effect size range."""

    style: str
    load_kg: float
    metric: str  # a key of compare()["reduction_pct"]: "peak_compression", "integrated_l5s1_moment", ...
    range_pct: tuple[float, float]
    note: str = ""
    start_height_m: float | None = None  # None: box on the floor (grip at 0.20 m)


@dataclass(frozen=True)
class PassiveBackExo:
    """Passive back support: hinge torque as a piecewise-linear function of the trunk-thigh flexion
    angle (hip flexion + lumbar flexion, rad). Torques in N m (device total), 0 outside the curve's
    first point, flat after its last. ``scale`` multiplies the whole curve (assistance level)."""

    name: str
    angles_rad: tuple[float, ...]
    torques_nm: tuple[float, ...]
    source: str = ""
    chest_pad_from_l5s1_m: float = 0.30
    thigh_cuff_from_hip_m: float = 0.20
    scale: float = 1.0
    references: tuple[ReferenceLift, ...] = ()

    def __post_init__(self):
        a = np.asarray(self.angles_rad, dtype=float)
        t = np.asarray(self.torques_nm, dtype=float)
        if a.ndim != 1 or a.shape != t.shape or len(a) < 2:
            raise ValueError("passive exo curve: expected matching angle and torque lists of at least 2 points")
        if np.any(np.diff(a) <= 0):
            raise ValueError("passive exo curve: angles must increase strictly")
        if np.any(t < 0) or not np.all(np.isfinite(t)):
            raise ValueError("passive exo curve: torques must be finite and >= 0 N m (extension)")
        if not (self.scale >= 0):
            raise ValueError(f"assistance scale: expected >= 0, got {self.scale!r}")
        _check_pads(self.chest_pad_from_l5s1_m, self.thigh_cuff_from_hip_m)

    def torque(self, flexion_rad) -> np.ndarray:
        f = np.asarray(flexion_rad, dtype=float)
        out = np.interp(f, self.angles_rad, self.torques_nm, left=0.0)
        out = np.where(f < self.angles_rad[0], 0.0, out)
        return self.scale * out

    def scaled(self, k: float) -> PassiveBackExo:
        return replace(self, scale=float(k))


def _check_pads(chest, thigh):
    if not (0.05 <= chest <= 0.8):
        raise ValueError(f"chest pad: expected 0.05 to 0.8 m above L5/S1, got {chest!r}")
    if not (0.05 <= thigh <= 0.6):
        raise ValueError(f"thigh cuff: expected 0.05 to 0.6 m below the hip, got {thigh!r}")


def spring_exo(
    stiffness_nm_per_rad: float,
    preload_nm: float = 0.0,
    engage_deg: float = 0.0,
    max_torque_nm: float = 60.0,
    name: str = "spring",
    **kw,
) -> PassiveBackExo:
    """A spring with preload: tau = preload + k (theta - theta_engage) above ``engage_deg``, 0 below,
    capped at ``max_torque_nm``. Preload acts from the engagement angle on, so with
    ``engage_deg <= 0`` the device already pushes when standing upright."""
    if not (stiffness_nm_per_rad >= 0 and preload_nm >= 0 and max_torque_nm > 0):
        raise ValueError("spring exo: expected stiffness >= 0, preload >= 0 and max torque > 0")
    th0 = engage_deg * _D
    th_max = th0 + max(0.0, (max_torque_nm - preload_nm)) / max(stiffness_nm_per_rad, 1e-9)
    th_max = min(th_max, 3.0)
    angles = (th0 - 1e-6, th0, max(th_max, th0 + 1e-3), 3.1)
    top = min(max_torque_nm, preload_nm + stiffness_nm_per_rad * (angles[2] - th0))
    start = min(preload_nm, max_torque_nm)  # a preload above the cap is capped too
    return PassiveBackExo(name=name, angles_rad=angles, torques_nm=(0.0, start, top, top), **kw)


@dataclass(frozen=True)
class ActiveBackExo:
    """Active back support: commanded torque = gain x the gravity torque of trunk, head, arms and
    load about the hips (estimated from the posture and the known load), saturated to
    [0, ``max_torque_nm``], delivered through a first-order actuator lag ``lag_s``."""

    name: str
    gain: float
    max_torque_nm: float
    lag_s: float = 0.05
    source: str = ""
    chest_pad_from_l5s1_m: float = 0.30
    thigh_cuff_from_hip_m: float = 0.20
    references: tuple[ReferenceLift, ...] = ()

    def __post_init__(self):
        if not (self.gain >= 0 and math.isfinite(self.gain)):
            raise ValueError(f"active exo gain: expected >= 0, got {self.gain!r}")
        if not (self.max_torque_nm >= 0):
            raise ValueError(f"active exo max torque: expected >= 0 N m, got {self.max_torque_nm!r}")
        if not (self.lag_s >= 0):
            raise ValueError(f"active exo lag: expected >= 0 s, got {self.lag_s!r}")
        _check_pads(self.chest_pad_from_l5s1_m, self.thigh_cuff_from_hip_m)

    def scaled(self, k: float) -> ActiveBackExo:
        return replace(self, gain=self.gain * float(k))


def first_order_lag(u: np.ndarray, dt: float, tau_s: float, y0: float | None = None) -> np.ndarray:
    """y' = (u - y) / tau, exact for a piecewise-constant input (zero-order hold)."""
    u = np.asarray(u, dtype=float)
    if tau_s <= 0:
        return u.copy()
    a = math.exp(-dt / tau_s)
    y = np.empty_like(u)
    prev = u[0] if y0 is None else y0
    for i, ui in enumerate(u):
        prev = a * prev + (1.0 - a) * ui
        y[i] = prev
    return y


def back_exo_torque(exo, model: HumanModel, q: np.ndarray, load_kg: float, dt: float | None = None) -> np.ndarray:
    """Hinge torque (N m, + extension) of a back exo over a motion ``q[T, 6]`` (or one posture)."""
    q = np.asarray(q, dtype=float)
    if isinstance(exo, PassiveBackExo):
        return exo.torque(q[..., 2] + q[..., 3])
    if isinstance(exo, ActiveBackExo):
        est = upper_body_gravity_torque_about_hip(model, q, load_kg)
        cmd = np.clip(exo.gain * est, 0.0, exo.max_torque_nm)
        if q.ndim == 1 or dt is None:
            return cmd  # steady state (static posture)
        return first_order_lag(cmd, dt, exo.lag_s)
    raise ValueError(f"not a back exoskeleton: {exo!r}")


@dataclass(frozen=True)
class ShoulderExo:
    """Passive shoulder support for overhead work: assistive torque at the shoulders (device total,
    + = raising the arms) = ``support_at_90`` x the gravity torque of both arms (straight, no tool)
    at 90 deg elevation x ``profile`` (piecewise-linear in the arm elevation from hanging, deg).
    The torque's reaction goes through the device frame to the hip belt."""

    name: str
    support_at_90: float
    profile_deg: tuple[float, ...] = (0.0, 30.0, 60.0, 90.0, 120.0, 150.0, 180.0)
    profile: tuple[float, ...] = field(default=tuple(float(np.sin(a * _D)) for a in (0, 30, 60, 90, 120, 150, 180)))
    source: str = ""

    def __post_init__(self):
        if not (0.0 <= self.support_at_90 <= 2.0):
            raise ValueError(f"shoulder exo support: expected 0 to 2 (fraction of the arm's weight torque at 90 deg), got {self.support_at_90!r}")
        if len(self.profile_deg) != len(self.profile) or len(self.profile) < 2:
            raise ValueError("shoulder exo profile: expected matching angle and value lists")

    def torque(self, model: HumanModel, elevation_rad) -> np.ndarray:
        e = np.degrees(np.asarray(elevation_rad, dtype=float))
        full = arm_gravity_torque(model, math.pi / 2, 0.0, 0.0)
        return self.support_at_90 * full * np.interp(e, self.profile_deg, self.profile)

    def scaled(self, k: float) -> ShoulderExo:
        return replace(self, support_at_90=self.support_at_90 * float(k))


def arm_gravity_torque(model: HumanModel, elevation_rad, elbow_flexion_rad=0.0, tool_kg=0.0) -> np.ndarray:
    """Gravity torque (N m, both arms) about the shoulders, for an arm raised forward by
    ``elevation_rad`` from hanging (trunk upright), the elbow flexed forward by ``elbow_flexion_rad``
    and ``tool_kg`` held at the hands: the shoulder flexor moment needed to hold it."""
    e = np.asarray(elevation_rad, dtype=float)
    f = e + np.asarray(elbow_flexion_rad, dtype=float)
    L = model.links
    x_el = model.upper_arm * np.sin(e)
    x_ua = -L["upper_arms"].com[2] * np.sin(e)
    x_fh = x_el - L["forearms_hands"].com[2] * np.sin(f)
    x_tool = x_el + model.grip_below_elbow * np.sin(f)
    return G * (L["upper_arms"].mass * x_ua + L["forearms_hands"].mass * x_fh + tool_kg * x_tool)


# --- presets --------------------------------------------------------------------------------
# Each curve is a simplified shape (not a digitisation) with magnitudes in the range the cited
# studies report; each preset's `references` (a reference lift and the published range of the
# effect) are what tests/test_exo_devices.py checks.

PRESETS: dict[str, object] = {
    "laevo": PassiveBackExo(
        name="laevo",
        # Laevo V2.5: no support in the first ~15 deg of trunk flexion, rising to ~20 N m by
        # 60 deg and ~25 N m in deep flexion.
        angles_rad=tuple(a * _D for a in (15.0, 60.0, 100.0, 180.0)),
        torques_nm=(0.0, 20.0, 25.0, 25.0),
        chest_pad_from_l5s1_m=0.32,
        thigh_cuff_from_hip_m=0.25,
        source=(
            "Koopman A.S., Kingma I., Faber G.S., de Looze M.P., van Dieen J.H. (2019) Effects of a "
            "passive exoskeleton on the mechanical loading of the low back in static holding tasks, "
            "J Biomech 83:97-103; Koopman et al. (2020) J Biomech 102:109486 (5-10 % lower peak L5/S1 "
            "compression in lifting)"
        ),
        references=(ReferenceLift("stoop", 10.0, "peak_compression", (5.0, 10.0), "Koopman et al. 2020"),),
    ),
    "spexor": PassiveBackExo(
        name="spexor",
        # SPEXOR: 10-30 N m per hip over the flexion range (20-60 N m for both hips).
        angles_rad=tuple(a * _D for a in (0.0, 30.0, 90.0, 180.0)),
        torques_nm=(0.0, 20.0, 40.0, 40.0),
        chest_pad_from_l5s1_m=0.32,
        thigh_cuff_from_hip_m=0.25,
        source=(
            "Baltrusch S.J., van Dieen J.H., Koopman A.S., et al. (2020) SPEXOR passive spinal "
            "exoskeleton decreases metabolic cost during symmetric repetitive lifting, Eur J Appl "
            "Physiol 120:401-412; Koopman A.S. et al. (2020) J Biomech 102:109486 (14 % lower peak "
            "L5/S1 compression); hip torque 10-30 N m per hip"
        ),
        references=(ReferenceLift("squat", 10.0, "peak_compression", (12.0, 16.0), "about 14 %, Koopman et al. 2020"),),
    ),
    "plad": PassiveBackExo(
        name="plad",
        # PLAD (elastic Personal Lift Assist Device): elastic bands, ~linear with trunk flexion,
        # 23-36 N m of assistance in the lifts studied.
        angles_rad=tuple(a * _D for a in (0.0, 90.0, 180.0)),
        torques_nm=(0.0, 36.0, 36.0),
        chest_pad_from_l5s1_m=0.40,
        thigh_cuff_from_hip_m=0.25,
        source=(
            "Abdoli-E M., Agnew M.J., Stevenson J.M. (2006) An on-body personal lift augmentation "
            "device (PLAD) reduces EMG amplitude of erector spinae during lifting tasks, Clin Biomech "
            "21:456-465; Abdoli-E M., Stevenson J.M. (2008) Clin Biomech 23:372-380 (23-29 % lower "
            "compression, 23-36 N m); Frost D.M. et al. (2009) J Appl Biomech 25:1-11 (17-19 % lower "
            "integrated L4/L5 moment)"
        ),
        references=(
            ReferenceLift("stoop", 5.0, "integrated_l5s1_moment", (17.0, 19.0), "Frost et al. 2009"),
            # the 23-29 % compression range is reached only in light lifts (peak L5/S1 moment about
            # 100 N m); a floor-to-knuckle lift of 5 kg gives ~15 % with this model
            ReferenceLift("squat", 0.0, "peak_compression", (23.0, 29.0), "Abdoli-E et al., light lift", 0.5),
        ),
    ),
    "xotrunk": ActiveBackExo(
        name="xotrunk",
        gain=0.18,
        max_torque_nm=40.0,
        lag_s=0.05,
        source=(
            "Toxiri S., Koopman A.S., Lazzaroni M., et al. (2018) Rationale, implementation and "
            "evaluation of assistive strategies for an active back-support exoskeleton, Front Robot "
            "AI 5:53 (gravity-compensation strategy of IIT's XoTrunk line; 12-15 % lower erector "
            "spinae activity)"
        ),
        references=(ReferenceLift("stoop", 10.0, "peak_l5s1_moment", (12.0, 15.0), "ES activity taken as proportional to the extensor moment"),),
    ),
    "paexo": ShoulderExo(
        name="paexo",
        support_at_90=0.7,
        source=(
            "Ottobock Paexo Shoulder; Maurice P., Camernik J., Gorjan D., et al. (2020) Objective and "
            "subjective effects of a passive exoskeleton on overhead work, IEEE Trans Neural Syst "
            "Rehabil Eng 28(1):152-164 (support adjustable to carry 45-90 % of the arm's weight at "
            "90 deg of elevation)"
        ),
    ),
}


def generic_exo(kind: str):
    """``passive``: a 40 N m/rad spring engaging at 10 deg, 40 N m max; ``active``: gain 0.3,
    50 N m max, 50 ms lag."""
    if kind == "passive":
        return spring_exo(40.0, 0.0, 10.0, 40.0, name="passive", source="generic spring (officina)")
    if kind == "active":
        return ActiveBackExo(name="active", gain=0.3, max_torque_nm=50.0, lag_s=0.05, source="generic (officina)")
    raise ValueError(f"exo: expected passive or active, got {kind!r}")


def exo_by_name(name: str):
    """None for ``none``; ``passive``/``active`` generic devices; or a preset of :data:`PRESETS`."""
    key = str(name).strip().lower()
    if key in ("none", ""):
        return None
    if key in ("passive", "active"):
        return generic_exo(key)
    if key in PRESETS:
        return PRESETS[key]
    raise ValueError(f"exo: expected none, passive, active or a preset ({', '.join(PRESETS)}), got {name!r}")


def shoulder_support(model: HumanModel, exo: ShoulderExo, elevation_rad, elbow_flexion_rad=0.0, tool_kg: float = 0.0) -> dict:
    """Shoulder flexor moment (N m, both arms) without and with a shoulder exo, for arms raised by
    ``elevation_rad`` holding ``tool_kg``; what it takes off and what it adds (the torque's reaction
    at the hip belt, and any moment the person must produce *against* the device)."""
    if not (tool_kg >= 0):
        raise ValueError(f"tool mass: expected >= 0 kg, got {tool_kg!r}")
    without = arm_gravity_torque(model, elevation_rad, elbow_flexion_rad, tool_kg)
    tau = exo.torque(model, elevation_rad)
    with_exo = without - tau
    with np.errstate(divide="ignore", invalid="ignore"):
        red = np.where(without > 0, 100.0 * (without - np.maximum(with_exo, 0.0)) / without, 0.0)
    return {
        "without_shoulder_moment_nm": without,
        "with_shoulder_moment_nm": with_exo,
        "exo_torque_nm": tau,
        "reduction_pct": red,
        "pelvis_reaction_moment_nm": tau,
        "opposing_moment_nm": np.maximum(0.0, -with_exo),
    }
