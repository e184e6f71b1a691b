"""Assemble the study report: summary tables, interactive figures, key moments, method section."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd
import plotly.io as pio

from affectlens.labels import EMOTIONS
from affectlens.report import figures, stimulus
from affectlens.report.headline import (
    executive_summary,
    headline,
    interval,
    panel_rows,
    respondents_read,
    second_span,
)
from affectlens.report.method import METHOD_HTML
from affectlens.report.norms import Norms
from affectlens.studies.aggregate import n_seconds
from affectlens.studies.models import Study
from affectlens.studies.results import StudyTables
from affectlens.studies.stats import mean_ci

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222}
h1{margin-bottom:0} .sub{color:#666;margin-top:4px}
table{border-collapse:collapse;margin:8px 0 20px} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f5} td.num{text-align:right}
.moments{display:flex;flex-wrap:wrap;gap:14px} .moment{width:320px;font-size:14px}
.moment img{width:320px;border:1px solid #ccc;display:block} .fig{margin:10px 0 24px}
dl.method dt{font-weight:600;margin-top:10px} dl.method dd{margin-left:16px}
.note{color:#8a6d3b;background:#fcf8e3;padding:6px 10px;border:1px solid #faebcc}
a.csv{font-size:13px} table.headline th{width:240px} p.exec{font-size:16px;max-width:900px;line-height:1.45}
@media print{body{margin:0;max-width:none;font-size:11pt} h2{break-before:auto;break-after:avoid}
 .fig,.moment,table{break-inside:avoid} .modebar{display:none!important} a{color:inherit;text-decoration:none}}
@page{size:A4;margin:14mm}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _num(x, fmt: str = "{:.2f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return fmt.format(x)


def _table(df: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    formats = formats or {}
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = []
        for c in df.columns:
            v = row[c]
            if isinstance(v, int | float) and not isinstance(v, bool):
                cells.append(f'<td class="num">{_e(_num(v, formats.get(c, "{:.2f}")))}</td>')
            else:
                cells.append(f"<td>{_e('' if v is None or v != v else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fig(fig, data: pd.DataFrame | None = None, name: str = "chart") -> str:
    """A chart, with a link that downloads the data it shows as CSV (a data: URI: works offline)."""
    div = pio.to_html(fig, include_plotlyjs=False, full_html=False, config={"displaylogo": False, "responsive": True})
    link = ""
    if data is not None and len(data):
        payload = base64.b64encode(data.to_csv(index=False).encode("utf-8")).decode("ascii")
        link = (
            f'<a class="csv" download="{_e(name)}.csv" href="data:text/csv;charset=utf-8;base64,{payload}">'
            "download this chart's data (CSV)</a>"
        )
    return f'<div class="fig">{div}{link}</div>'


_NORM_OF = {
    "mean engagement (0-100)": "engagement",
    "mean attention (0-1)": "attention",
    "positive moments": "positive",
    "negative moments": "negative",
}


def _headline(study: Study, t: StudyTables, norms: Norms | None = None) -> str:
    h = headline(t, study.stimulus_duration_s)
    rows = []
    for k, v in panel_rows(h):
        norm = ""
        if norms is not None:
            norm = f"<td class='norm'>{_e(norms.line(_NORM_OF[k]) if k in _NORM_OF else '')}</td>"
        rows.append(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td>{norm}</tr>")
    head = "<tr><th></th><th>this study</th><th>among your studies</th></tr>" if norms is not None else ""
    summary = " ".join(_e(s) for s in executive_summary(h))
    return f'<table class="headline">{head}{"".join(rows)}</table><p class="exec">{summary}</p>'


def _summary(study: Study, t: StudyTables) -> str:
    recs = t.recordings
    status = recs["status"].value_counts().to_dict() if len(recs) else {}
    ps = t.per_second
    means = ["engagement", "attention", "valence_score", *(f"p_{c}" for c in EMOTIONS)]
    per_resp = ps.groupby("respondent")[means].mean() if len(ps) else pd.DataFrame(columns=means, dtype=float)
    m, lo, hi, n = mean_ci(per_resp["engagement"].to_numpy(), 0.0, 100.0)
    p_mean = per_resp[[f"p_{c}" for c in EMOTIONS]].mean() if len(ps) else None  # each respondent weighs the same
    dominant = EMOTIONS[int(p_mean.to_numpy().argmax())] if p_mean is not None else "–"
    rows = [
        ("stimulus", f"{Path(study.stimulus_path).name} ({study.stimulus_duration_s:.1f} s)"),
        ("recordings", ", ".join(f"{v} {k}" for k, v in sorted(status.items())) or "none"),
        ("expression model", study.model_name or "the default"),
        ("respondents analysed", respondents_read(len(per_resp), n)),
        ("mean engagement (0-100)", interval((m, lo, hi), "{:.2f}")),
        ("mean attention (0-1)", _num(per_resp["attention"].mean()) if len(ps) else "–"),
        ("mean valence score", _num(per_resp["valence_score"].mean()) if len(ps) else "–"),
        ("dominant emotion (mean probability)", dominant),
    ]
    info = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{info}</table>" + _respondents(t)


def _respondents(t: StudyTables) -> str:
    recs = t.recordings
    if recs.empty:
        return '<p class="note">No recordings yet: add some with <code>affectlens study add</code>.</p>'
    ps = t.per_second
    if len(ps):
        g = ps.groupby("respondent")
        stats = pd.DataFrame(
            {
                "seconds": g.size(),
                "mean engagement": g["engagement"].mean(),
                "mean attention": g["attention"].mean(),
                "dominant emotion": g[[f"p_{c}" for c in EMOTIONS]].mean().idxmax(axis=1).str[2:],
            }
        )
        recs = recs.merge(stats, left_on="respondent", right_index=True, how="left")
    cols = [c for c in recs.columns if c not in ("frames", "duration_s")]
    return _table(recs[cols], {"offset_s": "{:.2f}", "face_frames": "{:.0f}", "seconds": "{:.0f}"})


def _moments(study: Study, t: StudyTables) -> str:
    km = t.key_moments
    if km.empty:
        return (
            "<p>No key moments: no second stands out from the curve by the minimum prominence "
            "(5 engagement points, 0.05 of probability), or no respondent data yet.</p>"
        )
    dur = study.stimulus_duration_s
    times = {int(s): min(s + 0.5, max(dur - 1e-3, 0.0)) for s in km["second"]}
    thumbs: dict[float, str] = {}
    note = ""
    if Path(study.stimulus_path).is_file():
        from affectlens.studies.media import frames_at, jpeg_data_uri

        thumbs = {t_: jpeg_data_uri(img) for t_, img in frames_at(study.stimulus_path, list(times.values())).items()}
    else:
        note = f'<p class="note">Stimulus {_e(study.stimulus_path)} not found: thumbnails left out.</p>'
    cards = []
    for _, r in km.iterrows():
        s = int(r["second"])
        uri = thumbs.get(times[s])
        img = f'<img alt="stimulus at {s} s" src="{uri}">' if uri else ""
        value = f"{r['value']:.1f}" if r["metric"] == "engagement" else f"{r['value']:.2f}"
        cards.append(
            f'<div class="moment">{img}<b>{_e(r["metric"])} {_e(r["kind"])}</b> at {second_span(s, dur)}: '
            f"{_e(value)} ({int(r['n_respondents'])} respondents)</div>"
        )
    return note + f'<div class="moments">{"".join(cards)}</div>'


def _warnings(study: Study, t: StudyTables) -> str:
    """What a reader must know before trusting a number: coverage and small groups."""
    tl, notes = t.timeline, []
    covered = int((tl["n_respondents"] > 0).sum()) if len(tl) else 0
    if len(tl) and covered < len(tl):
        notes.append(
            f"The recordings cover {covered} of the {len(tl)} seconds of the stimulus "
            f"({study.stimulus_duration_s:.1f} s); the other seconds have no data."
        )
    low = figures.low_coverage_seconds(tl)
    if low and covered:
        notes.append(
            f"{len(low)} second(s) have fewer than {figures.MIN_RESPONDENTS} respondents: they are greyed out in "
            "the curves and their means say little."
        )
    if not t.comparison.empty:
        small = t.comparison[t.comparison["n_respondents"] < figures.MIN_RESPONDENTS]
        for _, r in small.iterrows():
            notes.append(
                f"The group {r['key']} = {r['value']} has {int(r['n_respondents'])} respondent(s): its interval is "
                "wide or missing, and differences from other groups cannot be told from chance."
            )
    return "".join(f'<p class="note">{_e(n)}</p>' for n in notes)


_COLUMN_NAMES = {
    "key": "tag",
    "value": "value",
    "n_respondents": "respondents",
    "n_engagement": "engagement read for",
    "engagement_mean": "mean engagement",
    "engagement_ci_low": "engagement 95% CI low",
    "engagement_ci_high": "engagement 95% CI high",
    "attention_mean": "mean attention",
    "valence_score": "valence score",
    "mean_p_happiness": "mean P(happiness)",
}


def _comparison(t: StudyTables) -> str:
    if t.comparison.empty:
        return "<p>No tags: add recordings with <code>--tag key=value</code> to compare groups.</p>"
    cols = [
        "key",
        "value",
        "n_respondents",
        "n_engagement",
        "engagement_mean",
        "engagement_ci_low",
        "engagement_ci_high",
        "attention_mean",
        "valence_score",
        "mean_p_happiness",
    ]
    table = t.comparison[[c for c in cols if c in t.comparison]].rename(columns=_COLUMN_NAMES)
    keys = sorted(t.group_timelines["key"].unique()) if len(t.group_timelines) else []
    segs = figures.segments(t.group_timelines, t.segment_seconds)
    figs = "".join(_fig(f, _segment_data(t, k), f"segments-{k}") for f, k in zip(segs, keys, strict=True))
    return _table(table, {"respondents": "{:.0f}"}) + _segment_table(t) + figs


def _cols(tl: pd.DataFrame, *prefixes: str) -> pd.DataFrame:
    """The timeline's ``second`` and the columns starting with any of ``prefixes``."""
    return tl[["second", *(c for c in tl.columns if c != "second" and c.startswith(prefixes))]]


