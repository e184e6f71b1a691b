"""Segments: is one tag group's reaction different from another's? (pure functions, no SciPy)

For every tag key, every pair of its values (groups of respondents) and every metric (engagement,
attention, valence score, each emotion's probability):

* **over the whole stimulus**: each respondent's mean over the seconds their face was read, compared
  between the two groups with a two-sided permutation test of the difference in means;
* **per second**: the same test on that second's per-respondent values.

Permutation tests make no normality assumption and are exact in their size whatever the group
sizes: the group labels are shuffled ``n_permutations`` times among the respondents with a value in
that test (seeded: the report is reproducible) and the p-value is
``(1 + #{|permuted difference| >= |observed|}) / (1 + n)``.

Multiple comparisons are controlled with the Benjamini-Hochberg false discovery rate at ``q``
(0.05): over all metric × pair tests of a key for the whole-stimulus table, and over the seconds of
each key × pair × metric for the per-second marks. A difference is *significant* when its BH-adjusted
p-value (``q_value``) is at most ``q``. Groups of fewer than ``min_group`` respondents are not
tested (NaN p-values): the report says so.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from affectlens.labels import EMOTIONS
from affectlens.studies.aggregate import groups_by_tag

METRICS = ("engagement", "attention", "valence_score", *(f"p_{c}" for c in EMOTIONS))


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN entries are left out and stay NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if not m:
        return out
    order = np.argsort(p[ok])
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adj = np.empty(m)
    adj[order] = np.minimum(ranked, 1.0)
    out[ok] = adj
    return out


def permutation_pvalues(
    x: np.ndarray, in_a: np.ndarray, n_permutations: int = 4000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided permutation test of mean(a) - mean(b) for each column of ``x`` (respondents × tests).

    NaN cells (a respondent without data in that column) are left out of the test: each column's labels
    are shuffled only among the respondents with a value in it, so every shuffle compares groups of the
    observed sizes (shuffling over everyone compared groups of other sizes, some of them empty, and a
    second with 2 values against 10 came out p <= 0.05 three times as often as it should). Columns with
    the same respondents missing share their shuffles. Returns the observed differences and p-values;
    NaN where either group has fewer than 2 values."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    in_a = np.asarray(in_a, dtype=bool)
    have = ~np.isnan(x)
    observed = np.full(x.shape[1], np.nan)
    p = np.full(x.shape[1], np.nan)
    if not x.size:
        return observed, p
    patterns, which = np.unique(have.T, axis=0, return_inverse=True)
    which = np.asarray(which).reshape(-1)
    for k, rows in enumerate(patterns):
        lab = in_a[rows]
        n_a, n_b = int(lab.sum()), int((~lab).sum())
        if n_a < 2 or n_b < 2:
            continue
        cols = np.flatnonzero(which == k)
        vals = x[np.ix_(rows, cols)]
        rng = np.random.default_rng(seed)  # per pattern: a column's p-value does not depend on the others
        shuffled = lab[rng.random((n_permutations, len(lab))).argsort(axis=1)]
        labels = np.vstack([lab, shuffled]).astype(float)
        sum_a = labels @ vals
        d = sum_a / n_a - (vals.sum(axis=0) - sum_a) / n_b
        obs, perm = d[0], d[1:]
        extreme = (np.abs(perm) >= np.abs(obs) - 1e-12).sum(axis=0)
        observed[cols] = obs
        p[cols] = (1 + extreme) / (1 + n_permutations)
    return observed, p


def segment_tests(
    per_second: pd.DataFrame,
    tags: pd.DataFrame,
    metrics: tuple[str, ...] = METRICS,
    q: float = 0.05,
    min_group: int = 2,
    n_permutations: int = 4000,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(whole-stimulus tests, per-second tests) for every key, pair of values and metric."""
    whole, seconds = [], []
    metrics = tuple(m for m in metrics if m in per_second.columns)
    for key, groups in groups_by_tag(per_second, tags).items():
        key_rows = []
        for (va, ma), (vb, mb) in combinations(groups.items(), 2):
            if min(len(ma), len(mb)) < min_group:
                continue
            sub = per_second[per_second["respondent"].isin(ma + mb)]
            for metric in metrics:
                row, per_s = _pair(sub, metric, set(ma), n_permutations)
                key_rows.append({"key": key, "group_a": va, "group_b": vb, "metric": metric} | row)
                if len(per_s):
                    per_s["q_value"] = bh_adjust(per_s["p_value"].to_numpy())
                    seconds.append(per_s.assign(key=key, group_a=va, group_b=vb, metric=metric))
        if key_rows:
            df = pd.DataFrame(key_rows)
            df["q_value"] = bh_adjust(df["p_value"].to_numpy())
            whole.append(df)
    whole_df = pd.concat(whole, ignore_index=True) if whole else pd.DataFrame(columns=_WHOLE)
    sec_df = pd.concat(seconds, ignore_index=True) if seconds else pd.DataFrame(columns=_SECONDS)
    whole_df["significant"] = whole_df["q_value"] <= q
    sec_df["significant"] = sec_df["q_value"] <= q
    return whole_df[_WHOLE], sec_df[_SECONDS]


_WHOLE = ["key", "group_a", "group_b", "metric", "n_a", "n_b", "mean_a", "mean_b", "difference", "p_value"]
_WHOLE += ["q_value", "significant"]
_SECONDS = ["key", "group_a", "group_b", "metric", "second", "difference", "p_value", "q_value", "significant"]


def _pair(sub: pd.DataFrame, metric: str, members_a: set[str], n_permutations: int) -> tuple[dict, pd.DataFrame]:
    wide = sub.pivot_table(index="respondent", columns="second", values=metric, aggfunc="mean")
    in_a = np.array([r in members_a for r in wide.index], dtype=bool)
    per_resp = wide.mean(axis=1, skipna=True).to_numpy() if wide.shape[1] else np.full(len(wide), np.nan)
    diff, p = permutation_pvalues(per_resp, in_a, n_permutations)
    # the test's n: respondents with a value (one whose metric was never read, every face unreadable, has none)
    a, b = in_a & ~np.isnan(per_resp), ~in_a & ~np.isnan(per_resp)
    row = {
        "n_a": int(a.sum()),
        "n_b": int(b.sum()),
        "mean_a": float(per_resp[a].mean()) if a.any() else np.nan,
        "mean_b": float(per_resp[b].mean()) if b.any() else np.nan,
        "difference": float(diff[0]),
        "p_value": float(p[0]),
    }
    d_s, p_s = permutation_pvalues(wide.to_numpy(), in_a, n_permutations, seed=1)
    per_s = pd.DataFrame({"second": wide.columns.astype(int), "difference": d_s, "p_value": p_s})
    return row, per_s
