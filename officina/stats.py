"""Intervals over the seeds of a sweep's grid point (SciPy).

* a success rate: the Wilson score interval of the binomial proportion (right at 0 % and 100 %
  and with few runs, where the normal approximation is not);
* a metric: the mean with the Student t interval of the mean (mean +- t(n-1) s / sqrt(n)),
  which widens honestly with few seeds; none for a single value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Interval", "wilson_interval", "mean_t_interval", "SUCCESS_METHOD", "MEAN_METHOD"]

SUCCESS_METHOD = "Wilson score interval, 95 %"
MEAN_METHOD = "mean, Student t interval of the mean, 95 %"


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None
    n: int

    def as_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Success rate ``successes / n`` with its Wilson score interval."""
    if n <= 0:
        return Interval(None, None, None, 0)
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high), int(n))


def mean_t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of ``values`` (non-finite ones dropped) with the t interval of the mean."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = sum(xs) / n
    if n == 1:
        return Interval(mean, None, None, 1)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    if sd == 0.0:
        return Interval(mean, mean, mean, n)
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)
