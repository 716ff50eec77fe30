"""The Revised NIOSH Lifting Equation (RNLE).

Source: Waters T.R., Putz-Anderson V., Garg A. *Applications Manual for the Revised NIOSH
Lifting Equation*, DHHS (NIOSH) Publication No. 94-110 (1994, revised 9/2021), and
Waters et al. (1993) Ergonomics 36(7):749-776.

    RWL = LC x HM x VM x DM x AM x FM x CM            LI = L / RWL

Two constant sets, as in the manual (they are *not* exact conversions of each other):

=========  ======================  =========================
           metric (cm, kg)         US (in, lb)
=========  ======================  =========================
LC         23 kg                   51 lb
HM         25 / H   (H < 25 -> 1)  10 / H   (H < 10 -> 1)
VM         1 - 0.003 |V - 75|      1 - 0.0075 |V - 30|
DM         0.82 + 4.5 / D          0.82 + 1.8 / D
           (D < 25 -> 1)           (D < 10 -> 1)
AM         1 - 0.0032 A            1 - 0.0032 A
=========  ======================  =========================

Outside the equation's range a multiplier is 0, as the manual prescribes: H > 63 cm (25 in),
V > 175 cm (70 in), D > 175 cm (70 in), A > 135 deg, and F beyond the last non-zero entry of
Table 5 for the duration and vertical-height class. Each such case adds a warning.

FM comes from Table 5 (frequency x duration x V class). The V class uses V < 75 cm (30 in)
*at the origin* also when the destination is evaluated (manual, section 1.3.5). Between the
tabulated frequencies FM is interpolated linearly; F below 0.2 lifts/min is evaluated at 0.2
(Table 5 footnote). CM comes from Table 7 (coupling x V class, V of the point evaluated).

This is the only module of officina with non-SI units: the RNLE is defined in cm/kg or in/lb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CM_TABLE",
    "COUPLINGS",
    "DURATIONS",
    "FM_FREQUENCIES",
    "FM_TABLE",
    "METRIC",
    "US",
    "NioshPoint",
    "NioshResult",
    "NioshTask",
    "NioshUnits",
    "asymmetric_multiplier",
    "composite_lifting_index",
    "coupling_multiplier",
    "distance_multiplier",
    "evaluate",
    "frequency_multiplier",
    "horizontal_multiplier",
    "units_by_name",
    "vertical_multiplier",
]

DURATIONS = ("short", "moderate", "long")  # <= 1 h, 1-2 h, 2-8 h (manual, section 1.3.5)
COUPLINGS = ("good", "fair", "poor")

# Table 5 of the Applications Manual: rows = frequency (lifts/min), columns =
# (short V<75, short V>=75, moderate V<75, moderate V>=75, long V<75, long V>=75).
FM_FREQUENCIES = np.array([0.2, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], dtype=float)
FM_TABLE = np.array(
    [
        [1.00, 1.00, 0.95, 0.95, 0.85, 0.85],  # 0.2
        [0.97, 0.97, 0.92, 0.92, 0.81, 0.81],  # 0.5
        [0.94, 0.94, 0.88, 0.88, 0.75, 0.75],  # 1
        [0.91, 0.91, 0.84, 0.84, 0.65, 0.65],  # 2
        [0.88, 0.88, 0.79, 0.79, 0.55, 0.55],  # 3
        [0.84, 0.84, 0.72, 0.72, 0.45, 0.45],  # 4
        [0.80, 0.80, 0.60, 0.60, 0.35, 0.35],  # 5
        [0.75, 0.75, 0.50, 0.50, 0.27, 0.27],  # 6
        [0.70, 0.70, 0.42, 0.42, 0.22, 0.22],  # 7
        [0.60, 0.60, 0.35, 0.35, 0.18, 0.18],  # 8
        [0.52, 0.52, 0.30, 0.30, 0.00, 0.15],  # 9
        [0.45, 0.45, 0.26, 0.26, 0.00, 0.13],  # 10
        [0.41, 0.41, 0.00, 0.23, 0.00, 0.00],  # 11
        [0.37, 0.37, 0.00, 0.21, 0.00, 0.00],  # 12
        [0.00, 0.34, 0.00, 0.00, 0.00, 0.00],  # 13
        [0.00, 0.31, 0.00, 0.00, 0.00, 0.00],  # 14
        [0.00, 0.28, 0.00, 0.00, 0.00, 0.00],  # 15
    ]
)
# Table 7: coupling -> (V < 75 cm, V >= 75 cm)
CM_TABLE = {"good": (1.00, 1.00), "fair": (0.95, 1.00), "poor": (0.90, 0.90)}


@dataclass(frozen=True)
class NioshUnits:
    """One of the manual's two constant sets. Lengths in ``length_unit``, load in ``mass_unit``."""

    name: str
    length_unit: str
    mass_unit: str
    lc: float
    h_min: float  # HM = h_min / H, 1 below h_min
    h_max: float  # HM = 0 above
    v_opt: float  # VM = 1 - vm_k |V - v_opt|
    vm_k: float
    v_max: float  # VM = 0 above
    v_split: float  # FM / CM class boundary ("V < 30 in / 75 cm")
    d_min: float  # DM = 0.82 + dm_k / D, 1 below d_min
    dm_k: float
    d_max: float  # DM = 0 above


