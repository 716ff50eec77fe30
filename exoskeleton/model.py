"""The sagittal-plane human model: geometry, kinematics and static L5/S1 loads (vectorised).

Frames and angles
-----------------
World: x anterior (forward), y to the person's left, z up; the feet are fixed to the floor,
the ankle joint sits above the world origin at the lateral-malleolus height. Every joint is a
hinge about the medio-lateral axis, in this order (``JOINTS``)::

    ankle  (feet -> shanks)            + = dorsiflexion (shank tilts forward)
    knee   (shanks -> thighs)          + = flexion
    hip    (thighs -> pelvis)          + = flexion (pelvis tilts forward on the thighs)
    l5s1   (pelvis -> trunk)           + = lumbar flexion
    shoulder (trunk -> upper arms)     + = flexion (arm raised forward)
    elbow  (upper arms -> forearms)    + = flexion

All zeros is upright standing with the arms hanging. The *absolute* angle of a segment is its
rotation about +y from its upright orientation; for the trunk this is the **trunk flexion angle**
used by the spine model: the angle between the L5/S1-to-shoulder line and the vertical, positive
forward (0 upright, 90 deg horizontal).

Segments are de Leva's (1996); left and right limbs are lumped into one sagittal segment
(``shanks``, ``thighs``, ``upper_arms``, ``forearms_hands``) with twice the mass and inertia.
The trunk is split at L5/S1: the pelvis carries de Leva's lower trunk (LPT, omphalion to
mid-hip), the trunk carries the middle and upper trunk (MPT + UPT), the head sits on top.
L5/S1 lies on the mid-hip-to-cervicale line at ``l5s1_fraction`` (default 0.6) of the LPT length
above the mid-hip point (about 8.8 cm for a 1.75 m man): a modelling choice, exposed as a
parameter. The shoulder joint lies on that line, at the standing shoulder height of 0.818 x stature
(Drillis & Contini 1966, as tabulated in Winter, *Biomechanics and Motor Control of Human
Movement*, 4th ed., 2009, Fig. 4.1), i.e. about 7 cm below cervicale; placing the shoulder on the
trunk line is the usual link-model simplification (Chaffin, Andersson & Martin, *Occupational
Biomechanics*, 4th ed., 2006).
The load is held at the hand's centre of mass (grip point).

Spine model
-----------
Single equivalent extensor muscle (Chaffin et al. 2006; also the biomechanical criterion of the
NIOSH equation, Waters et al. 1993): the erector spinae act parallel to the trunk line with a
moment arm of ``muscle_moment_arm_m`` = 0.05 m about L5/S1, so

    F_muscle    = max(M_ext, 0) / r
    compression = F_muscle + R_axial      (R: force the lower body exerts on the upper body)
    shear       = -R_anterior             (positive: the upper body is pushed forward on S1)

with the disc plane taken perpendicular to the trunk line (not at the anatomical ~40 deg sacral
inclination). In a static posture R = W (the weight above L5/S1 plus the load), so
compression = M/r + W cos(theta) and shear = W sin(theta). A net *flexor* moment (M_ext < 0) is
for the abdominal muscles, which this model does not include: then compression = R_axial only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from officina.exoskeleton.anthropometry import Anthropometry, anthropometry

__all__ = [
    "AXIS_SIGN",
    "JOINTS",
    "LINKS",
    "G",
    "HumanModel",
    "StaticL5S1",
    "com_positions",
    "human_model",
    "joint_positions",
    "segment_angles",
    "static_l5s1",
    "static_l5s1_q",
    "upper_body_gravity_torque_about_hip",
]

G = 9.81
JOINTS = ("ankle", "knee", "hip", "l5s1", "shoulder", "elbow")
# sign of each joint axis along +y (world y at q = 0): + means positive q rotates about +y
AXIS_SIGN = (1.0, -1.0, 1.0, 1.0, -1.0, -1.0)
LINKS = ("feet", "shanks", "thighs", "pelvis", "trunk", "head", "upper_arms", "forearms_hands")


@dataclass(frozen=True)
class LinkInertia:
    mass: float
    com: tuple[float, float, float]  # in the link frame (joint at the origin)
    ixx: float
    iyy: float
    izz: float


@dataclass(frozen=True)
class HumanModel:
    """Sagittal human model (SI units). Build it with :func:`human_model`.

    Lengths (m): ``ankle_height``, ``shank``, ``thigh``, ``l5s1_above_hip`` (on the pelvis),
    ``shoulder_above_l5s1`` and ``cervicale_above_l5s1`` (on the trunk), ``upper_arm``, ``grip_below_elbow``; ``links`` holds
    each link's mass (kg), CM in its frame and principal inertias (kg m^2).
    """

    anthro: Anthropometry
    ankle_height: float
    shank: float
    thigh: float
    l5s1_above_hip: float
    shoulder_above_l5s1: float
    cervicale_above_l5s1: float
    upper_arm: float
    grip_below_elbow: float
    foot_length: float
    heel_behind_ankle: float
    links: dict[str, LinkInertia]
    muscle_moment_arm_m: float = 0.05

    @property
    def body_mass(self) -> float:
        return self.anthro.body_mass_kg

    def mass(self, link: str) -> float:
        return self.links[link].mass

    @property
    def upper_body_mass(self) -> float:
        """Mass above L5/S1 (trunk, head, arms), kg."""
        return sum(self.links[n].mass for n in ("trunk", "head", "upper_arms", "forearms_hands"))


def _seg_inertia(mass, r_sag, r_trans, r_long, n=1):
    return (n * mass * r_sag**2, n * mass * r_trans**2, n * mass * r_long**2)


def human_model(
    body_mass_kg: float = 75.0,
    stature_m: float = 1.75,
    sex: str = "male",
    *,
    l5s1_fraction: float = 0.6,
    muscle_moment_arm_m: float = 0.05,
) -> HumanModel:
    """The sagittal model of a person (de Leva 1996 scaled by mass and stature)."""
    if not (0.0 <= l5s1_fraction <= 1.0):
        raise ValueError(f"l5s1_fraction: expected 0 to 1 (of the lower-trunk length), got {l5s1_fraction!r}")
    if not (0.02 <= muscle_moment_arm_m <= 0.1):
        raise ValueError(f"muscle moment arm: expected 0.02 to 0.10 m, got {muscle_moment_arm_m!r}")
    a = anthropometry(body_mass_kg, stature_m, sex)
    s = a.segments
    links: dict[str, LinkInertia] = {}

    foot = s["foot"]
    heel_behind = 0.25 * foot.length  # ankle above a point 25 % of the foot length from the heel
    fx = foot.com_from_proximal - heel_behind
    links["feet"] = LinkInertia(2 * foot.mass, (fx, 0.0, 0.4 * a.ankle_height), *_seg_inertia(foot.mass, foot.r_long, foot.r_trans, foot.r_sag, 2))

    sh = s["shank"]  # proximal = knee; link frame at the ankle, z up
    links["shanks"] = LinkInertia(2 * sh.mass, (0.0, 0.0, sh.length - sh.com_from_proximal), *_seg_inertia(sh.mass, sh.r_sag, sh.r_trans, sh.r_long, 2))
    th = s["thigh"]  # proximal = hip; link frame at the knee
    links["thighs"] = LinkInertia(2 * th.mass, (0.0, 0.0, th.length - th.com_from_proximal), *_seg_inertia(th.mass, th.r_sag, th.r_trans, th.r_long, 2))
    lpt = s["lower_trunk"]  # proximal = omphalion; link frame at the hip joint centres
    links["pelvis"] = LinkInertia(lpt.mass, (0.0, 0.0, lpt.length - lpt.com_from_proximal), *_seg_inertia(lpt.mass, lpt.r_sag, lpt.r_trans, lpt.r_long))

    l5 = l5s1_fraction * lpt.length
    mpt, upt, head = s["middle_trunk"], s["upper_trunk"], s["head"]
    z_omph = lpt.length - l5  # in the trunk frame (origin at L5/S1)
    z_mpt = z_omph + mpt.length - mpt.com_from_proximal
    z_upt = z_omph + mpt.length + upt.length - upt.com_from_proximal
    z_cerv = z_omph + mpt.length + upt.length
    # shoulder joint at 0.818 x stature when standing (Drillis & Contini 1966; Winter 2009)
    z_sh = z_cerv - max(0.0, (1.0 - 0.818) * a.stature_m - head.length)
    m_tr = mpt.mass + upt.mass
    z_tr = (mpt.mass * z_mpt + upt.mass * z_upt) / m_tr
    i_tr = [0.0, 0.0, 0.0]
    for seg, z in ((mpt, z_mpt), (upt, z_upt)):
        ix, iy, iz = _seg_inertia(seg.mass, seg.r_sag, seg.r_trans, seg.r_long)
        d2 = seg.mass * (z - z_tr) ** 2
        i_tr[0] += ix + d2
        i_tr[1] += iy + d2
        i_tr[2] += iz
    links["trunk"] = LinkInertia(m_tr, (0.0, 0.0, z_tr), *i_tr)
    # head: its own link (fixed "neck" joint at cervicale); proximal endpoint = vertex
    links["head"] = LinkInertia(head.mass, (0.0, 0.0, head.length - head.com_from_proximal), *_seg_inertia(head.mass, head.r_sag, head.r_trans, head.r_long))

    ua = s["upper_arm"]  # link frame at the shoulder, the arm hangs along -z
    links["upper_arms"] = LinkInertia(2 * ua.mass, (0.0, 0.0, -ua.com_from_proximal), *_seg_inertia(ua.mass, ua.r_sag, ua.r_trans, ua.r_long, 2))
    fa, hd = s["forearm"], s["hand"]
    z_fa, z_hd = -fa.com_from_proximal, -(fa.length + hd.com_from_proximal)
    m_fh = fa.mass + hd.mass
    z_fh = (fa.mass * z_fa + hd.mass * z_hd) / m_fh
    i_fh = [0.0, 0.0, 0.0]
    for seg, z in ((fa, z_fa), (hd, z_hd)):
        ix, iy, iz = _seg_inertia(seg.mass, seg.r_sag, seg.r_trans, seg.r_long)
        d2 = seg.mass * (z - z_fh) ** 2
        i_fh[0] += 2 * (ix + d2)
        i_fh[1] += 2 * (iy + d2)
        i_fh[2] += 2 * iz
    links["forearms_hands"] = LinkInertia(2 * m_fh, (0.0, 0.0, z_fh), *i_fh)

    return HumanModel(
        anthro=a,
        ankle_height=a.ankle_height,
        shank=sh.length,
        thigh=th.length,
        l5s1_above_hip=l5,
        shoulder_above_l5s1=z_sh,
        cervicale_above_l5s1=z_cerv,
        upper_arm=ua.length,
        grip_below_elbow=fa.length + hd.com_from_proximal,
        foot_length=foot.length,
        heel_behind_ankle=heel_behind,
        links=links,
        muscle_moment_arm_m=muscle_moment_arm_m,
    )


def _as_q(q) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    if q.shape[-1] != len(JOINTS):
        raise ValueError(f"joint angles: expected the last axis to hold {len(JOINTS)} angles {JOINTS}, got shape {q.shape}")
    return q


def segment_angles(q) -> dict[str, np.ndarray]:
    """Absolute segment angles from joint angles ``q[..., 6]``: rotations about +y (rad), 0 = upright
    (legs, pelvis, trunk) or hanging (arms). For the arms this means a forward-raised arm is negative."""
    q = _as_q(q)
    sh = q[..., 0]
    th = sh - q[..., 1]
    pe = th + q[..., 2]
    tr = pe + q[..., 3]
    ua = tr - q[..., 4]
    fa = ua - q[..., 5]
    return {"shanks": sh, "thighs": th, "pelvis": pe, "trunk": tr, "upper_arms": ua, "forearms_hands": fa}


def _up(theta):
    return np.stack([np.sin(theta), np.cos(theta)], axis=-1)


def joint_positions(model: HumanModel, q) -> dict[str, np.ndarray]:
    """World (x, z) of ankle, knee, hip, l5s1, shoulder, elbow, grip, head top; arrays ``[..., 2]``."""
    ang = segment_angles(q)
    shape = np.shape(ang["trunk"])
    ankle = np.broadcast_to(np.array([0.0, model.ankle_height]), shape + (2,))
    knee = ankle + model.shank * _up(ang["shanks"])
    hip = knee + model.thigh * _up(ang["thighs"])
    l5 = hip + model.l5s1_above_hip * _up(ang["pelvis"])
    shoulder = l5 + model.shoulder_above_l5s1 * _up(ang["trunk"])
    elbow = shoulder - model.upper_arm * _up(ang["upper_arms"])
    grip = elbow - model.grip_below_elbow * _up(ang["forearms_hands"])
    cerv = l5 + model.cervicale_above_l5s1 * _up(ang["trunk"])
    head_top = cerv + model.anthro.segments["head"].length * _up(ang["trunk"])
    return {"ankle": ankle, "knee": knee, "hip": hip, "l5s1": l5, "shoulder": shoulder, "elbow": elbow, "grip": grip, "cervicale": cerv, "head_top": head_top}


def com_positions(model: HumanModel, q) -> dict[str, np.ndarray]:
    """World (x, z) of each moving link's centre of mass, arrays ``[..., 2]``."""
    ang = segment_angles(q)
    p = joint_positions(model, q)
    L = model.links
    return {
        "shanks": p["ankle"] + L["shanks"].com[2] * _up(ang["shanks"]),
        "thighs": p["knee"] + L["thighs"].com[2] * _up(ang["thighs"]),
        "pelvis": p["hip"] + L["pelvis"].com[2] * _up(ang["pelvis"]),
        "trunk": p["l5s1"] + L["trunk"].com[2] * _up(ang["trunk"]),
        "head": p["cervicale"] + L["head"].com[2] * _up(ang["trunk"]),
        "upper_arms": p["shoulder"] + L["upper_arms"].com[2] * _up(ang["upper_arms"]),
        "forearms_hands": p["elbow"] + L["forearms_hands"].com[2] * _up(ang["forearms_hands"]),
    }


