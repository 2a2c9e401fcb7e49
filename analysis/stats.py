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


def block_average(x, min_blocks: int = 16) -> dict:
    """Standard error of the mean of a correlated series by block averaging (Flyvbjerg & Petersen 1989).

    The series is cut into blocks of 1, 2, 4, ... frames (at least ``min_blocks`` blocks); the standard error
    at block length b is SE_b = sd(block means) / sqrt(n_blocks), with its own uncertainty
    SE_b / sqrt(2 (n_blocks - 1)). SE_b grows with b until the blocks are longer than the correlation time and
    then stays flat. The block length is the shortest b whose SE_b is not below any longer block's SE minus that
    estimate's own uncertainty (the start of the plateau). When even the longest blocks still rise, there is no
    plateau (``plateau`` False) and the largest SE is returned: the series is too short for its correlation time.

    Returns
    -------
    dict
        ``mean``, ``se``, ``block_length`` (frames), ``n_blocks``, ``plateau`` (bool), ``se_naive`` (as if
        uncorrelated), ``statistical_inefficiency`` ((se / se_naive)^2), and ``levels``: a list of
        (block_length, n_blocks, se, se_error) for every level, to show how the choice was made.
    """
    x = np.asarray(x, float)
    n = len(x)
    if n < 2:
        raise ValueError("block averaging needs at least two values")
    levels = []
    b = 1
    while n // b >= min(min_blocks, n):
        m = x[: (n // b) * b].reshape(-1, b).mean(axis=1)
        nb = len(m)
        se = float(m.std(ddof=1) / math.sqrt(nb)) if nb > 1 else math.nan
        levels.append((b, nb, se, se / math.sqrt(2 * (nb - 1)) if nb > 1 else math.nan))
        b *= 2
    se_naive = levels[0][2]
    chosen, plateau = None, False
    for k, (_, _, se, _) in enumerate(levels[:-1]):
        if all(se >= se_l - err_l for _, _, se_l, err_l in levels[k + 1 :]):
            chosen, plateau = k, True
            break
    if chosen is None:
        chosen = int(np.nanargmax([lv[2] for lv in levels]))
    b, nb, se, _ = levels[chosen]
    ineff = (se / se_naive) ** 2 if se_naive > 0 else math.nan
    return {
        "mean": float(x.mean()),
        "se": se,
        "block_length": b,
        "n_blocks": nb,
        "plateau": plateau,
        "se_naive": se_naive,
        "statistical_inefficiency": ineff,
        "levels": levels,
    }


def welch_difference(a, b, confidence: float = 0.95) -> dict:
    """Difference of means mean(b) - mean(a) with Welch's t test (unequal variances, Welch-Satterthwaite df).

    Suited to few replicas per group: it uses the replica-to-replica spread of each group and does not assume
    the two spreads are equal. With fewer than two values in a group, or no spread in both, the interval and
    p-value are NaN.

    Returns
    -------
    dict
        ``difference``, ``low``, ``high`` (two-sided interval), ``p_value`` (two-sided), ``df``, ``t``,
        ``n_a``, ``n_b``, ``test`` (its name).
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    diff = float(b.mean() - a.mean())
    out = {"difference": diff, "n_a": len(a), "n_b": len(b), "test": "Welch two-sample t test (two-sided)"}
    if len(a) < 2 or len(b) < 2:
        return {**out, "low": math.nan, "high": math.nan, "p_value": math.nan, "df": math.nan, "t": math.nan}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return {**out, "low": math.nan, "high": math.nan, "p_value": math.nan, "df": math.nan, "t": math.nan}
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = diff / se
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
    p = float(2 * stats.t.sf(abs(t), df))
    return {**out, "low": diff - half, "high": diff + half, "p_value": p, "df": float(df), "t": float(t)}


def drift_test(x, min_blocks: int = 8) -> dict:
    """Is a series stationary? Compare the means of its first and second halves, each with a blocked SE.

    Returns ``difference`` (second - first), ``se`` (combined), ``z`` and a two-sided ``p_value`` (normal);
    a small p-value says the series still drifts (e.g. equilibration is not over).
    """
    x = np.asarray(x, float)
    if len(x) < 4:
        return {"difference": math.nan, "se": math.nan, "z": math.nan, "p_value": math.nan}
    h = len(x) // 2
    first, second = block_average(x[:h], min_blocks), block_average(x[h:], min_blocks)
    d = second["mean"] - first["mean"]
    se = math.hypot(first["se"], second["se"])
    if not se > 0:
        return {"difference": d, "se": se, "z": math.nan, "p_value": math.nan}
    z = d / se
    return {"difference": d, "se": se, "z": z, "p_value": float(2 * stats.norm.sf(abs(z)))}


def replica_agreement(means, standard_errors) -> dict:
    """Are replicas samples of one answer? Their spread against what their within-run errors predict.

    Cochran's Q, the heterogeneity test of meta-analysis (Cochran 1954, Biometrics 10, 101): with replica means
    m_i and within-run standard errors s_i, weights w_i = 1 / s_i^2 and the weighted mean M = sum w_i m_i / sum w_i,
    Q = sum w_i (m_i - M)^2 follows chi-square with k - 1 degrees of freedom when every replica samples the same
    mean. A small p-value says the replicas disagree by more than their own noise: each is stuck near its start,
    so their mean is not yet the system's answer. I^2 = (Q - (k - 1)) / Q (floored at 0; Higgins & Thompson 2002)
    is the share of the spread that noise does not explain, and ``variance_ratio`` the sample variance of the
    means over the mean s_i^2 (about 1 for agreeing replicas).

    Block standard errors without a plateau are lower bounds, which makes the test reject too readily; the
    caller reports that beside it.

    Returns
    -------
    dict
        ``k``, ``q``, ``dof``, ``p_value``, ``i2``, ``variance_ratio``, ``weighted_mean``, ``verdict`` (text);
        NaN and a reason when fewer than two replicas have a positive, finite error.
    """
    m = np.asarray(means, float)
    s = np.asarray(standard_errors, float)
    if m.shape != s.shape:
        raise ValueError(f"{len(m)} means but {len(s)} standard errors")
    ok = np.isfinite(m) & np.isfinite(s) & (s > 0)
    k = int(ok.sum())
    nan = {"k": k, "q": math.nan, "dof": max(k - 1, 0), "p_value": math.nan, "i2": math.nan, "variance_ratio": math.nan, "weighted_mean": math.nan}
    if k < 2:
        return {**nan, "verdict": "untested: fewer than two replicas with a within-run error"}
    m, s = m[ok], s[ok]
    w = 1.0 / s**2
    mw = float((w * m).sum() / w.sum())
    q = float((w * (m - mw) ** 2).sum())
    p = float(stats.chi2.sf(q, k - 1))
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    ratio = float(m.var(ddof=1) / np.mean(s**2))
    verdict = "replicas agree within their errors" if p >= 0.05 else "replicas disagree: the spread exceeds the within-run errors"
    return {"k": k, "q": q, "dof": k - 1, "p_value": p, "i2": i2, "variance_ratio": ratio, "weighted_mean": mw, "verdict": verdict}
