"""Lifts as joint trajectories: parametric squat and stoop lifts, or a recorded motion from CSV.

A parametric lift moves a box held at the hands from a start grip height (box on the floor by
default: the handles ``handle_height_m`` = 0.20 m above the floor) to an end grip height
(``"knuckle"``: standing upright, arms hanging; or a number in metres, e.g. a 0.9 m table; above
knuckle height the straight arms are raised forward), in ``duration_s`` seconds, with a
minimum-jerk time law (Flash & Hogan 1985) and ``hold_s`` of standing still before and after.

Each style is a one-parameter family of postures q(s) = s * q_deep, s in [0, 1], with the arms
hanging vertically (shoulder flexion = trunk angle) -- a squat (deep knee flexion, trunk up to
65 deg) and a stoop (knees nearly straight, trunk up to 115 deg, lumbar flexion 40 % of the hip +
lumbar total). s is solved so the grip is at the requested height; because q(s) is linear in s,
interpolating joint angles between the start and the end posture stays on the style's family.

Recorded motions: a CSV with a time column ``t_s`` (or ``time_s``) and one column per joint of
:data:`officina.exoskeleton.model.JOINTS`, suffixed ``_deg`` or ``_rad`` (e.g. ``hip_deg``);
missing joints are zero. It is resampled to a uniform step and differentiated numerically
(filter measured data before, differentiation amplifies noise).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from officina.exoskeleton.model import JOINTS, HumanModel, joint_positions

__all__ = ["STYLES", "Lift", "grip_height", "load_lift_csv", "parametric_lift", "solve_posture", "style_posture"]

_D = math.pi / 180.0
# deepest posture of each style: ankle, knee, hip, l5s1 (deg); shoulder follows the trunk, elbow 0
STYLES = {
    "squat": (35.0, 120.0, 120.0, 30.0),
    "stoop": (5.0, 20.0, 80.0, 50.0),
}


@dataclass(frozen=True)
class Lift:
    """A motion: time ``t`` (s), joint angles/velocities/accelerations ``q, qd, qdd`` (T x 6, rad,
    :data:`JOINTS` order), the mass held at the hands ``load_kg`` and a name."""

    name: str
    t: np.ndarray
    q: np.ndarray
    qd: np.ndarray
    qdd: np.ndarray
    load_kg: float

    @property
    def dt(self) -> float:
        return float(self.t[1] - self.t[0])


def style_posture(style: str, s: float, arm_raise_rad: float = 0.0) -> np.ndarray:
    """Joint angles (rad) of ``style`` at depth ``s`` in [0, 1]; arms hanging plus ``arm_raise_rad``."""
    if style not in STYLES:
        raise ValueError(f"lift style: expected one of {', '.join(STYLES)}, got {style!r}")
    a, k, h, l = (v * _D * s for v in STYLES[style])
    trunk = a - k + h + l
    return np.array([a, k, h, l, trunk + arm_raise_rad, 0.0])


def grip_height(model: HumanModel, q) -> np.ndarray:
    """Height of the grip point above the floor (m)."""
    return joint_positions(model, q)["grip"][..., 1]


def _bisect(f, lo, hi, n=60):
    flo = f(lo)
    for _ in range(n):
        mid = 0.5 * (lo + hi)
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def solve_posture(model: HumanModel, style: str, height_m: float) -> np.ndarray:
    """The posture of ``style`` with the grip at ``height_m`` above the floor."""
    if not math.isfinite(height_m):
        raise ValueError(f"grip height: expected a finite height in metres, got {height_m!r}")
    z_up = float(grip_height(model, style_posture(style, 0.0)))
    z_deep = float(grip_height(model, style_posture(style, 1.0)))
    if height_m < z_deep - 1e-9:
        raise ValueError(
            f"grip height {height_m:.3f} m is below the deepest {style} posture of this person "
            f"({z_deep:.3f} m); raise the start height or use the other lift style"
        )
    if height_m <= z_up:
        s = _bisect(lambda s: float(grip_height(model, style_posture(style, s))) - height_m, 0.0, 1.0)
        return style_posture(style, s)
    z_sh = float(joint_positions(model, np.zeros(len(JOINTS)))["shoulder"][1])
    if height_m > z_sh:
        raise ValueError(f"grip height {height_m:.3f} m is above shoulder height ({z_sh:.3f} m); expected a lift to at most shoulder height")
    raise_rad = _bisect(lambda r: float(grip_height(model, style_posture(style, 0.0, r))) - height_m, 0.0, math.pi / 2)
    return style_posture(style, 0.0, raise_rad)


def _min_jerk(tau):
    tau = np.clip(tau, 0.0, 1.0)
    p = 10 * tau**3 - 15 * tau**4 + 6 * tau**5
    dp = 30 * tau**2 - 60 * tau**3 + 30 * tau**4
    ddp = 60 * tau - 180 * tau**2 + 120 * tau**3
    return p, dp, ddp


def parametric_lift(
    model: HumanModel,
    style: str = "stoop",
    load_kg: float = 10.0,
    *,
    start_height_m: float | None = None,
    end_height: str | float = "knuckle",
    duration_s: float = 1.5,
    hold_s: float = 0.25,
    dt: float = 0.005,
    handle_height_m: float = 0.20,
) -> Lift:
    """A squat or stoop lift of ``load_kg`` from ``start_height_m`` (default: box on the floor, grip at
    ``handle_height_m``) to ``end_height`` (``"knuckle"`` or metres), lasting ``duration_s``."""
    if style not in STYLES:
        raise ValueError(f"lift style: expected one of {', '.join(STYLES)}, got {style!r}")
    if not (math.isfinite(load_kg) and load_kg >= 0.0):
        raise ValueError(f"load: expected a non-negative mass in kg, got {load_kg!r}")
    if not (math.isfinite(duration_s) and 0.2 <= duration_s <= 20.0):
        raise ValueError(f"duration: expected 0.2 to 20 s, got {duration_s!r}")
    if not (0.0 <= hold_s <= 10.0) or not (1e-4 <= dt <= 0.05):
        raise ValueError(f"hold_s must be 0-10 s and dt 1e-4-0.05 s, got {hold_s!r}, {dt!r}")
    start = handle_height_m if start_height_m is None else float(start_height_m)
    q0 = solve_posture(model, style, start)
    if isinstance(end_height, str):
        if end_height.strip().lower() != "knuckle":
            raise ValueError(f"end height: expected 'knuckle' or a height in metres, got {end_height!r}")
        q1 = style_posture(style, 0.0)
    else:
        q1 = solve_posture(model, style, float(end_height))
    n = int(round((duration_s + 2 * hold_s) / dt)) + 1
    t = np.arange(n) * dt
    tau = (t - hold_s) / duration_s
    p, dp, ddp = _min_jerk(tau)
    dq = q1 - q0
    q = q0 + p[:, None] * dq
    qd = (dp / duration_s)[:, None] * dq
    qdd = (ddp / duration_s**2)[:, None] * dq
    inside = (tau >= 0) & (tau <= 1)
    qd[~inside] = 0.0
    qdd[~inside] = 0.0
    return Lift(name=f"{style} {load_kg:g} kg", t=t, q=q, qd=qd, qdd=qdd, load_kg=float(load_kg))


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_number(text: str) -> bool:
    """A finite number: 'nan' and 'inf' parse as floats but are no measured angle or time."""
    return _is_float(text) and math.isfinite(float(text))


def load_lift_csv(path: str | Path, load_kg: float, dt: float = 0.005) -> Lift:
    """A recorded lift from CSV (see the module docstring for the columns)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"motion CSV not found: {path}")
    try:
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file; expected a CSV with t_s and <joint>_deg columns") from None
    if len(rows) < 4:
        raise ValueError(f"{path}: expected a header and at least 3 rows of samples")
    header = [h.strip().lower() for h in rows[0]]
    tcol = next((i for i, h in enumerate(header) if h in ("t_s", "time_s", "t", "time")), None)
    if tcol is None:
        raise ValueError(f"{path}: expected a time column named t_s or time_s, got columns {header}")
    values = []
    for line, r in enumerate(rows[1:], start=2):
        if not r:
            continue
        if len(r) != len(header):
            raise ValueError(f"{path}: line {line} has {len(r)} values, the header has {len(header)}")
        if not all(_is_number(x) for x in r):
            col, bad = next((h, x) for h, x in zip(header, r) if not _is_number(x))
            what = "a finite number" if _is_float(bad) else "a number"
            raise ValueError(f"{path}: line {line}, column {col}: {bad!r} is not {what}")
        values.append([float(x) for x in r])
    data = np.array(values, dtype=float)
    t_raw = data[:, tcol]
    if np.any(np.diff(t_raw) <= 0):
        raise ValueError(f"{path}: time must increase strictly")
    t = np.arange(t_raw[0], t_raw[-1] + 1e-12, dt)
    q = np.zeros((len(t), len(JOINTS)))
    found = 0
    for j, name in enumerate(JOINTS):
        for suffix, k in (("_deg", _D), ("_rad", 1.0)):
            if name + suffix in header:
                q[:, j] = np.interp(t, t_raw, data[:, header.index(name + suffix)] * k)
                found += 1
    if found == 0:
        raise ValueError(f"{path}: no joint column found; expected some of {[j + '_deg' for j in JOINTS]}")
    qd = np.gradient(q, dt, axis=0)
    qdd = np.gradient(qd, dt, axis=0)
    return Lift(name=path.stem, t=t - t[0], q=q, qd=qd, qdd=qdd, load_kg=float(load_kg))
