"""Inverse dynamics of a lift with Pinocchio's RNEA, the load at the hands and an optional exo.

The human is the URDF of :func:`officina.exoskeleton.urdf.human_urdf` (the box is a body fixed at
the grip, so its weight *and* inertia enter RNEA). A back exoskeleton enters as external forces on
the trunk (chest pad), thighs (cuff) and pelvis (hip belt), see :mod:`officina.exoskeleton.exo`.

At L5/S1, Pinocchio's ``data.f[l5s1]`` after RNEA is the spatial force the pelvis exerts on the
trunk subtree, in the L5/S1 joint frame (z along the trunk line, x anterior): its y moment is the
joint torque (the net L5/S1 moment), its z force the axial reaction and its x force the
(negative) anterior shear; see :mod:`officina.exoskeleton.model` for the spine model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from officina.exoskeleton.exo import ActiveBackExo, PassiveBackExo, back_exo_torque
from officina.exoskeleton.lifts import Lift
from officina.exoskeleton.model import JOINTS, HumanModel
from officina.exoskeleton.urdf import human_urdf

__all__ = ["LiftLoads", "compare", "exo_forces", "inverse_dynamics", "pin_model", "summary"]


@dataclass(frozen=True)
class LiftLoads:
    """Loads over a motion. Moments are *extensor positive* for hip, L5/S1 and knee (N m); ``tau`` is
    the raw joint torque in the joint axes' convention (T x 6, :data:`JOINTS` order)."""

    t: np.ndarray
    tau: np.ndarray
    l5s1_moment: np.ndarray
    compression: np.ndarray
    shear: np.ndarray
    hip_moment: np.ndarray
    knee_moment: np.ndarray
    exo_torque: np.ndarray
    chest_force: np.ndarray
    thigh_force: np.ndarray
    pelvis_force: np.ndarray


@lru_cache(maxsize=16)
def _cached_model(urdf: str):
    import pinocchio as pin

    return pin.buildModelFromXML(urdf)


def pin_model(model: HumanModel, load_kg: float):
    """The Pinocchio model (fixed feet) of ``model`` holding ``load_kg``."""
    return _cached_model(human_urdf(model, load_kg))


def exo_forces(exo, tau: float, p_hip, p_l5, z_trunk, z_thigh):
    """World forces (3-vectors) of a back exo with hinge torque ``tau`` on the trunk (chest pad),
    thighs (cuff) and pelvis (hip belt), and their application points."""
    p_c = p_l5 + exo.chest_pad_from_l5s1_m * z_trunk
    p_t = p_hip - exo.thigh_cuff_from_hip_m * z_thigh
    rc = p_c - p_hip
    lc = float(np.linalg.norm(rc))
    ec = rc / lc
    rt = p_t - p_hip
    lt = float(np.linalg.norm(rt))
    et = rt / lt
    # in the x-z plane, torque about +y is r_z F_x - r_x F_z; extension of the trunk is -y
    f_c = (tau / lc) * np.array([-ec[2], 0.0, ec[0]])
    f_t = (tau / lt) * np.array([et[2], 0.0, -et[0]])
    f_p = -(f_c + f_t)
    return (f_c, p_c), (f_t, p_t), (f_p, p_hip)