METRIC = NioshUnits("metric", "cm", "kg", 23.0, 25.0, 63.0, 75.0, 0.003, 175.0, 75.0, 25.0, 4.5, 175.0)
US = NioshUnits("us", "in", "lb", 51.0, 10.0, 25.0, 30.0, 0.0075, 70.0, 30.0, 10.0, 1.8, 70.0)


def units_by_name(name: str) -> NioshUnits:
    key = str(name).strip().lower()
    if key == "metric":
        return METRIC
    if key in ("us", "imperial"):
        return US
    raise ValueError(f"units: expected 'metric' or 'us', got {name!r}")


def _check(value: float, what: str, *, allow_zero: bool = True) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{what}: expected a {'non-negative' if allow_zero else 'positive'} number, got {v:g}")
    return v


def horizontal_multiplier(h: float, units: NioshUnits = METRIC) -> float:
    """HM = h_min / H (25/H cm, 10/H in); 1 for H below h_min; 0 above h_max (63 cm, 25 in)."""
    h = _check(h, "H (horizontal location)")
    if h > units.h_max:
        return 0.0
    return 1.0 if h <= units.h_min else units.h_min / h


def vertical_multiplier(v: float, units: NioshUnits = METRIC) -> float:
    """VM = 1 - k |V - V_opt| (0.003, 75 cm; 0.0075, 30 in); 0 above v_max (175 cm, 70 in)."""
    v = _check(v, "V (vertical location)")
    if v > units.v_max:
        return 0.0
    return 1.0 - units.vm_k * abs(v - units.v_opt)


def distance_multiplier(d: float, units: NioshUnits = METRIC) -> float:
    """DM = 0.82 + k / D (4.5 cm, 1.8 in); 1 below d_min (25 cm, 10 in); 0 above d_max (175 cm, 70 in)."""
    d = _check(d, "D (vertical travel distance)")
    if d > units.d_max:
        return 0.0
    return 1.0 if d <= units.d_min else 0.82 + units.dm_k / d


def asymmetric_multiplier(a_deg: float) -> float:
    """AM = 1 - 0.0032 A (A in degrees); 0 above 135 deg."""
    a = _check(a_deg, "A (asymmetry angle, deg)")
    if a > 135.0:
        return 0.0
    return 1.0 - 0.0032 * a


def _fm_column(duration: str, v_origin: float, units: NioshUnits) -> int:
    key = str(duration).strip().lower()
    if key not in DURATIONS:
        raise ValueError(f"duration: expected one of {', '.join(DURATIONS)}, got {duration!r}")
    return 2 * DURATIONS.index(key) + (0 if v_origin < units.v_split else 1)


def frequency_multiplier(freq_per_min: float, duration: str, v_origin: float, units: NioshUnits = METRIC) -> float:
    """FM from Table 5. ``v_origin`` selects the V < 75 cm (30 in) column (the origin's V, always).

    F < 0.2 lifts/min is evaluated at 0.2; between table rows FM is interpolated linearly; F beyond
    the last non-zero entry of the column gives 0.
    """
    f = _check(freq_per_min, "F (lifts per minute)", allow_zero=False)
    v = _check(v_origin, "V (vertical location)")
    col = FM_TABLE[:, _fm_column(duration, v, units)]
    nonzero = np.nonzero(col > 0)[0]
    f_last = FM_FREQUENCIES[nonzero[-1]]
    if f > f_last:
        return 0.0
    f = max(f, FM_FREQUENCIES[0])
    return float(np.interp(f, FM_FREQUENCIES[: nonzero[-1] + 1], col[: nonzero[-1] + 1]))


