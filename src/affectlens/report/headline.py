"""The figures an ad-testing report leads with, each with its interval, and a plain-words summary built
only from them (no figure appears in the summary that is not in the panel)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from affectlens.studies.results import StudyTables
from affectlens.studies.stats import mean_ci


@dataclass
class Headline:
    respondents: int
    engagement: tuple[float, float, float]  # mean over respondents of their mean, 95% CI low, high
    attention: tuple[float, float, float]
    positive: tuple[float, float, float]  # mean over respondents of their share of positive seconds, 95% CI
    negative: tuple[float, float, float]
    peak: tuple[int, float] | None  # (second, engagement) of the strongest engagement peak
    weakest: tuple[int, float] | None  # (second, engagement) of the deepest dip


def headline(t: StudyTables) -> Headline:
    ps = t.per_second
    if ps.empty:
        nan3 = (math.nan,) * 3
        return Headline(0, nan3, nan3, nan3, nan3, None, None)
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
    shares = {v: mean_ci(per_resp[v].to_numpy(), 0.0, 1.0)[:3] for v in ("positive", "negative")}
    km = t.key_moments
    eng_km = km[km["metric"] == "engagement"] if len(km) else km
    peaks = eng_km[eng_km["kind"] == "peak"].sort_values("value", ascending=False) if len(eng_km) else eng_km
    dips = eng_km[eng_km["kind"] == "dip"].sort_values("value") if len(eng_km) else eng_km
    return Headline(
        respondents=eng[3],
        engagement=eng[:3],
        attention=att[:3],
        positive=shares["positive"],
        negative=shares["negative"],
        peak=(int(peaks.iloc[0]["second"]), float(peaks.iloc[0]["value"])) if len(peaks) else None,
        weakest=(int(dips.iloc[0]["second"]), float(dips.iloc[0]["value"])) if len(dips) else None,
    )


def _interval(x: tuple[float, float, float], fmt: str) -> str:
    m, lo, hi = x
    if math.isnan(m):
        return "–"
    band = f" (95% CI {fmt.format(lo)}–{fmt.format(hi)})" if not math.isnan(lo) else " (no interval: one respondent)"
    return fmt.format(m) + band


def panel_rows(h: Headline) -> list[tuple[str, str]]:
    return [
        ("respondents", str(h.respondents)),
        ("mean engagement (0-100)", _interval(h.engagement, "{:.1f}")),
        ("mean attention (0-1)", _interval(h.attention, "{:.2f}")),
        ("positive moments", _interval(tuple(100 * v for v in h.positive), "{:.0f}%")),
        ("negative moments", _interval(tuple(100 * v for v in h.negative), "{:.0f}%")),
        ("peak moment", f"{h.peak[0]}–{h.peak[0] + 1} s (engagement {h.peak[1]:.1f})" if h.peak else "none stands out"),
        (
            "weakest moment",
            f"{h.weakest[0]}–{h.weakest[0] + 1} s (engagement {h.weakest[1]:.1f})" if h.weakest else "none stands out",
        ),
    ]


def executive_summary(h: Headline) -> list[str]:
    """Plain sentences, each built from one figure of the panel."""
    if h.respondents == 0:
        return ["No respondent has been analysed yet."]
    out = [f"{h.respondents} respondent{'s' if h.respondents != 1 else ''} watched the stimulus."]
    m, lo, hi = h.engagement
    level = "high" if m >= 70 else "moderate" if m >= 45 else "low"
    out.append(
        f"Engagement was {level}: {m:.0f} of 100 on average"
        + (f", and with 95% confidence between {lo:.0f} and {hi:.0f}." if not math.isnan(lo) else ".")
    )
    pos, neg = h.positive[0], h.negative[0]
    if pos > neg:
        out.append(f"Positive expressions ({pos:.0%} of the moments) outweighed negative ones ({neg:.0%}).")
    elif neg > pos:
        out.append(f"Negative expressions ({neg:.0%} of the moments) outweighed positive ones ({pos:.0%}).")
    else:
        out.append(f"Positive and negative expressions were as frequent ({pos:.0%} of the moments each).")
    if h.peak:
        out.append(f"Engagement peaked at {h.peak[0]}–{h.peak[0] + 1} s ({h.peak[1]:.0f}).")
    if h.weakest:
        out.append(f"It was weakest at {h.weakest[0]}–{h.weakest[0] + 1} s ({h.weakest[1]:.0f}).")
    if not h.peak and not h.weakest:
        out.append("No second stood out from the rest of the stimulus.")
    if h.respondents < 3:
        out.append("With so few respondents these figures are indicative only.")
    return out
