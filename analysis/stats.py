"""Statistics across replicas."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci_t(values, confidence: float = 0.95) -> dict:
    """Mean and two-sided confidence interval from the t distribution with n - 1 degrees of freedom.

    With fewer than two values the interval is undefined (NaN): one replica says nothing about the spread.

    Returns
    -------
    dict
        ``n``, ``mean``, ``sd``, ``half_width``, ``low``, ``high``.
    """
    x = np.asarray([v for v in values if v is not None], float)
    n = len(x)
    if n == 0:
        raise ValueError("no values to average")
    mean = float(x.mean())
    if n < 2:
        return {"n": n, "mean": mean, "sd": math.nan, "half_width": math.nan, "low": math.nan, "high": math.nan}
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))
    return {"n": n, "mean": mean, "sd": sd, "half_width": half, "low": mean - half, "high": mean + half}
