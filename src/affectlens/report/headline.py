"""The figures an ad-testing report leads with, each with its interval, and a plain-words summary built
only from them (no figure appears in the summary that is not in the panel)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from affectlens.studies.results import StudyTables
from affectlens.studies.stats import mean_ci, share_ci


@dataclass
class Headline:
    respondents: int
    engagement: tuple[float, float, float]  # mean over respondents of their mean, 95% CI low, high
    attention: tuple[float, float, float]
    positive: tuple[float, float, float]  # mean over respondents of their share of positive seconds, 95% CI
    negative: tuple[float, float, float]
    peak: tuple[int, float] | None  # (second, engagement) of the strongest engagement peak
    weakest: tuple[int, float] | None  # (second, engagement) of the deepest dip
    duration_s: float | None = None  # the stimulus's: a key moment in its last, partial second ends with it
    engagement_n: int = -1  # respondents whose engagement was read (-1: as many as ``respondents``)

    def __post_init__(self):
        if self.engagement_n < 0:
            self.engagement_n = self.respondents


def second_end(s: int, duration: float | None) -> str:
    """Where second ``s`` ends: ``s + 1``, or the stimulus's end in its last, partial second ("9–9.18 s"),
    with the decimals it takes to read past ``s`` (2, more for an end within 0.005 s of it)."""
    if duration is None or s + 1 <= duration:
        return str(s + 1)
    for d in range(2, 7):
        text = f"{duration:.{d}f}".rstrip("0").rstrip(".")
        if float(text) > s:
            return text
    return text


def second_span(s: int, duration: float | None) -> str:
    """Second ``s`` on the stimulus, as the report prints it: "3–4 s", "9–9.18 s" at the end."""
    return f"{s}–{second_end(s, duration)} s"


def percent(share: float) -> str:
    """A share as a whole percentage, never rounded to 0 % or 100 % when it is not exactly that."""
    if math.isnan(share):
        return "–"
    v = 100 * share
    if 0 < v < 0.5:
        return "<1%"
    if 99.5 <= v < 100:
        return ">99%"
    return f"{v:.0f}%"


def headline(t: StudyTables, duration_s: float | None = None) -> Headline:
    ps = t.per_second
    if ps.empty:
        nan3 = (math.nan,) * 3
        return Headline(0, nan3, nan3, nan3, nan3, None, None, duration_s, 0)
    # every figure is a mean over respondents of each one's own mean: the respondent is the unit of the
    # interval (seconds of one person are not independent trials) and a longer watch weighs no more
    per_resp = (
        ps.assign(
            positive=(ps["valence"] == "positive").astype(float), negative=(ps["valence"] == "negative").astype(float)
        )
        .groupby("respondent")[["engagement", "attention", "positive", "negative"]]
        .mean()
    )
    eng = mean_ci(per_resp["engagement"].to_numpy(), 0.0, 100.0)
    att = mean_ci(per_resp["attention"].to_numpy(), 0.0, 1.0)
    shares = {v: share_ci(per_resp[v].to_numpy())[:3] for v in ("positive", "negative")}
    km = t.key_moments
    eng_km = km[km["metric"] == "engagement"] if len(km) else km
    peaks = eng_km[eng_km["kind"] == "peak"].sort_values("value", ascending=False) if len(eng_km) else eng_km
    dips = eng_km[eng_km["kind"] == "dip"].sort_values("value") if len(eng_km) else eng_km
    return Headline(
        respondents=len(per_resp),  # every respondent with a face read (an unreadable one still has expressions)
        engagement_n=eng[3],
        engagement=eng[:3],
        attention=att[:3],
        positive=shares["positive"],
        negative=shares["negative"],
        peak=(int(peaks.iloc[0]["second"]), float(peaks.iloc[0]["value"])) if len(peaks) else None,
        weakest=(int(dips.iloc[0]["second"]), float(dips.iloc[0]["value"])) if len(dips) else None,
        duration_s=duration_s,
    )


def interval(x: tuple[float, float, float], fmt, bound_fmt=None) -> str:
    """ "m (95% CI lo–hi)", "m (no interval: one respondent)", or "–" without a value; ``fmt`` (of the
    value) and ``bound_fmt`` (of the bounds, default ``fmt``) are format strings or functions."""

    def show_with(f):
        return f.format if isinstance(f, str) else f

    show, bound = show_with(fmt), show_with(bound_fmt or fmt)
    m, lo, hi = x
    if math.isnan(m):
        return "–"
    band = f" (95% CI {bound(lo)}–{bound(hi)})" if not math.isnan(lo) else " (no interval: one respondent)"
    return show(m) + band


def respondents_read(respondents: int, engagement_n: int) -> str:
    """``"6"``, or ``"6 (engagement read for 2)"`` where some respondents' faces could not be read."""
    return f"{respondents}" + (f" (engagement read for {engagement_n})" if engagement_n < respondents else "")


