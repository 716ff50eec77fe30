"""Segment inertial parameters from de Leva (1996), scaled by body mass and stature.

Source: de Leva P. (1996) Adjustments to Zatsiorsky-Seluyanov's segment inertia parameters.
Journal of Biomechanics 29(9):1223-1230, Table 4 (segment lengths, masses as % of body mass,
longitudinal centre-of-mass position as % of the segment length from the proximal endpoint,
radii of gyration as % of the segment length about the sagittal, transverse and longitudinal
axes). The trunk is used in its three-part form (UPT cervicale-xiphoid, MPT xiphoid-omphalion,
LPT omphalion-mid-hip), the head from vertex to cervicale, the hand from the wrist joint centre
to the third metacarpale.

Scaling: masses are the table's percentages times body mass; lengths are the table's reference
lengths times stature / reference stature (1741 mm male, 1735 mm female). The female
percentages sum to 99.99 %: all percentages are divided by their sum so that the segments sum
to the body mass exactly (a 0.01 % adjustment, documented here on purpose).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BILATERAL", "DE_LEVA", "REFERENCE_STATURE_M", "Anthropometry", "SegmentParams", "anthropometry"]

# name: (mass %, CM % from proximal, r_sag %, r_trans %, r_long %, length mm)
# proximal endpoints: head VERT, UPT CERV, MPT XYPH, LPT OMPH, upper arm shoulder joint centre,
# forearm elbow joint centre, hand wrist joint centre, thigh hip joint centre, shank knee joint
# centre, foot HEEL (distal: toe tip).
DE_LEVA: dict[str, dict[str, tuple[float, float, float, float, float, float]]] = {
    "male": {
        "head": (6.94, 50.02, 30.3, 31.5, 26.1, 242.9),
        "upper_trunk": (15.96, 29.99, 71.6, 45.4, 65.9, 242.1),
        "middle_trunk": (16.33, 45.02, 48.2, 38.3, 46.8, 215.5),
        "lower_trunk": (11.17, 61.15, 61.5, 55.1, 58.7, 145.7),
        "upper_arm": (2.71, 57.72, 28.5, 26.9, 15.8, 281.7),
        "forearm": (1.62, 45.74, 27.6, 26.5, 12.1, 268.9),
        "hand": (0.61, 79.00, 62.8, 51.3, 40.1, 86.2),
        "thigh": (14.16, 40.95, 32.9, 32.9, 14.9, 422.2),
        "shank": (4.33, 44.59, 25.5, 24.9, 10.3, 434.0),
        "foot": (1.37, 44.15, 25.7, 24.5, 12.4, 258.1),
    },
    "female": {
        "head": (6.68, 48.41, 27.1, 29.5, 26.1, 243.7),
        "upper_trunk": (15.45, 20.77, 74.6, 50.2, 71.8, 228.0),
        "middle_trunk": (14.65, 45.12, 43.3, 35.4, 41.5, 205.3),
        "lower_trunk": (12.47, 49.20, 43.3, 40.2, 44.4, 181.5),
        "upper_arm": (2.55, 57.54, 27.8, 26.0, 14.8, 275.1),
        "forearm": (1.38, 45.59, 26.1, 25.7, 9.4, 264.3),
        "hand": (0.56, 74.74, 53.1, 45.4, 33.5, 78.0),
        "thigh": (14.78, 36.12, 36.9, 36.4, 16.2, 369.8),
        "shank": (4.81, 44.16, 27.1, 26.7, 9.3, 432.3),
        "foot": (1.29, 40.14, 29.9, 27.9, 13.9, 228.3),
    },
}
REFERENCE_STATURE_M = {"male": 1.741, "female": 1.735}
# segments that exist twice (left and right)
BILATERAL = ("upper_arm", "forearm", "hand", "thigh", "shank", "foot")


@dataclass(frozen=True)
class SegmentParams:
    """One (unilateral) segment: mass kg, length m, CM distance from the proximal end m,
    radii of gyration m about the sagittal (x), transverse (y, medio-lateral) and longitudinal axes."""

    name: str
    mass: float
    length: float
    com_from_proximal: float
    r_sag: float
    r_trans: float
    r_long: float

    @property
    def i_trans(self) -> float:
        """Moment of inertia about the transverse axis through the CM (sagittal-plane rotation), kg m^2."""
        return self.mass * self.r_trans**2


@dataclass(frozen=True)
class Anthropometry:
    sex: str
    body_mass_kg: float
    stature_m: float
    segments: dict[str, SegmentParams]

    def segment(self, name: str) -> SegmentParams:
        return self.segments[name]

    def total_mass(self) -> float:
        """Sum over all segments, both sides counted: equals the body mass."""
        return sum(s.mass * (2 if n in BILATERAL else 1) for n, s in self.segments.items())

    @property
    def ankle_height(self) -> float:
        """Lateral malleolus height: stature minus head, trunk, thigh and shank lengths (m)."""
        s = self.segments
        up = s["head"].length + s["upper_trunk"].length + s["middle_trunk"].length + s["lower_trunk"].length
        return self.stature_m - up - s["thigh"].length - s["shank"].length


def anthropometry(body_mass_kg: float = 75.0, stature_m: float = 1.75, sex: str = "male") -> Anthropometry:
    """de Leva (1996) segment parameters for a person of this mass (kg), stature (m) and sex."""
    key = str(sex).strip().lower()
    if key not in DE_LEVA:
        raise ValueError(f"sex: expected 'male' or 'female', got {sex!r}")
    m = float(body_mass_kg)
    h = float(stature_m)
    if not (math.isfinite(m) and 30.0 <= m <= 250.0):
        raise ValueError(f"body mass: expected 30 to 250 kg, got {body_mass_kg!r}")
    if not (math.isfinite(h) and 1.2 <= h <= 2.3):
        raise ValueError(f"stature: expected 1.2 to 2.3 m, got {stature_m!r}")
    table = DE_LEVA[key]
    total_pct = sum(row[0] * (2 if n in BILATERAL else 1) for n, row in table.items())
    k_len = h / REFERENCE_STATURE_M[key]
    segs = {}
    for name, (pm, pcm, rs, rt, rl, lmm) in table.items():
        length = lmm / 1000.0 * k_len
        segs[name] = SegmentParams(
            name=name,
            mass=m * pm / total_pct,
            length=length,
            com_from_proximal=pcm / 100.0 * length,
            r_sag=rs / 100.0 * length,
            r_trans=rt / 100.0 * length,
            r_long=rl / 100.0 * length,
        )
    return Anthropometry(sex=key, body_mass_kg=m, stature_m=h, segments=segs)