def _segment_data(t: StudyTables, key: str) -> pd.DataFrame:
    """A tag's group curves, each second with whether the groups differ significantly then."""
    g = t.group_timelines[t.group_timelines["key"] == key]
    sig = t.segment_seconds[(t.segment_seconds["key"] == key) & t.segment_seconds["significant"]]
    marks = sig.groupby("second")["metric"].agg(lambda m: ";".join(sorted(set(m)))).rename("significant_metrics")
    return g.merge(marks, left_on="second", right_index=True, how="left")


def _segment_table(t: StudyTables) -> str:
    seg = t.segments
    if seg.empty:
        return "<p class='note'>No group differences tested: each compared group needs at least 2 respondents.</p>"
    shown = seg.assign(
        groups=seg["group_a"] + " vs " + seg["group_b"],
        metric=seg["metric"].map(lambda m: figures.SEGMENT_METRICS.get(m, (m, m))[1]),
        significant=seg["significant"].map({True: "yes", False: "no"}),
    )
    cols = ["key", "groups", "metric", "n_a", "n_b", "mean_a", "mean_b", "difference", "p_value", "q_value"]
    shown = shown[[*cols, "significant"]]
    names = {"key": "tag", "n_a": "n (first)", "n_b": "n (second)", "mean_a": "mean (first)"}
    names |= {"mean_b": "mean (second)", "p_value": "p (permutation)", "q_value": "q (BH)"}
    fmt = {"n (first)": "{:.0f}", "n (second)": "{:.0f}", "p (permutation)": "{:.4f}", "q (BH)": "{:.4f}"}
    fmt |= {"mean (first)": "{:.3g}", "mean (second)": "{:.3g}", "difference": "{:+.3g}"}
    return (
        "<h3>Do the groups differ? (whole stimulus)</h3>"
        + _table(shown.rename(columns=names), fmt)
        + "<p class='note'>Each respondent's mean over the seconds their face was read, compared between two groups "
        "with a permutation test; q is the Benjamini-Hochberg adjusted p-value over all the tag's tests "
        "(significant: q ≤ 0.05). See the method section.</p>"
    )


