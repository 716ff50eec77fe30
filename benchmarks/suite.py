"""Every benchmark of officina as one table: `officina bench [sim|ik|plan|vision|ros|exo|sweep|all]`.

Each group is a module of officina.benchmarks with ``rows(slow=False) -> list[Row]``; the quick
sizes by default, the larger ones with ``slow``. `run_groups` runs some of them and returns a
document (rows, how long each group took, where it ran) that `officina bench --json` prints and
`compare` reads back: what moved between two commits.
"""

from __future__ import annotations

import importlib
import math
import os
import platform
import subprocess
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from officina.benchmarks import Row, row

__all__ = ["GROUPS", "run_groups", "load_document", "compare", "format_value"]

# group -> (module of officina.benchmarks, what it measures)
GROUPS: dict[str, tuple[str, str]] = {
    "sim": ("bench_sim", "the run loop vs raw PyBullet; pick-place's real-time factor"),
    "ik": ("bench_ik", "IK vs TRAC-IK on the same targets"),
    "plan": ("bench_plan", "motion planning vs pybullet-planning on the same problems"),
    "vision": ("bench_vision", "marker pose and intrinsics vs ground truth; detection vs raw OpenCV"),
    "ros": ("bench_ros", "ROS 2 command-to-state latency vs an rclpy echo pair"),
    "exo": ("bench_exo", "vectorised L5/S1 evaluation vs a naive loop"),
    "sweep": ("bench_sweep", "sweep scaling on Dask vs a plain loop"),
}


def _group_rows(group: str, slow: bool) -> list[Row]:
    mod = importlib.import_module(f"officina.benchmarks.{GROUPS[group][0]}")
    return list(mod.rows(slow=slow))


def _commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_groups(groups: Sequence[str], *, slow: bool = False,
               on_group: Callable[[str, int, int], None] | None = None,
               rows_of: Callable[[str, bool], list[Row]] | None = None) -> dict[str, Any]:
    """Run the groups in order (``on_group(name, i, n)`` before each) and return the document:
    ``rows`` (dicts of `Row`), ``elapsed_s`` per group and in all, where and when it ran. A group
    that raises gives one row with verdict "n/a" and the error as its note; the others still run."""
    from officina import __version__

    rows_of = rows_of or _group_rows
    load0 = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    t_all = time.perf_counter()
    rows: list[Row] = []
    elapsed: dict[str, float] = {}
    for i, g in enumerate(groups):
        if on_group is not None:
            on_group(g, i, len(groups))
        t0 = time.perf_counter()
        try:
            got = rows_of(g, slow)
        except Exception as exc:  # one broken benchmark does not hide the others' figures
            got = [row(f"{g} benchmark", "", None, note=f"failed: {type(exc).__name__}: {exc}")]
        elapsed[g] = time.perf_counter() - t0
        rows += [replace(r, group=g) for r in got]
    return {
        "officina": __version__, "commit": _commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_average_before": load0, "groups": list(groups), "slow": bool(slow),
        "elapsed_s": {**elapsed, "all": time.perf_counter() - t_all},
        "rows": [asdict(r) for r in rows],
    }


def load_document(path: str | Path) -> dict[str, Any]:
    """A document `officina bench --json` wrote (ValueError with one line if it is not one)."""
    import json

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such file")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise ValueError(f"{p}: not an `officina bench --json` document (no 'rows' list)")
    for r in doc["rows"]:
        if not isinstance(r, dict) or not {"group", "name", "value"} <= set(r):
            raise ValueError(f"{p}: a row without group, name and value: {r!r}")
    return doc


def compare(a: dict[str, Any], b: dict[str, Any], threshold_pct: float = 10.0) -> list[dict[str, Any]]:
    """Row by row (matched by group and name), from document ``a`` to ``b``: both values, the
    change in percent, and ``moved``: "better"/"worse" when the value changed by more than
    ``threshold_pct`` in the row's better/worse direction, "new"/"gone" for a row in one only,
    "" otherwise; the verdicts of both."""
    ka = {(r["group"], r["name"]): r for r in a["rows"]}
    kb = {(r["group"], r["name"]): r for r in b["rows"]}
    out = []
    for key in list(ka) + [k for k in kb if k not in ka]:
        ra, rb = ka.get(key), kb.get(key)
        va = ra.get("value") if ra else None
        vb = rb.get("value") if rb else None
        change = None
        moved = "new" if ra is None else "gone" if rb is None else ""
        if va is not None and vb is not None and va != 0:
            change = 100.0 * (vb - va) / abs(va)
            if abs(change) > threshold_pct:
                up_is_better = (rb or ra).get("better", "lower") == "higher"
                moved = "better" if (change > 0) == up_is_better else "worse"
        elif va is not None and vb is not None and va == 0 and vb != 0:
            moved = "worse" if (rb.get("better", "lower") == "lower") == (vb > 0) else "better"
        out.append({"group": key[0], "name": key[1], "unit": (rb or ra).get("unit", ""), "a": va, "b": vb,
                    "change_pct": change, "moved": moved,
                    "verdict_a": ra.get("verdict") if ra else None, "verdict_b": rb.get("verdict") if rb else None})
    return out


def format_value(v: float | None, unit: str = "") -> str:
    """A figure to about four significant digits, with its unit."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    av = abs(v)
    s = f"{v:.0f}" if av >= 100 else f"{v:.3g}" if av >= 1 else (
        f"{v:.3f}" if av >= 0.01 else f"{v:.2e}" if av > 0 else "0")
    return f"{s} {unit}".rstrip() if unit not in ("%",) else f"{s} %"
