"""The study's timeline on the stimulus, per second (pure functions on per-respondent seconds).

Every respondent counts once per second (the mean of their frames in it, see :mod:`seconds`):

- ``mean_p_<emotion>``: mean over respondents of their mean probability of the emotion;
- ``share_<emotion>``: share of respondents whose top emotion that second is the emotion;
- ``share_positive|neutral|negative``: the same for the top emotion's valence group;
  ``valence_score``: mean over respondents of P(happiness + surprise) - P(negative emotions);
- ``engagement_mean`` / ``attention_mean`` with ``*_ci_low`` / ``*_ci_high``: 95% confidence
  interval of the mean over respondents, Student's t (see :mod:`stats`); NaN below 2 respondents;
- ``n_respondents``: respondents with at least one face frame in the second.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from affectlens.labels import EMOTIONS
from affectlens.studies.stats import ci_half_width, mean_ci

VALENCES = ("positive", "neutral", "negative")


def n_seconds(duration_s: float) -> int:
    return max(1, math.ceil(duration_s - 1e-9))


def timeline(per_second: pd.DataFrame, duration_s: float, emotions: tuple[str, ...] = EMOTIONS) -> pd.DataFrame:
    """Per-respondent seconds → one row per stimulus second 0 … ceil(duration) - 1 (see module doc)."""
    seconds = pd.Index(range(n_seconds(duration_s)), name="second")
    out = pd.DataFrame(index=seconds)
    ps = per_second
    g = ps.groupby("second")
    out["n_respondents"] = g["respondent"].nunique().reindex(seconds, fill_value=0).astype(int)
    for c in emotions:
        out[f"mean_p_{c}"] = g[f"p_{c}"].mean().reindex(seconds) if len(ps) else np.nan
    for c in emotions:
        out[f"share_{c}"] = _share(ps, "top_emotion", c, seconds)
    for v in VALENCES:
        out[f"share_{v}"] = _share(ps, "valence", v, seconds)
    out["valence_score"] = g["valence_score"].mean().reindex(seconds) if len(ps) else np.nan
    for m in ("engagement", "attention"):
        vals = pd.to_numeric(ps[m], errors="coerce") if len(ps) else pd.Series(dtype=float)
        stats = vals.groupby(ps["second"]).agg(["mean", "std", "count"]).reindex(seconds) if len(ps) else None
        if stats is None:
            out[f"{m}_mean"] = out[f"{m}_ci_low"] = out[f"{m}_ci_high"] = np.nan
            continue
        half = ci_half_width(stats["std"].to_numpy(), stats["count"].fillna(0).to_numpy())
        out[f"{m}_mean"] = stats["mean"]
        out[f"{m}_ci_low"] = stats["mean"] - half
        out[f"{m}_ci_high"] = stats["mean"] + half
    return out.reset_index()


def _share(ps: pd.DataFrame, column: str, value: str, seconds: pd.Index) -> pd.Series:
    if ps.empty:
        return pd.Series(np.nan, index=seconds)
    hit = (ps[column] == value).groupby(ps["second"]).mean()
    return hit.reindex(seconds)


def key_moments(
    tl: pd.DataFrame, k: int = 3, min_gap_s: int = 2, min_share_of_respondents: float = 0.5
) -> pd.DataFrame:
    """Peaks and dips of engagement and peaks of happiness on the timeline.

    Only seconds watched by at least ``min_share_of_respondents`` of the most-watched second's
    respondents count; the ``k`` highest (lowest) seconds are taken greedily, each at least
    ``min_gap_s`` seconds from the ones already taken.
    """
    cols = ["kind", "metric", "second", "value", "n_respondents"]
    if tl.empty or tl["n_respondents"].max() == 0:
        return pd.DataFrame(columns=cols)
    floor = max(1, math.ceil(min_share_of_respondents * tl["n_respondents"].max()))
    ok = tl[tl["n_respondents"] >= floor]
    rows = []
    for kind, metric, column, ascending in (
        ("peak", "engagement", "engagement_mean", False),
        ("dip", "engagement", "engagement_mean", True),
        ("peak", "happiness", "mean_p_happiness", False),
    ):
        cand = ok.dropna(subset=[column]).sort_values([column, "second"], ascending=[ascending, True])
        taken: list[int] = []
        for _, r in cand.iterrows():
            s = int(r["second"])
            if all(abs(s - t) >= min_gap_s for t in taken):
                taken.append(s)
                rows.append((kind, metric, s, float(r[column]), int(r["n_respondents"])))
            if len(taken) == k:
                break
    return pd.DataFrame(rows, columns=cols)


def compare_tags(
    per_second: pd.DataFrame, tags: pd.DataFrame, duration_s: float, emotions: tuple[str, ...] = EMOTIONS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Groups of respondents by tag: (summary per tag value, timeline per tag value).

    ``tags`` has columns respondent, key, value; respondents without a key fall in ``(untagged)``.
    The summary gives, per key and value, the respondents, and the mean over respondents of each
    respondent's mean engagement / attention / valence score / P(emotion) over the stimulus, with
    a 95% CI for engagement. The timeline is :func:`timeline` of each group, with key and value.
    """
    summary_rows, timelines = [], []
    if per_second.empty or tags.empty:
        return pd.DataFrame(), pd.DataFrame()
    p_cols = [f"p_{c}" for c in emotions]
    per_resp = per_second.groupby("respondent")[["engagement", "attention", "valence_score", *p_cols]].mean()
    respondents = sorted(per_second["respondent"].unique())
    for key in sorted(tags["key"].unique()):
        by = dict(tags.loc[tags["key"] == key, ["respondent", "value"]].itertuples(index=False, name=None))
        groups: dict[str, list[str]] = {}
        for r in respondents:
            groups.setdefault(by.get(r, "(untagged)"), []).append(r)
        for value, members in sorted(groups.items()):
            sub = per_resp.loc[members]
            m, lo, hi, n = mean_ci(sub["engagement"])
            row = {"key": key, "value": value, "n_respondents": n if n else len(members)}
            row |= {"engagement_mean": m, "engagement_ci_low": lo, "engagement_ci_high": hi}
            row |= {"attention_mean": sub["attention"].mean(), "valence_score": sub["valence_score"].mean()}
            row |= {f"mean_p_{c}": sub[f"p_{c}"].mean() for c in emotions}
            summary_rows.append(row)
            tl = timeline(per_second[per_second["respondent"].isin(members)], duration_s, emotions)
            timelines.append(tl.assign(key=key, value=value))
    return pd.DataFrame(summary_rows), pd.concat(timelines, ignore_index=True)