def coupling_multiplier(coupling: str, v: float, units: NioshUnits = METRIC) -> float:
    """CM from Table 7: good 1.00/1.00, fair 0.95/1.00, poor 0.90/0.90 (V < 75 cm / V >= 75 cm)."""
    key = str(coupling).strip().lower()
    if key not in CM_TABLE:
        raise ValueError(f"coupling: expected one of {', '.join(COUPLINGS)}, got {coupling!r}")
    v = _check(v, "V (vertical location)")
    return CM_TABLE[key][0 if v < units.v_split else 1]


@dataclass(frozen=True)
class NioshPoint:
    """RWL and LI at one end of the lift. ``li`` is ``inf`` when RWL is 0 (outside the equation)."""

    rwl: float
    li: float
    multipliers: dict[str, float]

    def as_dict(self) -> dict:
        return {
            "rwl": self.rwl,
            "li": self.li if math.isfinite(self.li) else None,
            "multipliers": dict(self.multipliers),
        }


@dataclass(frozen=True)
class NioshResult:
    units: str
    origin: NioshPoint
    destination: NioshPoint | None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def task_li(self) -> float:
        """The larger of the origin and destination LI (the job is judged at its worse end)."""
        if self.destination is None:
            return self.origin.li
        return max(self.origin.li, self.destination.li)

    def as_dict(self) -> dict:
        out: dict = {"units": self.units, "origin": self.origin.as_dict()}
        if self.destination is not None:
            out["destination"] = self.destination.as_dict()
        li = self.task_li
        out["task_li"] = li if math.isfinite(li) else None
        out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True)
class NioshTask:
    """One lifting task, in the units of ``units`` (cm/kg for metric, in/lb for US).

    ``d`` defaults to |v_dest - v| when a destination is given, else it must be given.
    """

    load: float
    h: float
    v: float
    a: float = 0.0
    freq: float = 0.2
    duration: str = "short"
    coupling: str = "good"
    d: float | None = None
    h_dest: float | None = None
    v_dest: float | None = None
    a_dest: float | None = None
    units: str = "metric"


def _point(task: NioshTask, u: NioshUnits, h: float, v: float, a: float, d: float, warnings: list[str], where: str) -> NioshPoint:
    hm = horizontal_multiplier(h, u)
    vm = vertical_multiplier(v, u)
    dm = distance_multiplier(d, u)
    am = asymmetric_multiplier(a)
    fm = frequency_multiplier(task.freq, task.duration, task.v, u)
    cm = coupling_multiplier(task.coupling, v, u)
    L = u.length_unit
    if hm == 0.0:
        warnings.append(f"{where}: H = {h:g} {L} > {u.h_max:g} {L}, outside the equation: HM = 0")
    if vm == 0.0:
        warnings.append(f"{where}: V = {v:g} {L} > {u.v_max:g} {L}, outside the equation: VM = 0")
    if dm == 0.0:
        warnings.append(f"{where}: D = {d:g} {L} > {u.d_max:g} {L}, outside the equation: DM = 0")
    if am == 0.0:
        warnings.append(f"{where}: A = {a:g} deg > 135 deg, outside the equation: AM = 0")
    if fm == 0.0:
        warnings.append(
            f"{where}: F = {task.freq:g} lifts/min is beyond Table 5 for a {task.duration} duration "
            f"(V {'<' if task.v < u.v_split else '>='} {u.v_split:g} {L}): FM = 0"
        )
    mult = {"LC": u.lc, "HM": hm, "VM": vm, "DM": dm, "AM": am, "FM": fm, "CM": cm}
    rwl = u.lc * hm * vm * dm * am * fm * cm
    li = task.load / rwl if rwl > 0 else (math.inf if task.load > 0 else 0.0)
    return NioshPoint(rwl=rwl, li=li, multipliers=mult)


