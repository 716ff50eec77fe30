"""The manual version of a job, as data: what a worker would lift, from where to where, how often.

A task that moves objects declares its manual job (`ManualJob`) from its scene parameters; the
worker-side models (:mod:`officina.exoskeleton.worker`) evaluate it. Everything is in SI units and
in the worker's frame: the origin is the mid-point between the ankles on the floor, x forward (the
direction the feet point), z up. That is the frame of the Revised NIOSH Lifting Equation:

* ``h_m`` -- horizontal distance of the hands (the grip point, the load's centre between the hands)
  from the mid-point between the ankles, projected on the floor (NIOSH H, in m here);
* ``v_m`` -- height of the hands above the floor (NIOSH V);
* ``asymmetry_deg`` -- angle between the sagittal plane of the feet and the line from the ankles'
  mid-point to the hands (NIOSH A; 0 = straight ahead).

A `Move` is one kind of lift (origin -> destination) repeated ``count_per_cycle`` times per cycle;
``vertical_travel_m`` is NIOSH D (default ``|v_dest - v_origin|``); ``carry_m`` is the horizontal
distance walked with the load (0 for a lift done standing; carrying is outside the RNLE and is
reported, not evaluated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["COUPLINGS", "HandLocation", "ManualJob", "Move"]

COUPLINGS = ("good", "fair", "poor")


def _num(value, what: str, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected a number, got {value!r}") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{what}: expected {lo:g} to {hi:g}, got {value!r}")
    return v


@dataclass(frozen=True)
class HandLocation:
    """Where the hands hold the load, in the worker's frame (see the module docstring)."""

    h_m: float
    v_m: float
    asymmetry_deg: float = 0.0

    def __post_init__(self) -> None:
        _num(self.h_m, "H (horizontal hand distance from the ankles, m)", 0.0, 2.0)
        _num(self.v_m, "V (hand height above the floor, m)", 0.0, 2.5)
        _num(self.asymmetry_deg, "A (asymmetry angle, deg)", 0.0, 180.0)

    def as_dict(self) -> dict:
        return {"h_m": self.h_m, "v_m": self.v_m, "asymmetry_deg": self.asymmetry_deg}


@dataclass(frozen=True)
class Move:
    """One kind of lift of the job. ``load_kg`` is the heaviest load of this kind (the RNLE judges the
    maximum); ``mean_load_kg`` the average (default: the maximum). ``coupling``: good, fair or poor
    (NIOSH Applications Manual, Table 6). ``control_at_destination``: the load is placed with
    significant control (the RNLE then also evaluates the destination)."""

    name: str
    load_kg: float
    origin: HandLocation
    destination: HandLocation
    count_per_cycle: int = 1
    coupling: str = "good"
    mean_load_kg: float | None = None
    vertical_travel_m: float | None = None
    carry_m: float = 0.0
    control_at_destination: bool = True

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise ValueError("move name: expected a non-empty name")
        _num(self.load_kg, f"move {self.name!r} load", 0.0, 200.0)
        if self.mean_load_kg is not None:
            _num(self.mean_load_kg, f"move {self.name!r} mean load", 0.0, float(self.load_kg))
        if self.vertical_travel_m is not None:
            _num(self.vertical_travel_m, f"move {self.name!r} vertical travel D", 0.0, 2.5)
        _num(self.carry_m, f"move {self.name!r} carry distance", 0.0, 100.0)
        if not isinstance(self.count_per_cycle, int) or self.count_per_cycle < 1:
            raise ValueError(f"move {self.name!r} count per cycle: expected a whole number >= 1, got {self.count_per_cycle!r}")
        if str(self.coupling).strip().lower() not in COUPLINGS:
            raise ValueError(f"move {self.name!r} coupling: expected one of {', '.join(COUPLINGS)}, got {self.coupling!r}")

    @property
    def travel_m(self) -> float:
        """NIOSH D: the vertical travel distance (m)."""
        if self.vertical_travel_m is not None:
            return float(self.vertical_travel_m)
        return abs(self.destination.v_m - self.origin.v_m)

    @property
    def mean_kg(self) -> float:
        return float(self.load_kg if self.mean_load_kg is None else self.mean_load_kg)

    def as_dict(self) -> dict:
        return {
            "name": self.name, "load_kg": self.load_kg, "mean_load_kg": self.mean_kg,
            "origin": self.origin.as_dict(), "destination": self.destination.as_dict(),
            "count_per_cycle": self.count_per_cycle, "coupling": self.coupling,
            "vertical_travel_m": self.travel_m, "carry_m": self.carry_m,
            "control_at_destination": self.control_at_destination,
        }


@dataclass(frozen=True)
class ManualJob:
    """The manual version of a task: its kinds of lift and what the task assumed to derive them."""

    task: str
    moves: tuple[Move, ...]
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.moves:
            raise ValueError(f"manual job of {self.task!r}: expected at least one move")
        names = [m.name for m in self.moves]
        if len(set(names)) != len(names):
            raise ValueError(f"manual job of {self.task!r}: move names must be distinct, got {names}")

    @property
    def lifts_per_cycle(self) -> int:
        return sum(m.count_per_cycle for m in self.moves)

    def move(self, name: str) -> Move:
        for m in self.moves:
            if m.name == name:
                return m
        raise ValueError(f"move {name!r}: expected one of {', '.join(m.name for m in self.moves)}")

    def as_dict(self) -> dict:
        return {"task": self.task, "lifts_per_cycle": self.lifts_per_cycle,
                "moves": [m.as_dict() for m in self.moves], "assumptions": list(self.assumptions)}
