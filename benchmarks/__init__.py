"""officina.benchmarks: speed and accuracy measured as ratios against a baseline of the same run.

The modules are also scripts (``python benchmarks/bench_ik.py``); `officina bench ...` runs the
same functions. Each module has ``rows(slow=False) -> list[Row]``: its figures in one common
shape, which `officina bench GROUP` prints as one table (`officina.benchmarks.suite`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Row", "row", "Goal"]

# (on, op, threshold): "value" or "ratio" (value / baseline) compared with "<=" or ">=".
Goal = tuple[str, str, float]


@dataclass(frozen=True)
class Row:
    """One figure of a benchmark: what was measured (``name``, ``unit``), officina's ``value``,
    the ``baseline`` measured in the same run on the same inputs (``baseline_name`` says what it
    is; None when the figure is checked against ground truth or a goal only), ``ratio`` = value /
    baseline, the ``goal`` as text, the ``verdict`` ("met", "missed", "info": no goal, "n/a": not
    measured here, ``note`` says why), and which direction of ``value`` is ``better`` ("lower" or
    "higher", for comparing runs)."""

    name: str
    unit: str
    value: float | None
    baseline: float | None = None
    ratio: float | None = None
    goal: str = ""
    verdict: str = "info"
    note: str = ""
    group: str = ""
    baseline_name: str = ""
    better: str = "lower"


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _goal_text(g: Goal, unit: str) -> str:
    on, op, thr = g
    return f"ratio {op} {thr:g}" if on == "ratio" else f"{op} {thr:g} {unit}".rstrip()


def row(name: str, unit: str, value: float | None, baseline: float | None = None, *, baseline_name: str = "",
        goals: Sequence[Goal] = (), better: str = "lower", note: str = "", group: str = "") -> Row:
    """A `Row` with its ratio and verdict computed: "met" when every goal holds, "missed" when
    one does not, "info" without goals, "n/a" when the value or a figure a goal needs is missing."""
    ratio = value / baseline if _finite(value) and _finite(baseline) and baseline != 0 else None
    verdict = "info"
    if not _finite(value):
        verdict = "n/a"
    elif goals:
        verdict = "met"
        for on, op, thr in goals:
            x = value if on == "value" else ratio
            if not _finite(x):
                verdict = "n/a"
                break
            if not (x <= thr if op == "<=" else x >= thr):
                verdict = "missed"
    return Row(name=name, unit=unit, value=value if _finite(value) else None,
               baseline=baseline if _finite(baseline) else None, ratio=ratio,
               goal=" and ".join(_goal_text(g, unit) for g in goals), verdict=verdict, note=note, group=group,
               baseline_name=baseline_name, better=better)