def panel_rows(h: Headline) -> list[tuple[str, str]]:
    return [
        ("respondents", respondents_read(h.respondents, h.engagement_n)),
        ("mean engagement (0-100)", interval(h.engagement, "{:.1f}")),
        ("mean attention (0-1)", interval(h.attention, "{:.2f}")),
        ("positive moments", interval(h.positive, percent, _whole_percent)),
        ("negative moments", interval(h.negative, percent, _whole_percent)),
        ("peak moment", _moment(h.peak, h.duration_s)),
        ("weakest moment", _moment(h.weakest, h.duration_s)),
    ]


def _whole_percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def _moment(m: tuple[int, float] | None, duration: float | None) -> str:
    return f"{second_span(m[0], duration)} (engagement {m[1]:.1f})" if m else "none stands out"


def executive_summary(h: Headline) -> list[str]:
    """Plain sentences, each built from one figure of the panel."""
    if h.respondents == 0:
        return ["No respondent has been analysed yet."]
    n = h.respondents
    out = [
        f"{n} respondent{'s' if n != 1 else ''} had {'their faces' if n != 1 else 'their face'} read while watching."
    ]
    if h.engagement_n < n:
        out.append(
            f"Engagement could be read for {h.engagement_n} of them: the face mesh could not read the others' faces "
            "(too dim, small or hidden), whose expressions still count."
        )
    m, lo, hi = h.engagement
    if not math.isnan(m):
        shown = float(f"{m:.0f}")  # the level word follows the number printed (69.6 reads "70": high)
        level = "high" if shown >= 70 else "moderate" if shown >= 45 else "low"
        out.append(
            f"Engagement was {level}: {m:.0f} of 100 on average"
            + (f", and with 95% confidence between {lo:.0f} and {hi:.0f}." if not math.isnan(lo) else ".")
        )
    pos, neg = h.positive[0], h.negative[0]
    if percent(pos) == percent(neg):  # the wording follows the figures printed, not the unrounded shares
        out.append(f"Positive and negative expressions were about as frequent ({percent(pos)} of the moments each).")
    elif pos > neg:
        out.append(f"Positive expressions ({percent(pos)} of the moments) outweighed negative ones ({percent(neg)}).")
    else:
        out.append(f"Negative expressions ({percent(neg)} of the moments) outweighed positive ones ({percent(pos)}).")
    if h.peak:
        out.append(f"Engagement peaked at {second_span(h.peak[0], h.duration_s)} ({h.peak[1]:.0f}).")
    if h.weakest:
        out.append(f"It was weakest at {second_span(h.weakest[0], h.duration_s)} ({h.weakest[1]:.0f}).")
    if not h.peak and not h.weakest:
        out.append("No second stood out from the rest of the stimulus.")
    if h.respondents < 3:
        out.append("With so few respondents these figures are indicative only.")
    return out
