"""The two intervals every table of many runs reports: a proportion's (Wilson) and a mean's
(Student's t). One definition each, for sweeps, validation and the tournament."""

from __future__ import annotations

import math

import numpy as np


def wilson(k: int, n: int) -> tuple[float, float, float]:
    """(k/n, low, high): the proportion and its 95% Wilson score interval."""
    from scipy.stats import binomtest

    if n == 0:
        return (math.nan, math.nan, math.nan)
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return (k / n, float(ci.low), float(ci.high))


def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` and its two-sided `level` interval (Student's t);
    NaN for no values, no interval (NaN bounds) from a single value."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return (mean, math.nan, math.nan)
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return (mean, mean - half, mean + half)
