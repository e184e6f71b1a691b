"""Means and shares with 95% confidence intervals that respect their metric's range, without SciPy.

* A mean of a bounded metric (engagement 0-100, attention 0-1): mean ± t(0.975, n-1) · s / √n, with s
  the sample standard deviation (ddof = 1) over the respondents, clipped to the metric's range
  (the mean itself can never leave it); undefined (NaN) for fewer than two respondents.
* A share (the share of respondents with a positive moment): the Wilson score interval, which stays
  inside [0, 1] and is sensible at 0 %, 100 % and small n.
* A mean of per-respondent shares (each respondent's share of positive seconds): the Student's t interval
  over respondents, except where every respondent has the same share (0 % for all, often): there the
  sample spread is 0 and t would give an interval of no width, so the Wilson interval of that share with
  the respondents as n is used.
"""

from __future__ import annotations

import math

import numpy as np

# two-sided 95% quantiles of Student's t for 1..30 degrees of freedom
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959964


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (NaN for df < 1)."""
    if df < 1:
        return math.nan
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975  # Cornish-Fisher expansion: error < 1e-4 beyond 30 degrees of freedom
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def ci_half_width(std: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Half-widths t(0.975, n-1)·s/√n for arrays of sample std and counts (NaN where n < 2)."""
    n = np.asarray(n, dtype=float)
    t = np.array([t975(int(k) - 1) if k >= 2 else math.nan for k in n])
    with np.errstate(invalid="ignore", divide="ignore"):
        return t * np.asarray(std, dtype=float) / np.sqrt(n)


def clipped_ci(mean, half, lo: float | None = None, hi: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``mean ± half`` clipped to ``[lo, hi]`` (NaN stays NaN)."""
    mean, half = np.asarray(mean, dtype=float), np.asarray(half, dtype=float)
    low, high = mean - half, mean + half
    if lo is not None or hi is not None:
        low, high = np.clip(low, lo, hi), np.clip(high, lo, hi)
    return low, high


def wilson(successes, n, z: float = _Z975) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a share ``successes / n`` (NaN where n == 0)."""
    k, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def mean_ci(values, lo: float | None = None, hi: float | None = None) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of ``values`` ignoring NaN; low/high are NaN for n < 2, clipped to [lo, hi]."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, math.nan, math.nan, n
    h = float(ci_half_width(np.array([v.std(ddof=1)]), np.array([n]))[0])
    low, high = clipped_ci(m, h, lo, hi)
    return m, float(low), float(high), n


def share_ci(values) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of per-respondent shares in [0, 1], ignoring NaN: :func:`mean_ci` clipped to
    [0, 1], or, where all ``n >= 2`` shares are equal (no spread: t has no width, "0% (95% CI 0%–0%)"), the
    Wilson interval of that share with the ``n`` respondents as trials."""
    m, lo, hi, n = mean_ci(values, 0.0, 1.0)
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if n >= 2 and np.ptp(v) == 0:
        low, high = wilson(m * n, n)
        lo, hi = float(low), float(high)
    return m, lo, hi, n
