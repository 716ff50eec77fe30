"""LiFFT, the Lifting Fatigue Failure Tool: cumulative low-back damage over a workday.

Source: Gallagher S., Sesek R.F., Schall M.C. Jr., Huangfu R. (2017) Development and validation of
an easy-to-use risk assessment tool for cumulative low back loading: The Lifting Fatigue Failure
Tool (LiFFT), Applied Ergonomics 63:142-150; the tool's calculator and its instructions (Auburn
University, lifft.pythonanywhere.com, version 1.4.1); Zelik K.E., Nurse C.A., Schall M.C. Jr.,
Sesek R.F., Marino M.C., Gallagher S. (2022) An ergonomic assessment tool for evaluating the effect
of back exoskeletons on injury risk, Applied Ergonomics 99:103619 (Exo-LiFFT):

    PLM  = load weight (N) x the largest horizontal distance from the hip joint to the load's
           centre during the lift (m)                                   peak load moment, N m
    DPC  = exp(0.038 PLM + 0.32) / 902 416                              damage per cycle
    CD   = sum over tasks of repetitions per day x DPC                  cumulative damage
    P    = 1 / (1 + exp(-(1.72 + 1.03 log10 CD)))                      probability of a high-risk job

The damage per cycle is the inverse of the cycles to failure of the paper's Eq. (1),
902 416 exp(-0.162 %US), with the exponent written in the PLM (0.038 PLM + 0.32 in place of
0.162 %US). Checked against the authors' worked examples (tests/test_lifft_published_examples.py):
the paper's 51 N m lift, DPC printed 0.000011 (this form: 1.06e-5); the calculator's 30 lb,
16 in, 760 lifts a day, printed 40 % (this form with the risk coefficients above: 40.6 %). The
paper's 25.39 % for its own example came from the damage-risk relationship the calculator
replaced in its versions 1.3.0 and 1.4.0, and is not reproduced.

A high-risk job has 12 or more low-back injuries per 200 000 h worked (Marras et al. 1993). The
authors' calculator measures the distance from the hip joint; the paper says "from the spine"
(L5/S1). The authors caution the use of PLM above about 100 N m.

Exo-LiFFT (Zelik et al. 2022): a back exoskeleton providing a lumbar extensor moment M_exo at the
lift's peak lowers the moment the tissues carry: PLM_exo = PLM - M_exo (valid for M_exo < PLM).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "LIFFT_A", "LIFFT_B", "LIFFT_CAUTION_PLM_NM", "LIFFT_SCALE", "RISK_B0", "RISK_B1", "LifftTask",
    "cumulative_damage", "damage_per_cycle", "exo_peak_load_moment", "high_risk_probability",
    "peak_load_moment",
]

G = 9.81
LIFFT_SCALE = 902_416.0
LIFFT_A = 0.038  # per N m
LIFFT_B = 0.32
RISK_B0 = 1.72
RISK_B1 = 1.03
LIFFT_CAUTION_PLM_NM = 100.0


def peak_load_moment(load_kg: float, horizontal_distance_m: float) -> float:
    """PLM (N m): the load's weight times its largest horizontal distance from the hip joint."""
    m, d = float(load_kg), float(horizontal_distance_m)
    if not (math.isfinite(m) and m >= 0):
        raise ValueError(f"load: expected a non-negative mass in kg, got {load_kg!r}")
    if not (math.isfinite(d) and d >= 0):
        raise ValueError(f"horizontal distance: expected a non-negative distance in m, got {horizontal_distance_m!r}")
    return m * G * d


def exo_peak_load_moment(plm_nm: float, exo_moment_nm: float) -> tuple[float, bool]:
    """Exo-LiFFT's peak load moment with an exo: (PLM - M_exo, valid). ``valid`` is False when the
    exo's moment reaches the load moment (outside Exo-LiFFT); the PLM is then 0."""
    m = max(0.0, float(exo_moment_nm))
    if m >= plm_nm:
        return 0.0, m == 0.0
    return float(plm_nm) - m, True


def damage_per_cycle(plm_nm: float) -> float:
    """LiFFT damage per cycle of a lift with peak load moment ``plm_nm``."""
    p = float(plm_nm)
    if not (math.isfinite(p) and p >= 0):
        raise ValueError(f"peak load moment: expected >= 0 N m, got {plm_nm!r}")
    return math.exp(LIFFT_A * p + LIFFT_B) / LIFFT_SCALE


@dataclass(frozen=True)
class LifftTask:
    """One task of a LiFFT analysis: its peak load moment (N m) and repetitions per workday."""

    name: str
    plm_nm: float
    reps_per_day: float


def cumulative_damage(tasks: Sequence[LifftTask]) -> dict:
    """Cumulative damage of a day's tasks, each task's share, and the high-risk probability."""
    rows = []
    for t in tasks:
        if not (math.isfinite(t.reps_per_day) and t.reps_per_day >= 0):
            raise ValueError(f"task {t.name!r}: repetitions per day must be >= 0, got {t.reps_per_day!r}")
        rows.append({"name": t.name, "plm_nm": t.plm_nm, "reps_per_day": t.reps_per_day,
                     "dpc": damage_per_cycle(t.plm_nm), "damage": damage_per_cycle(t.plm_nm) * t.reps_per_day})
    cd = sum(r["damage"] for r in rows)
    for r in rows:
        r["share_pct"] = 100.0 * r["damage"] / cd if cd > 0 else 0.0
    return {"cumulative_damage": cd, "p_high_risk": high_risk_probability(cd), "tasks": rows}


def high_risk_probability(cd: float) -> float:
    """Probability that a job with cumulative damage ``cd`` is high-risk (0 for no damage)."""
    if cd <= 0:
        return 0.0
    y = RISK_B0 + RISK_B1 * math.log10(cd)
    return 1.0 / (1.0 + math.exp(-y))
