"""REBA, the Rapid Entire Body Assessment: a whole-body posture score from joint angles.

Source: Hignett S., McAtamney L. (2000) Rapid Entire Body Assessment (REBA), Applied Ergonomics
31(2):201-205: Table 1 (trunk, neck, legs), Table 2 (upper arm, lower arm, wrist), Table A
(trunk x neck x legs), Table B (upper arm x lower arm x wrist), Table C (score A x score B), the
load/force, coupling and activity scores and the five action levels. The same tables are reprinted
in Hignett & McAtamney, ch. 42 of Marras & Karwowski (eds.), *Fundamentals and Assessment Tools for
Occupational Ergonomics* (CRC, 2006), and on the REBA employee assessment worksheet.

Body-part scores (angles in degrees, flexion positive):

* trunk: upright 1; 0-20 flexion or 0-20 extension 2; 20-60 flexion or > 20 extension 3;
  > 60 flexion 4; +1 twisted or side-bent. REBA gives no tolerance for "upright": here a trunk
  within +-5 deg of vertical scores 1 (a choice, stated);
* neck: 0-20 flexion 1; > 20 flexion or any extension 2; +1 twisted or side-bent;
* legs: bilateral weight bearing 1, unilateral or unstable 2; +1 knee flexion 30-60, +2 above 60;
* upper arm (relative to the trunk): 20 extension to 20 flexion 1; > 20 extension or 20-45 flexion
  2; 45-90 flexion 3; > 90 flexion 4; +1 abducted or rotated, +1 shoulder raised, -1 supported;
* lower arm: 60-100 elbow flexion 1, otherwise 2;
* wrist: 0-15 flexion/extension 1, > 15 2; +1 deviated or twisted;
* load/force: < 5 kg 0, 5-10 kg 1, > 10 kg 2; +1 shock or rapid build-up of force;
* coupling: good 0, fair 1, poor 2, unacceptable 3;
* activity: +1 each for a static body part held > 1 min, small-range actions repeated more than
  4 times a minute, rapid large changes of posture or an unstable base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "ACTION_LEVELS", "REBA_COUPLING", "TABLE_A", "TABLE_B", "TABLE_C", "RebaInput", "RebaResult",
    "action_level", "lower_arm_score", "legs_score", "load_score", "neck_score", "reba", "table_a",
    "table_b", "table_c", "trunk_score", "upper_arm_score", "wrist_score",
]

# Table A: [neck 1..3][trunk 1..5][legs 1..4]
TABLE_A = (
    ((1, 2, 3, 4), (2, 3, 4, 5), (2, 4, 5, 6), (3, 5, 6, 7), (4, 6, 7, 8)),
    ((1, 2, 3, 4), (3, 4, 5, 6), (4, 5, 6, 7), (5, 6, 7, 8), (6, 7, 8, 9)),
    ((3, 3, 5, 6), (4, 5, 6, 7), (5, 6, 7, 8), (6, 7, 8, 9), (7, 8, 9, 9)),
)
# Table B: [lower arm 1..2][upper arm 1..6][wrist 1..3]
TABLE_B = (
    ((1, 2, 2), (1, 2, 3), (3, 4, 5), (4, 5, 5), (6, 7, 8), (7, 8, 8)),
    ((1, 2, 3), (2, 3, 4), (4, 5, 5), (5, 6, 7), (7, 8, 8), (8, 9, 9)),
)
# Table C: [score A 1..12][score B 1..12]
TABLE_C = (
    (1, 1, 1, 2, 3, 3, 4, 5, 6, 7, 7, 7),
    (1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 7, 8),
    (2, 3, 3, 3, 4, 5, 6, 7, 7, 8, 8, 8),
    (3, 4, 4, 4, 5, 6, 7, 8, 8, 9, 9, 9),
    (4, 4, 4, 5, 6, 7, 8, 8, 9, 9, 9, 9),
    (6, 6, 6, 7, 8, 8, 9, 9, 10, 10, 10, 10),
    (7, 7, 7, 8, 9, 9, 9, 10, 10, 11, 11, 11),
    (8, 8, 8, 9, 10, 10, 10, 10, 10, 11, 11, 11),
    (9, 9, 9, 10, 10, 10, 11, 11, 11, 12, 12, 12),
    (10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 12),
    (11, 11, 11, 11, 12, 12, 12, 12, 12, 12, 12, 12),
    (12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12),
)
REBA_COUPLING = {"good": 0, "fair": 1, "poor": 2, "unacceptable": 3}
# (lowest score, risk, action)
ACTION_LEVELS = (
    (1, "negligible", "none necessary"),
    (2, "low", "may be necessary"),
    (4, "medium", "necessary"),
    (8, "high", "necessary soon"),
    (11, "very high", "necessary now"),
)
UPRIGHT_TOLERANCE_DEG = 5.0


def _finite(x: float, what: str) -> float:
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{what}: expected a finite angle in degrees, got {x!r}")
    return v


def trunk_score(flexion_deg: float, twisted_or_side_bent: bool = False) -> int:
    f = _finite(flexion_deg, "trunk flexion")
    if abs(f) <= UPRIGHT_TOLERANCE_DEG:
        s = 1
    elif -20.0 <= f <= 20.0:
        s = 2
    elif f <= 60.0:  # 20-60 flexion or more than 20 extension
        s = 3
    else:
        s = 4
    return s + int(bool(twisted_or_side_bent))


def neck_score(flexion_deg: float, twisted_or_side_bent: bool = False) -> int:
    f = _finite(flexion_deg, "neck flexion")
    s = 1 if 0.0 <= f <= 20.0 else 2
    return s + int(bool(twisted_or_side_bent))


def legs_score(knee_flexion_deg: float, bilateral: bool = True) -> int:
    k = _finite(knee_flexion_deg, "knee flexion")
    s = 1 if bilateral else 2
    if k > 60.0:
        s += 2
    elif k >= 30.0:
        s += 1
    return s


def upper_arm_score(flexion_deg: float, abducted: bool = False, shoulder_raised: bool = False,
                    supported: bool = False) -> int:
    f = _finite(flexion_deg, "upper arm flexion")
    if -20.0 <= f <= 20.0:
        s = 1
    elif f < -20.0 or f <= 45.0:
        s = 2
    elif f <= 90.0:
        s = 3
    else:
        s = 4
    s += int(bool(abducted)) + int(bool(shoulder_raised)) - int(bool(supported))
    return max(1, min(6, s))


def lower_arm_score(elbow_flexion_deg: float) -> int:
    e = _finite(elbow_flexion_deg, "elbow flexion")
    return 1 if 60.0 <= e <= 100.0 else 2


def wrist_score(flexion_deg: float, deviated_or_twisted: bool = False) -> int:
    w = _finite(flexion_deg, "wrist flexion")
    return (1 if abs(w) <= 15.0 else 2) + int(bool(deviated_or_twisted))


def load_score(load_kg: float, shock: bool = False) -> int:
    m = float(load_kg)
    if not (math.isfinite(m) and m >= 0):
        raise ValueError(f"load: expected a non-negative mass in kg, got {load_kg!r}")
    s = 0 if m < 5.0 else (1 if m <= 10.0 else 2)
    return s + int(bool(shock))


def _idx(v: int, lo: int, hi: int, what: str) -> int:
    if not (isinstance(v, int) and lo <= v <= hi):
        raise ValueError(f"{what}: expected a whole score {lo} to {hi}, got {v!r}")
    return v - 1


def table_a(trunk: int, neck: int, legs: int) -> int:
    return TABLE_A[_idx(neck, 1, 3, "neck score")][_idx(trunk, 1, 5, "trunk score")][_idx(legs, 1, 4, "legs score")]


def table_b(upper_arm: int, lower_arm: int, wrist: int) -> int:
    return TABLE_B[_idx(lower_arm, 1, 2, "lower arm score")][_idx(upper_arm, 1, 6, "upper arm score")][_idx(wrist, 1, 3, "wrist score")]


def table_c(score_a: int, score_b: int) -> int:
    return TABLE_C[_idx(min(score_a, 12), 1, 12, "score A")][_idx(min(score_b, 12), 1, 12, "score B")]


def action_level(score: int) -> tuple[str, str]:
    """(risk, action) of a final REBA score."""
    out = ACTION_LEVELS[0][1:]
    for lo, risk, action in ACTION_LEVELS:
        if score >= lo:
            out = (risk, action)
    return out


@dataclass(frozen=True)
class RebaInput:
    """A posture and its context, angles in degrees (see the module docstring for each part)."""

    trunk_flexion_deg: float
    neck_flexion_deg: float = 10.0
    knee_flexion_deg: float = 0.0
    upper_arm_flexion_deg: float = 0.0
    elbow_flexion_deg: float = 80.0
    wrist_flexion_deg: float = 0.0
    load_kg: float = 0.0
    coupling: str = "good"
    trunk_twisted: bool = False
    neck_twisted: bool = False
    bilateral: bool = True
    arm_abducted: bool = False
    shoulder_raised: bool = False
    arm_supported: bool = False
    wrist_deviated: bool = False
    shock: bool = False
    static_over_1min: bool = False
    repeated_over_4_per_min: bool = False
    rapid_large_changes: bool = False


@dataclass(frozen=True)
class RebaResult:
    trunk: int
    neck: int
    legs: int
    upper_arm: int
    lower_arm: int
    wrist: int
    posture_a: int
    score_a: int
    posture_b: int
    score_b: int
    score_c: int
    activity: int
    score: int
    risk: str
    action: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def reba(p: RebaInput) -> RebaResult:
    """The REBA score of one posture (Hignett & McAtamney 2000)."""
    key = str(p.coupling).strip().lower()
    if key not in REBA_COUPLING:
        raise ValueError(f"coupling: expected one of {', '.join(REBA_COUPLING)}, got {p.coupling!r}")
    tr = trunk_score(p.trunk_flexion_deg, p.trunk_twisted)
    nk = neck_score(p.neck_flexion_deg, p.neck_twisted)
    lg = legs_score(p.knee_flexion_deg, p.bilateral)
    ua = upper_arm_score(p.upper_arm_flexion_deg, p.arm_abducted, p.shoulder_raised, p.arm_supported)
    la = lower_arm_score(p.elbow_flexion_deg)
    wr = wrist_score(p.wrist_flexion_deg, p.wrist_deviated)
    pa = table_a(tr, nk, lg)
    sa = pa + load_score(p.load_kg, p.shock)
    pb = table_b(ua, la, wr)
    sb = pb + REBA_COUPLING[key]
    sc = table_c(sa, sb)
    act = int(p.static_over_1min) + int(p.repeated_over_4_per_min) + int(p.rapid_large_changes)
    score = sc + act
    risk, action = action_level(score)
    return RebaResult(tr, nk, lg, ua, la, wr, pa, sa, pb, sb, sc, act, score, risk, action)