def build_report(study: Study, t: StudyTables, norms: Norms | None = None) -> str:
    """The whole report as one HTML string (plotly.js inlined: it opens offline)."""
    from plotly.offline import get_plotlyjs

    tl = t.timeline
    sections = [
        ("Headline", _headline(study, t, norms) + _warnings(study, t)),
        ("Stimulus", stimulus.section(study.stimulus_path, study.stimulus_duration_s, study.stimulus_fps)),
        ("Summary", _summary(study, t)),
        (
            "Emotions",
            _fig(figures.emotions(tl), _cols(tl, "mean_p_"), "emotions")
            + _fig(figures.shares(tl), _cols(tl, "share_"), "emotion-shares"),
        ),
        (
            "Valence",
            _fig(figures.valence(tl), _cols(tl, "valence_score", "share_positive", "share_negative"), "valence"),
        ),
        (
            "Engagement and attention",
            _fig(
                figures.with_band(tl, "engagement", "Engagement (95% CI band)", "engagement (0-100)", "#1f77b4"),
                _cols(tl, "engagement_", "n_engagement"),  # (the n of its mean and interval)
                "engagement",
            )
            + _fig(
                figures.with_band(tl, "attention", "Attention (95% CI band)", "attention (0-1)", "#2ca02c"),
                _cols(tl, "attention_", "n_engagement"),
                "attention",
            )
            + _fig(figures.respondents(tl), _cols(tl, "viewers", "n_respondents"), "viewers"),
        ),
        (
            "Respondents",
            _fig(
                figures.heatmap(t.per_second, n_seconds(study.stimulus_duration_s, study.stimulus_fps)),
                t.per_second[["respondent", "second", "engagement"]] if len(t.per_second) else None,
                "engagement-per-respondent",
            ),
        ),
        ("Key moments", _moments(study, t)),
        ("Comparison between tags", _comparison(t)),
    ]
    body = "".join(f"<h2>{_e(title)}</h2>{content}" for title, content in sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Study {_e(study.name)}</title><style>{_CSS}{stimulus.CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>Study {_e(study.name)}</h1>"
        f"<p class='sub'>stimulus {_e(Path(study.stimulus_path).name)} · affectlens study report</p>"
        f"{body}{METHOD_HTML}<script>{stimulus.SYNC_JS}</script></body></html>"
    )
