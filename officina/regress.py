"""`officina regress`: run tasks over fixed seeds and fail when one got worse than its baseline.

A baseline is one YAML file per task and robot (``baselines/<task>-<robot>.yaml``), written by
``officina regress --update`` from real runs and committed: the seeds, the overrides every run
gets, the relative tolerance, and what the code achieved on each seed. A regression is

* a seed that succeeded in the baseline and fails now,
* a metric with a better direction (the task's `MetricInfo.better`, or the common metrics'), whose
  mean over the seeds run is worse than the baseline's mean over the same seeds by more than the
  tolerance (relative, plus a small absolute floor for metrics whose baseline is zero); the seeds
  are those with a value in both (a metric may be null, e.g. no insertion time when the peg did
  not seat), or
* a seed whose metric had a value in the baseline and has none now.

The runs go through the sweep machinery (Dask; one run folder each, under the regression's
folder), so a regression of many tasks and robots uses every core.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from officina.errors import BadInput

__all__ = ["Baseline", "Check", "Verdict", "load_baselines", "evaluate", "baseline_from_rows", "write_baseline",
           "BASELINES_DIR"]

BASELINES_DIR = "baselines"
# Metrics every regression looks at besides the task's key metrics (all have a better direction).
_ALWAYS = ("max_joint_tracking_error_rad", "safety_events_total", "protective_stops")
# Below this, a baseline value counts as zero: the allowance is then this much, not a fraction.
_ABS_FLOOR = {"safety_events_total": 0.0, "protective_stops": 0.0}


@dataclass
class Baseline:
    task: str
    robot: str
    seeds: list[int]
    overrides: list[str] = field(default_factory=list)
    tolerance: float = 0.10
    measured: dict[int, dict[str, Any]] = field(default_factory=dict)
    note: str = ""
    path: Path | None = None

    @property
    def key(self) -> str:
        return f"{self.task}-{self.robot}"


@dataclass(frozen=True)
class Check:
    metric: str
    baseline: float
    measured: float
    limit: float
    better: str  # "higher" | "lower" | "per-seed"
    ok: bool


@dataclass
class Verdict:
    baseline: Baseline
    seeds: list[int]
    success_rate: float
    baseline_success_rate: float
    checks: list[Check]
    failures: list[str]  # what regressed, in words
    errors: list[str]  # runs that crashed

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors


def _baseline_file_name(task: str, robot: str) -> str:
    return f"{task}-{robot}.yaml".replace("/", "_").replace(":", "_")


def load_baseline(path: Path) -> Baseline:
    from officina.interfaces import read_yaml

    data = read_yaml(path, "baseline")
    known = {"task", "robot", "seeds", "set", "tolerance", "measured", "note", "written"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadInput(f"baseline {path}: unknown key {unknown[0]!r}; expected {', '.join(sorted(known))}")
    try:
        measured = {int(k): dict(v) for k, v in (data.get("measured") or {}).items()}
        b = Baseline(task=str(data["task"]), robot=str(data["robot"]), seeds=[int(s) for s in data["seeds"]],
                     overrides=[str(s) for s in data.get("set") or []], tolerance=float(data.get("tolerance", 0.10)),
                     measured=measured, note=str(data.get("note", "")), path=path)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"baseline {path}: expected task, robot, seeds and measured ({type(exc).__name__}: {exc})") from None
    missing = [s for s in b.seeds if s not in b.measured]
    if missing:
        raise BadInput(f"baseline {path}: no measured values for seeds {missing}")
    if not 0.0 <= b.tolerance < 1.0:
        raise BadInput(f"baseline {path}: tolerance must be in [0, 1), got {b.tolerance}")
    return b


def load_baselines(folder: str | Path, tasks: list[str] | None = None, robots: list[str] | None = None) -> list[Baseline]:
    d = Path(folder)
    if not d.is_dir():
        raise BadInput(f"baselines folder not found: {folder} (write baselines with `officina regress --update`)")
    out = [load_baseline(p) for p in sorted(d.glob("*.yaml"))]
    if tasks:
        out = [b for b in out if b.task in tasks]
    if robots:
        out = [b for b in out if b.robot in robots]
    return out


def _better(task, name: str) -> str | None:
    from officina.tasks.base import metric_info

    return metric_info(task, name).better


def compared_metrics(task) -> list[str]:
    """The metrics a regression compares for ``task``: its key metrics and the loop's safety and
    tracking figures, those with a better direction."""
    from officina.tasks.base import key_metrics

    names = [m for m in key_metrics(task) if m != "success"] + [m for m in _ALWAYS]
    seen: list[str] = []
    for n in names:
        if n not in seen and _better(task, n) in ("higher", "lower"):
            seen.append(n)
    return seen


def _value(v: Any) -> float | None:
    """A metric's value as a number, or None when it has none (null, not a number)."""
    if isinstance(v, (int, float)) and not math.isnan(float(v)):
        return float(v)
    return None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def evaluate(baseline: Baseline, rows: dict[int, dict[str, Any]]) -> Verdict:
    """Compare the runs of ``rows`` (seed -> sweep row: success, status, error, metrics) with the
    baseline over the same seeds."""
    from officina.tasks import get_task

    task = get_task(baseline.task)
    seeds = sorted(rows)
    failures: list[str] = []
    errors = [f"seed {s}: {rows[s].get('error') or 'failed to run'}" for s in seeds
              if rows[s].get("status") not in (None, "ok")]
    for s in seeds:
        if s not in baseline.measured:
            raise BadInput(f"baseline {baseline.key}: no measured values for seed {s}; expected seeds "
                           f"{baseline.seeds} (or write the baseline again with --update)")
    base_ok = [bool(baseline.measured[s].get("success")) for s in seeds]
    now_ok = [bool(rows[s].get("success")) for s in seeds]
    lost = [s for s, b, n in zip(seeds, base_ok, now_ok) if b and not n]
    if lost:
        failures.append(f"seeds {lost} succeeded in the baseline and fail now")
    checks = []
    for name in compared_metrics(task):
        # each metric over the seeds that have a value in the baseline and now (a metric may be
        # null: no insertion time for a peg that never seated); a seed that had a value and has
        # none now lost what the metric measures
        had = [s for s in seeds if _value(baseline.measured[s].get(name)) is not None]
        now = {s: _value((rows[s].get("metrics") or {}).get(name)) for s in had}
        gone = [s for s in had if now[s] is None and rows[s].get("status") in (None, "ok")]
        if gone:
            failures.append(f"{name} has no value now on seeds {gone} (the baseline has one)")
        both = [s for s in had if now[s] is not None]
        if not both:
            continue
        b = _mean([_value(baseline.measured[s][name]) for s in both])
        m = _mean([now[s] for s in both])
        better = _better(task, name)
        margin = max(abs(b) * baseline.tolerance, _ABS_FLOOR.get(name, 1e-9))
        limit = b + margin if better == "lower" else b - margin
        ok = m <= limit if better == "lower" else m >= limit
        checks.append(Check(name, b, m, limit, better, ok))
        if not ok:
            failures.append(f"{name} {m:.4g} is worse than {limit:.4g} (baseline {b:.4g}, "
                            f"{'at most' if better == 'lower' else 'at least'} {baseline.tolerance:.0%} off)")
    return Verdict(baseline, seeds, _mean([float(x) for x in now_ok]), _mean([float(x) for x in base_ok]),
                   checks, failures, errors)