@dataclass(frozen=True)
class StaticL5S1:
    """Static L5/S1 loads: net extensor moment (N m), compression and anterior shear (N)."""

    moment: np.ndarray
    compression: np.ndarray
    shear: np.ndarray


def _check_load(load_kg):
    load = np.asarray(load_kg, dtype=float)
    if np.any(~np.isfinite(load)) or np.any(load < 0):
        raise ValueError(f"load: expected a non-negative mass in kg, got {load_kg!r}")
    return load


def static_l5s1(model: HumanModel, trunk_flexion_rad, load_kg=0.0, upper_arm_rad=0.0, forearm_rad=0.0) -> StaticL5S1:
    """Vectorised static L5/S1 loads (all inputs broadcast together).

    ``trunk_flexion_rad``: trunk angle from vertical, forward positive; ``upper_arm_rad`` and
    ``forearm_rad``: absolute arm angles from hanging vertical, forward positive (0 = arms hanging);
    ``load_kg`` held at the hands. Zero velocity: only gravity acts.
    """
    th = np.asarray(trunk_flexion_rad, dtype=float)
    load = _check_load(load_kg)
    a_ua = np.asarray(upper_arm_rad, dtype=float)
    a_fa = np.asarray(forearm_rad, dtype=float)
    L = model.links
    s, c = np.sin(th), np.cos(th)
    x_sh = model.shoulder_above_l5s1 * s
    x_el = x_sh + model.upper_arm * np.sin(a_ua)
    x_grip = x_el + model.grip_below_elbow * np.sin(a_fa)
    m_tr, m_hd, m_ua, m_fh = L["trunk"].mass, L["head"].mass, L["upper_arms"].mass, L["forearms_hands"].mass
    moment = G * (
        m_tr * L["trunk"].com[2] * s
        + m_hd * (model.cervicale_above_l5s1 + L["head"].com[2]) * s
        + m_ua * (x_sh - L["upper_arms"].com[2] * np.sin(a_ua))
        + m_fh * (x_el - L["forearms_hands"].com[2] * np.sin(a_fa))
        + load * x_grip
    )
    w = G * (m_tr + m_hd + m_ua + m_fh + load)
    compression = np.maximum(moment, 0.0) / model.muscle_moment_arm_m + w * c
    shear = w * s
    return StaticL5S1(moment=moment, compression=compression, shear=shear)


def static_l5s1_q(model: HumanModel, q, load_kg=0.0) -> StaticL5S1:
    """Static L5/S1 loads for full joint-angle postures ``q[..., 6]`` (rad)."""
    ang = segment_angles(q)
    # segment angles are rotations about +y (a forward arm is negative); static_l5s1 takes forward +
    return static_l5s1(model, ang["trunk"], load_kg, -ang["upper_arms"], -ang["forearms_hands"])


def upper_body_gravity_torque_about_hip(model: HumanModel, q, load_kg=0.0) -> np.ndarray:
    """Gravity torque (N m, + when the weight is forward of the hip) of trunk, head, arms and load
    about the hip joint centres: what an active back exoskeleton estimates and scales."""
    load = _check_load(load_kg)
    p = joint_positions(model, q)
    com = com_positions(model, q)
    x_hip = p["hip"][..., 0]
    tau = load * (p["grip"][..., 0] - x_hip)
    for n in ("trunk", "head", "upper_arms", "forearms_hands"):
        tau = tau + model.links[n].mass * (com[n][..., 0] - x_hip)
    return G * tau
