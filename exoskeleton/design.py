"""Design studies of a passive back exoskeleton: spring stiffness x preload, over loads and lift
styles, to L5/S1 loads, NIOSH and LiFFT figures; one row per design point.

The device is `officina.exoskeleton.exo.spring_exo(k, preload, engage_deg, max_torque_nm)`, the
lift `officina.exoskeleton.lifts.parametric_lift` (a box from the floor to knuckle height, minimum
jerk), the loads Pinocchio RNEA (`officina.exoskeleton.dynamics.inverse_dynamics`).

Vectorised over the designs. RNEA is affine in the external forces, and a back exo's pad and belt
forces are linear in its hinge torque (`officina.exoskeleton.dynamics.exo_forces`), so along a
given lift the L5/S1 moment, axial force and shear of any back exo are

    X(t) = X_0(t) + tau(t) * dX(t)

with X_0 the lift without the exo and dX the change a hinge torque of 1 N m makes. Two
inverse-dynamics passes per lift style and load (without the exo, and with a constant 1 N m)
give X_0 and dX; every design's torque curve tau(t) and loads are then NumPy arrays of
(designs x samples). Compression = max(M, 0) / r + the axial force, as in the spine model.
`design_study` is checked against `inverse_dynamics` with each device in the tests.

NIOSH (Revised Lifting Equation, metric): the hands' H and V at the lift's start and end from the
model's posture, D = |dV|, A = 0, at ``rate_per_min`` over a shift of ``shift_h``; the RNLE has no
term for an exoskeleton, so these figures are the lift's, the same for every design. LiFFT: the peak
load moment from the largest horizontal hip-to-load distance; Exo-LiFFT with each design's
reduction of the L5/S1 extensor moment at the lift's peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from officina.exoskeleton.dynamics import inverse_dynamics
from officina.exoskeleton.exo import PassiveBackExo, spring_exo
from officina.exoskeleton.lifft import LifftTask, cumulative_damage, exo_peak_load_moment, peak_load_moment
from officina.exoskeleton.lifts import STYLES, parametric_lift
from officina.exoskeleton.model import HumanModel, joint_positions
from officina.exoskeleton.niosh import NioshTask, evaluate

__all__ = ["COLUMNS", "StudyAxes", "design_study", "plot_study", "NIOSH_ACTION_LIMIT_N", "NIOSH_MAX_PERMISSIBLE_LIMIT_N"]

NIOSH_ACTION_LIMIT_N = 3400.0
NIOSH_MAX_PERMISSIBLE_LIMIT_N = 6400.0

# column -> (unit, meaning): what a row of `design_study` holds
COLUMNS: dict[str, tuple[str, str]] = {
    "lift_style": ("", "squat or stoop lift, box from the floor (grip 0.20 m) to knuckle height"),
    "load_kg": ("kg", "mass of the box held at the hands"),
    "stiffness_nm_per_rad": ("N m/rad", "spring stiffness of the exo (device total, both sides)"),
    "preload_nm": ("N m", "spring preload: torque from the engagement angle on"),
    "peak_l5s1_moment_nm": ("N m", "peak L5/S1 extensor moment with the exo"),
    "peak_compression_n": ("N", "peak L5/S1 compression with the exo"),
    "peak_shear_n": ("N", "peak L5/S1 anterior shear (absolute) with the exo"),
    "peak_compression_reduction_pct": ("%", "how much the exo lowers the peak compression"),
    "peak_moment_reduction_pct": ("%", "how much the exo lowers the peak L5/S1 moment"),
    "peak_exo_torque_nm": ("N m", "peak hinge torque of the exo"),
    "peak_opposing_moment_nm": ("N m", "largest flexor moment the person needs against the exo (e.g. standing "
                                       "with a preload)"),
    "time_opposing_s": ("s", "time the exo works against the person during the lift"),
    "compression_zone": ("", "peak compression against the NIOSH limits (3400 N action, 6400 N maximum)"),
    "peak_l5s1_moment_no_exo_nm": ("N m", "peak L5/S1 extensor moment without an exo"),
    "peak_compression_no_exo_n": ("N", "peak L5/S1 compression without an exo"),
    "peak_shear_no_exo_n": ("N", "peak L5/S1 anterior shear without an exo"),
    "niosh_rwl_kg": ("kg", "NIOSH recommended weight limit of the lift (the lower of its two ends)"),
    "niosh_li": ("", "NIOSH lifting index of the lift (the higher of its two ends; no exo term)"),
    "niosh_h_origin_cm": ("cm", "NIOSH H at the lift's start (hands in front of the ankles)"),
    "niosh_v_origin_cm": ("cm", "NIOSH V at the lift's start (hands above the floor)"),
    "lifft_plm_nm": ("N m", "LiFFT peak load moment with the exo (Exo-LiFFT)"),
    "lifft_damage": ("", "LiFFT cumulative damage per shift with the exo"),
    "lifft_damage_no_exo": ("", "LiFFT cumulative damage per shift without an exo"),
    "lifft_p_high_risk": ("", "LiFFT probability of a high-risk job with the exo"),
    "lifft_p_high_risk_no_exo": ("", "LiFFT probability of a high-risk job without an exo"),
    "exo_lifft_valid": ("", "False when the exo's moment reaches the load moment (outside Exo-LiFFT)"),
}


@dataclass(frozen=True)
class StudyAxes:
    """The grid of a study and what is held fixed."""

    stiffness_nm_per_rad: Sequence[float]
    preload_nm: Sequence[float]
    loads_kg: Sequence[float]
    styles: Sequence[str]
    engage_deg: float = 0.0
    max_torque_nm: float = 60.0
    chest_pad_from_l5s1_m: float = 0.30
    thigh_cuff_from_hip_m: float = 0.20
    rate_per_min: float = 4.0
    shift_h: float = 8.0
    coupling: str = "fair"
    duration_s: float = 1.5

    def __post_init__(self) -> None:
        for name in ("stiffness_nm_per_rad", "preload_nm", "loads_kg", "styles"):
            if len(getattr(self, name)) == 0:
                raise ValueError(f"{name}: expected at least one value")
        for s in self.styles:
            if s not in STYLES:
                raise ValueError(f"lift style: expected one of {', '.join(STYLES)}, got {s!r}")
        for name, lo, hi in (("stiffness_nm_per_rad", 0.0, 1000.0), ("preload_nm", 0.0, 200.0),
                             ("loads_kg", 0.0, 50.0)):
            for v in getattr(self, name):
                if not (math.isfinite(v) and lo <= v <= hi):
                    raise ValueError(f"{name}: expected values from {lo:g} to {hi:g}, got {v!r}")
        if not (self.max_torque_nm > 0):
            raise ValueError(f"max torque: expected > 0 N m, got {self.max_torque_nm!r}")
        if not (-30.0 <= self.engage_deg <= 120.0):
            raise ValueError(f"engagement angle: expected -30 to 120 deg, got {self.engage_deg!r}")


def _zone(c: float) -> str:
    if c > NIOSH_MAX_PERMISSIBLE_LIMIT_N:
        return "above 6400 N"
    return "above 3400 N" if c > NIOSH_ACTION_LIMIT_N else "below 3400 N"


def _pct(before: float, after: float) -> float:
    return 0.0 if before == 0 else 100.0 * (before - after) / before


def _niosh(model: HumanModel, q0: np.ndarray, q1: np.ndarray, load_kg: float, ax: StudyAxes) -> dict:
    from officina.exoskeleton.worker import duration_class

    g0, g1 = joint_positions(model, q0)["grip"], joint_positions(model, q1)["grip"]
    h0, v0 = max(0.0, 100 * float(g0[0])), 100 * float(g0[1])
    h1, v1 = max(0.0, 100 * float(g1[0])), 100 * float(g1[1])
    res = evaluate(NioshTask(load=load_kg, h=h0, v=v0, a=0.0, freq=ax.rate_per_min, duration=duration_class(ax.shift_h),
                             coupling=ax.coupling, d=abs(v1 - v0), h_dest=h1, v_dest=v1, units="metric"))
    rwl = min(res.origin.rwl, res.destination.rwl if res.destination is not None else math.inf)
    li = res.task_li
    return {"niosh_rwl_kg": float(rwl), "niosh_li": float(li) if math.isfinite(li) else None,
            "niosh_h_origin_cm": h0, "niosh_v_origin_cm": v0}


def design_study(model: HumanModel, ax: StudyAxes) -> list[dict]:
    """One row per (style, load, stiffness, preload), in that nesting order (see `COLUMNS`)."""
    r = model.muscle_moment_arm_m
    designs = [(float(k), float(p)) for k in ax.stiffness_nm_per_rad for p in ax.preload_nm]
    devices = [spring_exo(k, p, ax.engage_deg, ax.max_torque_nm, name=f"spring k={k:g} p={p:g}",
                          chest_pad_from_l5s1_m=ax.chest_pad_from_l5s1_m,
                          thigh_cuff_from_hip_m=ax.thigh_cuff_from_hip_m) for k, p in designs]
    unit = PassiveBackExo("unit torque", angles_rad=(-4.0, 4.0), torques_nm=(1.0, 1.0),
                          chest_pad_from_l5s1_m=ax.chest_pad_from_l5s1_m,
                          thigh_cuff_from_hip_m=ax.thigh_cuff_from_hip_m)
    reps = ax.rate_per_min * 60.0 * ax.shift_h
    rows: list[dict] = []
    for style in ax.styles:
        for load in ax.loads_kg:
            lift = parametric_lift(model, style, float(load), duration_s=ax.duration_s)
            base = inverse_dynamics(model, lift, None)
            one = inverse_dynamics(model, lift, unit)
            m0, s0 = base.l5s1_moment, base.shear
            a0 = base.compression - np.maximum(m0, 0.0) / r
            dm = one.l5s1_moment - m0
            da = (one.compression - np.maximum(one.l5s1_moment, 0.0) / r) - a0
            ds = one.shear - s0
            flexion = lift.q[:, 2] + lift.q[:, 3]
            tau = np.stack([d.torque(flexion) for d in devices])  # designs x samples
            m = m0 + tau * dm
            comp = np.maximum(m, 0.0) / r + a0 + tau * da
            shear = np.abs(s0 + tau * ds)
            opp = np.maximum(np.maximum(0.0, -m) - np.maximum(0.0, -m0), 0.0)
            base_peaks = (float(np.max(m0)), float(np.max(base.compression)), float(np.max(np.abs(s0))))
            niosh = _niosh(model, lift.q[0], lift.q[-1], float(load), ax)
            p = joint_positions(model, lift.q)
            plm = peak_load_moment(float(load), float(np.max(np.abs(p["grip"][:, 0] - p["hip"][:, 0]))))
            k_peak = int(np.argmax(m0))
            lf0 = cumulative_damage([LifftTask("lift", plm, reps)])
            for i, (k, pre) in enumerate(designs):
                relief = float(m0[k_peak] - m[i, k_peak])
                plm_x, valid = exo_peak_load_moment(plm, relief)
                lf = cumulative_damage([LifftTask("lift", plm_x, reps)])
                pm, pc = float(np.max(m[i])), float(np.max(comp[i]))
                rows.append({
                    "lift_style": style, "load_kg": float(load), "stiffness_nm_per_rad": k, "preload_nm": pre,
                    "peak_l5s1_moment_nm": pm, "peak_compression_n": pc, "peak_shear_n": float(np.max(shear[i])),
                    "peak_compression_reduction_pct": _pct(base_peaks[1], pc),
                    "peak_moment_reduction_pct": _pct(base_peaks[0], pm),
                    "peak_exo_torque_nm": float(np.max(tau[i])),
                    "peak_opposing_moment_nm": float(np.max(opp[i])),
                    "time_opposing_s": float(np.sum(opp[i] > 1e-6) * lift.dt),
                    "compression_zone": _zone(pc),
                    "peak_l5s1_moment_no_exo_nm": base_peaks[0], "peak_compression_no_exo_n": base_peaks[1],
                    "peak_shear_no_exo_n": base_peaks[2],
                    **niosh,
                    "lifft_plm_nm": plm_x, "lifft_damage": lf["cumulative_damage"],
                    "lifft_damage_no_exo": lf0["cumulative_damage"], "lifft_p_high_risk": lf["p_high_risk"],
                    "lifft_p_high_risk_no_exo": lf0["p_high_risk"], "exo_lifft_valid": valid,
                })
    return rows


def plot_study(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Per lift style (rows of panels) and load (columns): peak L5/S1 compression (top) and the
    peak moment against the person (bottom) over the stiffness, one line per preload; the
    compression without an exo dashed, the NIOSH action limit dotted."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    styles = list(dict.fromkeys(r["lift_style"] for r in rows))
    loads = list(dict.fromkeys(r["load_kg"] for r in rows))
    preloads = list(dict.fromkeys(r["preload_nm"] for r in rows))
    fig = Figure(figsize=(3.3 * len(loads) + 0.8, 4.2 * len(styles) + 0.6), dpi=80)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 * len(styles), len(loads), squeeze=False, sharex=True)
    for si, style in enumerate(styles):
        for li, load in enumerate(loads):
            top, bottom = axes[2 * si, li], axes[2 * si + 1, li]
            sel = [r for r in rows if r["lift_style"] == style and r["load_kg"] == load]
            for pi, pre in enumerate(preloads):
                rs = sorted((r for r in sel if r["preload_nm"] == pre), key=lambda r: r["stiffness_nm_per_rad"])
                k = [r["stiffness_nm_per_rad"] for r in rs]
                top.plot(k, [r["peak_compression_n"] for r in rs], "o-", ms=3, color=f"C{pi}",
                         label=f"preload {pre:g} N m")
                bottom.plot(k, [r["peak_opposing_moment_nm"] for r in rs], "o-", ms=3, color=f"C{pi}")
            if sel:
                top.axhline(sel[0]["peak_compression_no_exo_n"], color="0.3", ls="--", lw=1, label="no exo")
            top.axhline(NIOSH_ACTION_LIMIT_N, color="C3", ls=":", lw=1, label="NIOSH action limit")
            top.set_title(f"{style}, {load:g} kg", fontsize=9)
            top.grid(alpha=0.3)
            bottom.grid(alpha=0.3)
            if li == 0:
                top.set_ylabel("peak L5/S1\ncompression [N]", fontsize=8)
                bottom.set_ylabel("peak moment against\nthe person [N m]", fontsize=8)
            if si == len(styles) - 1:
                bottom.set_xlabel("stiffness [N m/rad]", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(title or "passive back exo: stiffness x preload", fontsize=10)
    fig.subplots_adjust(left=0.1 if len(loads) > 1 else 0.2, right=0.98, top=1 - 0.5 / (4.2 * len(styles) + 0.6),
                        bottom=0.5 / (4.2 * len(styles) + 0.6) + 0.03, hspace=0.35, wspace=0.3)
    path = Path(path)
    fig.savefig(path, dpi=80)
    return path