def inverse_dynamics(model: HumanModel, lift: Lift, exo=None) -> LiftLoads:
    """Joint moments and L5/S1 loads over ``lift`` with Pinocchio RNEA (``exo``: a back exo or None)."""
    import pinocchio as pin

    if exo is not None and not isinstance(exo, (PassiveBackExo, ActiveBackExo)):
        raise ValueError(f"inverse dynamics: expected a back exoskeleton or None, got {type(exo).__name__}")
    pm = pin_model(model, lift.load_kg)
    data = pm.createData()
    jid = {n: pm.getJointId(n) for n in JOINTS}
    idx = np.array([pm.joints[jid[n]].idx_q for n in JOINTS])
    T = len(lift.t)
    tau_exo = np.zeros(T) if exo is None else back_exo_torque(exo, model, lift.q, lift.load_kg, lift.dt)
    out = {k: np.zeros(T) for k in ("l5", "comp", "shear", "fc", "ft", "fp")}
    taus = np.zeros((T, len(JOINTS)))
    fext = pin.StdVec_Force()
    for _ in range(pm.njoints):
        fext.append(pin.Force.Zero())
    r = model.muscle_moment_arm_m
    for k in range(T):
        q = np.zeros(pm.nq)
        v = np.zeros(pm.nv)
        a = np.zeros(pm.nv)
        q[idx], v[idx], a[idx] = lift.q[k], lift.qd[k], lift.qdd[k]
        if exo is not None and tau_exo[k] != 0.0:
            pin.forwardKinematics(pm, data, q)
            M_l5, M_hip, M_knee = data.oMi[jid["l5s1"]], data.oMi[jid["hip"]], data.oMi[jid["knee"]]
            forces = exo_forces(exo, tau_exo[k], M_hip.translation, M_l5.translation, M_l5.rotation[:, 2], M_knee.rotation[:, 2])
            for (f, p), body in zip(forces, ("l5s1", "knee", "hip")):
                fw = pin.Force(f, np.cross(p, f))  # world frame, about the world origin
                fext[jid[body]] = data.oMi[jid[body]].actInv(fw)
            out["fc"][k] = np.linalg.norm(forces[0][0])
            out["ft"][k] = np.linalg.norm(forces[1][0])
            out["fp"][k] = np.linalg.norm(forces[2][0])
            tau = pin.rnea(pm, data, q, v, a, fext)
            for j in ("l5s1", "knee", "hip"):
                fext[jid[j]] = pin.Force.Zero()
        else:
            tau = pin.rnea(pm, data, q, v, a)
        taus[k] = tau[idx]
        f = data.f[jid["l5s1"]]
        m_ext = -float(f.angular[1])
        out["l5"][k] = m_ext
        out["comp"][k] = max(m_ext, 0.0) / r + float(f.linear[2])
        out["shear"][k] = -float(f.linear[0])
    return LiftLoads(
        t=lift.t.copy(),
        tau=taus,
        l5s1_moment=out["l5"],
        compression=out["comp"],
        shear=out["shear"],
        hip_moment=-taus[:, 2],
        knee_moment=-taus[:, 1],
        exo_torque=tau_exo,
        chest_force=out["fc"],
        thigh_force=out["ft"],
        pelvis_force=out["fp"],
    )


def summary(loads: LiftLoads) -> dict:
    """The contract keys: peak and mean L5/S1 moment (N m) and compression (N) over the motion."""
    return {
        "peak_l5s1_moment_nm": float(np.max(loads.l5s1_moment)),
        "mean_l5s1_moment_nm": float(np.mean(loads.l5s1_moment)),
        "peak_compression_n": float(np.max(loads.compression)),
        "mean_compression_n": float(np.mean(loads.compression)),
    }


def _pct(before: float, after: float) -> float:
    return 0.0 if before == 0 else 100.0 * (before - after) / before


def compare(without: LiftLoads, with_exo: LiftLoads) -> dict:
    """What the exo takes off (reduction in %, + = less load) and what it adds elsewhere."""
    a, b = summary(without), summary(with_exo)
    dt = float(without.t[1] - without.t[0]) if len(without.t) > 1 else 1.0
    # extra flexor effort: where the exo pushes the trunk back harder than the person needs
    opp = np.maximum(0.0, -with_exo.l5s1_moment) - np.maximum(0.0, -without.l5s1_moment)
    return {
        "without": a,
        "with": b,
        "reduction_pct": {
            "peak_l5s1_moment": _pct(a["peak_l5s1_moment_nm"], b["peak_l5s1_moment_nm"]),
            "peak_compression": _pct(a["peak_compression_n"], b["peak_compression_n"]),
            "mean_l5s1_moment": _pct(a["mean_l5s1_moment_nm"], b["mean_l5s1_moment_nm"]),
            "mean_compression": _pct(a["mean_compression_n"], b["mean_compression_n"]),
            "integrated_l5s1_moment": _pct(float(np.sum(np.maximum(without.l5s1_moment, 0)) * dt),
                                           float(np.sum(np.maximum(with_exo.l5s1_moment, 0)) * dt)),
        },
        "exo": {
            "peak_torque_nm": float(np.max(with_exo.exo_torque)),
            "peak_chest_pad_force_n": float(np.max(with_exo.chest_force)),
            "peak_thigh_cuff_force_n": float(np.max(with_exo.thigh_force)),
            "peak_pelvis_belt_force_n": float(np.max(with_exo.pelvis_force)),
            "peak_hip_moment_change_nm": float(np.max(np.abs(with_exo.hip_moment - without.hip_moment))),
            "peak_opposing_moment_nm": float(np.max(np.maximum(opp, 0.0))),
            "time_opposing_s": float(np.sum(opp > 1e-6) * dt),
        },
    }
