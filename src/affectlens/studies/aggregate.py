"""The study's timeline on the stimulus, per second (pure functions on per-respondent seconds).

Every respondent counts once per second (the mean of their frames in it, see :mod:`seconds`):

- ``mean_p_<emotion>``: mean over respondents of their mean probability of the emotion, with
  ``mean_p_<emotion>_ci_low|high`` (Student's t 95% interval clipped to [0, 1]);
- ``share_<emotion>``: share of respondents whose top emotion that second is the emotion;
- ``share_positive|neutral|negative``: the same for the top emotion's valence group;
  ``valence_score``: mean over respondents of P(happiness + surprise) - P(negative emotions);
- ``engagement_mean`` / ``attention_mean`` with ``*_ci_low`` / ``*_ci_high``: 95% confidence
  interval of the mean over respondents, Student's t clipped to the metric's range (engagement
  0-100, attention 0-1; see :mod:`stats`); NaN below 2 respondents;
- ``share_positive|negative_ci_low|high``: Wilson 95% interval of those shares;
- ``n_respondents``: respondents with at least one face frame in the second (their expressions read);
- ``n_engagement``: of them, those whose engagement was read (a face the face mesh cannot read, ``face_lost``,
  has expressions but no engagement or attention): the n of ``engagement_mean`` and ``attention_mean``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from affectlens.labels import EMOTIONS
from affectlens.studies.stats import ci_half_width, clipped_ci, mean_ci, wilson

VALENCES = ("positive", "neutral", "negative")
RANGES = {"engagement": (0.0, 100.0), "attention": (0.0, 1.0)}


def n_seconds(duration_s: float, fps: float | None = None) -> int:
    """Seconds of the stimulus timeline: those a frame can start in.

    ``duration_s`` ends with the last frame's display, and frames are binned by their start time: with the
    frame rate known, the last second is the one the last frame starts in (an NTSC ad of 450 frames at
    29.97 fps lasts 15.015 s but has 15 seconds, not a 16th that no frame can fall in). Without it,
    ``ceil(duration)``."""
    n = max(1, math.ceil(duration_s - 1e-9))
    if fps and fps > 0:
        last_start = duration_s - 1.0 / fps  # 1e-3: the duration is stored to 4 decimals
        n = min(n, max(1, math.floor(last_start + 1e-3) + 1))
    return n


def timeline(
    per_second: pd.DataFrame, duration_s: float, emotions: tuple[str, ...] = EMOTIONS, fps: float | None = None
) -> pd.DataFrame:
    """Per-respondent seconds → one row per stimulus second 0 … :func:`n_seconds` - 1 (see module doc)."""
    seconds = pd.Index(range(n_seconds(duration_s, fps)), name="second")
    out = pd.DataFrame(index=seconds)
    ps = per_second
    g = ps.groupby("second")
    out["n_respondents"] = g["respondent"].nunique().reindex(seconds, fill_value=0).astype(int)
    for c in emotions:
        out[f"mean_p_{c}"] = g[f"p_{c}"].mean().reindex(seconds) if len(ps) else np.nan
    for c in emotions:  # 95% CI of each mean probability, clipped to [0, 1]
        if not len(ps):
            out[f"mean_p_{c}_ci_low"] = out[f"mean_p_{c}_ci_high"] = np.nan
            continue
        st = g[f"p_{c}"].agg(["std", "count"]).reindex(seconds)
        half = ci_half_width(st["std"].to_numpy(), st["count"].fillna(0).to_numpy())
        out[f"mean_p_{c}_ci_low"], out[f"mean_p_{c}_ci_high"] = clipped_ci(out[f"mean_p_{c}"], half, 0.0, 1.0)
    for c in emotions:
        out[f"share_{c}"] = _share(ps, "top_emotion", c, seconds)
    for v in VALENCES:
        out[f"share_{v}"] = _share(ps, "valence", v, seconds)
    for v in ("positive", "negative"):
        hits = (out[f"share_{v}"] * out["n_respondents"]).round()
        out[f"share_{v}_ci_low"], out[f"share_{v}_ci_high"] = wilson(hits, out["n_respondents"].replace(0, np.nan))
    out["valence_score"] = g["valence_score"].mean().reindex(seconds) if len(ps) else np.nan
    for m in ("engagement", "attention"):
        vals = pd.to_numeric(ps[m], errors="coerce") if len(ps) else pd.Series(dtype=float)
        stats = vals.groupby(ps["second"]).agg(["mean", "std", "count"]).reindex(seconds) if len(ps) else None
        if stats is None:
            out[f"{m}_mean"] = out[f"{m}_ci_low"] = out[f"{m}_ci_high"] = np.nan
            if m == "engagement":
                out["n_engagement"] = 0
            continue
        half = ci_half_width(stats["std"].to_numpy(), stats["count"].fillna(0).to_numpy())
        if m == "engagement":  # respondents whose engagement was read (not only their expression): its mean's n
            out["n_engagement"] = stats["count"].fillna(0).astype(int)
        out[f"{m}_mean"] = stats["mean"]
        out[f"{m}_ci_low"], out[f"{m}_ci_high"] = clipped_ci(stats["mean"], half, *RANGES[m])
    return out.reset_index()


def _share(ps: pd.DataFrame, column: str, value: str, seconds: pd.Index) -> pd.Series:
    if ps.empty:
        return pd.Series(np.nan, index=seconds)
    hit = (ps[column] == value).groupby(ps["second"]).mean()
    return hit.reindex(seconds)


MOMENT_METRICS = (  # (metric, timeline column, minimum prominence: distance from the curve's median)
    ("engagement", "engagement_mean", 5.0),
    ("happiness", "mean_p_happiness", 0.05),
)


def key_moments(
    tl: pd.DataFrame, k: int = 3, min_gap_s: int = 2, min_share_of_respondents: float = 0.5
) -> pd.DataFrame:
    """Peaks and dips of engagement and of P(happiness) on the timeline.

    Only seconds with a face read for at least ``min_share_of_respondents`` of the best-covered second's
    respondents count (for engagement, respondents whose engagement was read: ``n_engagement``; the moment's
    ``n_respondents`` is that count). A peak lies at least the metric's prominence (5 engagement
    points, 0.05 of probability) above the curve's median, a dip as far below it, so one second is never
    both and a flat curve has none; a probability peak also needs a value over 0.05. The ``k`` most
    extreme seconds of each kind are taken greedily, each at least ``min_gap_s`` seconds from those
    taken.
    """
    cols = ["kind", "metric", "second", "value", "n_respondents", "prominence"]
    if tl.empty or tl["n_respondents"].max() == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    for metric, column, prominence in MOMENT_METRICS:
        # each metric's own coverage: engagement is read on fewer faces than expressions (face_lost)
        count = "n_engagement" if metric == "engagement" and "n_engagement" in tl else "n_respondents"
        if tl[count].max() == 0:
            continue
        floor = max(1, math.ceil(min_share_of_respondents * tl[count].max()))
        cand = tl[tl[count] >= floor].dropna(subset=[column]).assign(n_respondents=lambda d, c=count: d[c])
        if cand.empty:
            continue
        median = float(cand[column].median())
        for kind, sign in (("peak", 1.0), ("dip", -1.0)):
            strong = cand[sign * (cand[column] - median) >= prominence]
            if kind == "peak" and metric != "engagement":
                strong = strong[strong[column] > 0.05]
            rows += _greedy(strong, column, kind, metric, median, k, min_gap_s, ascending=sign < 0)
    return pd.DataFrame(rows, columns=cols)


def _greedy(cand: pd.DataFrame, column: str, kind: str, metric: str, median: float, k: int, gap: int, ascending: bool):
    rows, taken = [], []
    for _, r in cand.sort_values([column, "second"], ascending=[ascending, True]).iterrows():
        s = int(r["second"])
        if all(abs(s - t) >= gap for t in taken):
            taken.append(s)
            v = float(r[column])
            rows.append((kind, metric, s, v, int(r["n_respondents"]), round(abs(v - median), 4)))
        if len(taken) == k:
            break
    return rows


UNTAGGED = "(untagged)"


def groups_by_tag(per_second: pd.DataFrame, tags: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    """tag key → value → its respondents (those of ``per_second``; without the key: ``(untagged)``)."""
    respondents = sorted(per_second["respondent"].unique()) if len(per_second) else []
    out: dict[str, dict[str, list[str]]] = {}
    for key in sorted(tags["key"].unique()) if len(tags) else []:
        by = dict(tags.loc[tags["key"] == key, ["respondent", "value"]].itertuples(index=False, name=None))
        groups: dict[str, list[str]] = {}
        for r in respondents:
            groups.setdefault(by.get(r, UNTAGGED), []).append(r)
        out[key] = dict(sorted(groups.items()))
    return out


def compare_tags(
    per_second: pd.DataFrame,
    tags: pd.DataFrame,
    duration_s: float,
    emotions: tuple[str, ...] = EMOTIONS,
    fps: float | None = None,
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
    for key, groups in groups_by_tag(per_second, tags).items():
        for value, members in groups.items():
            sub = per_resp.loc[members]
            m, lo, hi, n = mean_ci(sub["engagement"], *RANGES["engagement"])
            # respondents in the group (a face read); the engagement interval's n may be fewer (faces unreadable)
            row = {"key": key, "value": value, "n_respondents": len(sub), "n_engagement": n}
            row |= {"engagement_mean": m, "engagement_ci_low": lo, "engagement_ci_high": hi}
            row |= {"attention_mean": sub["attention"].mean(), "valence_score": sub["valence_score"].mean()}
            row |= {f"mean_p_{c}": sub[f"p_{c}"].mean() for c in emotions}
            summary_rows.append(row)
            tl = timeline(per_second[per_second["respondent"].isin(members)], duration_s, emotions, fps)
            timelines.append(tl.assign(key=key, value=value))
    return pd.DataFrame(summary_rows), pd.concat(timelines, ignore_index=True)