def baseline_from_rows(task_ref: str, robot: str, seeds: list[int], overrides: list[str], tolerance: float,
                       rows: dict[int, dict[str, Any]]) -> Baseline:
    """A baseline from what the code achieved now (refused if a run crashed)."""
    from officina.tasks import get_task

    bad = [s for s in seeds if rows[s].get("status") not in (None, "ok")]
    if bad:
        raise BadInput(f"cannot write a baseline of {task_ref} on {robot}: seeds {bad} failed to run "
                       f"({rows[bad[0]].get('error')})")
    task = get_task(task_ref)
    keep = ["success"] + compared_metrics(task)
    measured = {s: {k: rows[s]["metrics"][k] if k != "success" else bool(rows[s]["success"])
                    for k in keep if k == "success" or k in rows[s]["metrics"]} for s in seeds}
    return Baseline(task_ref, robot, list(seeds), list(overrides), tolerance, measured)


def write_baseline(folder: str | Path, b: Baseline) -> Path:
    from officina import __version__
    from officina.runs import atomic_write_text

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    path = d / _baseline_file_name(b.task, b.robot)
    seeds = ",".join(str(s) for s in b.seeds)
    sets = "".join(f" --set {o}" for o in b.overrides)
    header = (f"# Regression baseline: {b.task} on {b.robot}, what the code achieved on each seed.\n"
              f"# `officina regress` fails when a seed that succeeded here fails, or a compared metric's\n"
              f"# mean gets worse than this by more than the tolerance. Written on purpose with:\n"
              f"#   officina regress --update --tasks {b.task} --robots {b.robot} --seeds {seeds}{sets}\n")
    data = {
        "task": b.task, "robot": b.robot, "seeds": list(b.seeds), "set": list(b.overrides),
        "tolerance": b.tolerance,
        "written": f"officina {__version__}, {_dt.date.today().isoformat()}",
        "measured": {int(s): {k: (round(v, 6) if isinstance(v, float) else v) for k, v in m.items()}
                     for s, m in sorted(b.measured.items())},
    }
    atomic_write_text(path, header + yaml.safe_dump(data, sort_keys=False))
    b.path = path
    return path