def evaluate(task: NioshTask) -> NioshResult:
    """RWL and LI at the origin (and destination when ``h_dest``/``v_dest`` are given)."""
    u = units_by_name(task.units)
    _check(task.load, f"load ({u.mass_unit})")
    for name, label in (("h", "H (horizontal location)"), ("v", "V (vertical location)"),
                        ("a", "A (asymmetry angle, deg)")):
        _check(getattr(task, name), label)
    _check(task.freq, "F (lifts per minute)", allow_zero=False)
    has_dest = task.h_dest is not None or task.v_dest is not None or task.a_dest is not None
    if has_dest and (task.h_dest is None or task.v_dest is None):
        raise ValueError("destination: give both --h-dest and --v-dest (and optionally --a-dest)")
    if task.d is None:
        if not has_dest:
            raise ValueError("D (vertical travel distance): give --d, or a destination (--h-dest, --v-dest) so D = |V2 - V|")
        d = abs(float(task.v_dest) - float(task.v))
    else:
        d = _check(task.d, "D (vertical travel distance)")
    warnings: list[str] = []
    origin = _point(task, u, task.h, task.v, task.a, d, warnings, "origin")
    dest = None
    if has_dest:
        a2 = task.a if task.a_dest is None else task.a_dest
        dest = _point(task, u, float(task.h_dest), float(task.v_dest), a2, d, warnings, "destination")
    # One DM/FM warning is enough when both ends repeat it.
    seen: list[str] = []
    for w in warnings:
        tail = w.split(": ", 1)[1]
        if tail.startswith(("D =", "F =")) and any(s.split(": ", 1)[1] == tail for s in seen):
            continue
        seen.append(w)
    return NioshResult(units=u.name, origin=origin, destination=dest, warnings=tuple(seen))


def composite_lifting_index(tasks: Sequence[NioshTask]) -> dict:
    """Composite Lifting Index (CLI) of a multi-task job (manual, section 2.4).

    For each task: FIRWL = RWL with FM = 1, STRWL = FIRWL x FM(F_i), FILI = L/FIRWL, STLI = L/STRWL,
    all at the task's worse end (origin or destination). Tasks are sorted by STLI, largest first;
    of tasks with the same STLI (equal to 9 decimals) the one with the higher frequency comes first
    (manual, Example 7, p. 57: "assign the lower task number to the task with the highest
    frequency"). Then CLI = STLI_1 + sum_k FILI_k x (1/FM(F_1+...+F_k) - 1/FM(F_1+...+F_{k-1})),
    where the FM are those of the task k's duration and V class. All tasks must use the same units.

    Returns ``{"cli", "tasks"}``, the tasks in the new order, each with its ``index`` in ``tasks``,
    ``fm`` (at its own frequency), ``firwl``, ``strwl``, ``fili``, ``stli``, ``freq_cum`` (F_1+...+F_k),
    ``fm_cum`` (FM at that sum) and ``increment`` (its term of the CLI; STLI_1 for the first).
    """
    if not tasks:
        raise ValueError("composite lifting index: expected at least one task")
    units = {units_by_name(t.units).name for t in tasks}
    if len(units) != 1:
        raise ValueError("composite lifting index: all tasks must use the same units")
    u = units_by_name(next(iter(units)))
    rows = []
    for t in tasks:
        res = evaluate(t)
        pts = [res.origin] + ([res.destination] if res.destination is not None else [])
        # the RWL with FM = 1, from the other multipliers (also where the task's own FM is 0)
        firwl = min(math.prod(v for k, v in p.multipliers.items() if k != "FM") for p in pts)
        fm = frequency_multiplier(t.freq, t.duration, t.v, u)
        strwl = firwl * fm
        fili = t.load / firwl if firwl > 0 else math.inf
        stli = t.load / strwl if strwl > 0 else math.inf
        rows.append({"index": len(rows), "task": t, "fm": fm, "firwl": firwl, "strwl": strwl, "fili": fili,
                     "stli": stli})
    rows.sort(key=lambda r: (round(r["stli"], 9), r["task"].freq), reverse=True)
    cli = rows[0]["stli"]
    f_cum = rows[0]["task"].freq
    rows[0].update(freq_cum=f_cum, fm_cum=rows[0]["fm"], increment=cli)
    for r in rows[1:]:
        t = r["task"]
        fm_prev = frequency_multiplier(f_cum, t.duration, t.v, u)
        f_cum += t.freq
        fm_new = frequency_multiplier(f_cum, t.duration, t.v, u)
        inc = r["fili"] * (1.0 / fm_new - 1.0 / fm_prev) if fm_new > 0.0 and fm_prev > 0.0 else math.inf
        r.update(freq_cum=f_cum, fm_cum=fm_new, increment=inc)
        cli += inc
    keys = ("index", "fm", "firwl", "strwl", "fili", "stli", "freq_cum", "fm_cum", "increment")
    return {"cli": cli, "tasks": [{k: r[k] for k in keys} for r in rows]}
