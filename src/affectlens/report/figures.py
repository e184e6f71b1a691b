"""Plotly figures of a study's tables (timelines on the stimulus's seconds)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from affectlens.labels import EMOTIONS

COLOURS = {
    "neutral": "#9e9e9e",
    "happiness": "#f2b600",
    "surprise": "#ff7f0e",
    "sadness": "#1f77b4",
    "anger": "#d62728",
    "disgust": "#2ca02c",
    "fear": "#9467bd",
    "contempt": "#8c564b",
    "positive": "#2ca02c",
    "negative": "#d62728",
}
_LAYOUT = {
    "template": "plotly_white",
    "height": 360,
    "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
    "hovermode": "x unified",
}


def _x(tl: pd.DataFrame) -> pd.Series:
    return tl["second"]


def _axes(fig: go.Figure, title: str, y: str) -> go.Figure:
    fig.update_layout(title=title, **_LAYOUT)
    n = max((len(set(tr.x)) for tr in fig.data if getattr(tr, "x", None) is not None), default=0)  # seconds shown
    fig.update_xaxes(title="stimulus second", dtick=1 if n <= 30 else None)
    fig.update_layout(yaxis_title=y)
    return fig


def emotions(tl: pd.DataFrame) -> go.Figure:
    """Each emotion's mean probability with its 95% band (click a legend entry to show or hide both)."""
    fig = go.Figure()
    x = _x(tl)
    for c in EMOTIONS:
        if f"mean_p_{c}_ci_high" in tl:
            add_band(
                fig, x, tl[f"mean_p_{c}_ci_low"], tl[f"mean_p_{c}_ci_high"], _rgba(COLOURS[c], 0.12), legendgroup=c
            )
        fig.add_scatter(x=x, y=tl[f"mean_p_{c}"], name=c, mode="lines+markers", line_color=COLOURS[c], legendgroup=c)
    fig = _axes(fig, "Emotions: mean probability over respondents, with 95% bands", "mean probability")
    fig.update_yaxes(range=[0, 1])
    return fig


def shares(tl: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for c in EMOTIONS:
        fig.add_bar(x=_x(tl), y=tl[f"share_{c}"], name=c, marker_color=COLOURS[c])
    fig.update_layout(barmode="stack")
    return _axes(fig, "Top emotion: share of respondents", "share of respondents")


def valence(tl: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for v in ("positive", "neutral", "negative"):
        fig.add_bar(x=_x(tl), y=tl[f"share_{v}"], name=f"{v} (share)", marker_color=COLOURS.get(v, "#bdbdbd"))
    fig.add_scatter(
        x=_x(tl), y=tl["valence_score"], name="valence score", mode="lines+markers", yaxis="y2", line_color="#000"
    )
    fig.update_layout(
        barmode="stack",
        yaxis2={
            "title": "valence score",
            "overlaying": "y",
            "side": "right",
            "range": [-1, 1],
            "dtick": 0.5,
            "showgrid": False,
        },
    )
    return _axes(fig, "Valence: share of respondents per group, and valence score", "share of respondents")


def band_runs(x, low, high) -> list[tuple[list, list, list]]:
    """(x, low, high) of each run of consecutive seconds where the interval is defined (both ends not NaN)."""
    x = [float(v) for v in x]
    lo, hi = pd.to_numeric(pd.Series(low), errors="coerce"), pd.to_numeric(pd.Series(high), errors="coerce")
    ok = (lo.notna() & hi.notna()).to_numpy()
    runs: list[tuple[list, list, list]] = []
    for i, (xi, good) in enumerate(zip(x, ok, strict=True)):
        if not good:
            continue
        if runs and i > 0 and ok[i - 1] and xi - x[i - 1] == 1:
            runs[-1][0].append(xi)
            runs[-1][1].append(float(lo.iloc[i]))
            runs[-1][2].append(float(hi.iloc[i]))
        else:
            runs.append(([xi], [float(lo.iloc[i])], [float(hi.iloc[i])]))
    return runs


def add_band(fig: go.Figure, x, low, high, fillcolor: str, name: str | None = None, legendgroup: str | None = None):
    """A confidence band: one closed polygon per run of consecutive seconds with an interval, so a second
    without one (fewer than 2 respondents) leaves a gap instead of a fill joined across it. A lone second
    gets a short vertical bar. The runs share one legend entry (``name``), or none."""
    group = legendgroup or (f"band-{name}" if name else None)
    for k, (xs, lo, hi) in enumerate(band_runs(x, low, high)):
        show = name is not None and k == 0
        if len(xs) == 1:  # a polygon of one second has no area: draw its interval as a bar
            fig.add_scatter(
                x=[xs[0], xs[0]],
                y=[lo[0], hi[0]],
                mode="lines",
                line={"color": fillcolor, "width": 6},
                name=name,
                showlegend=show,
                legendgroup=group,
                hoverinfo="skip",
            )
            continue
        fig.add_scatter(
            x=xs + xs[::-1],
            y=hi + lo[::-1],
            mode="lines",
            line_width=0,
            fill="toself",
            fillcolor=fillcolor,
            name=name,
            showlegend=show,
            legendgroup=group,
            hoverinfo="skip",
        )


MIN_RESPONDENTS = 3  # seconds (and groups) with fewer respondents are greyed out / flagged


def with_band(tl: pd.DataFrame, metric: str, title: str, y: str, colour: str) -> go.Figure:
    """Mean of ``metric`` with its 95% confidence band."""
    fig = go.Figure()
    x = _x(tl)
    add_band(fig, x, tl[f"{metric}_ci_low"], tl[f"{metric}_ci_high"], _rgba(colour, 0.2), name="95% CI")
    fig.add_scatter(x=x, y=tl[f"{metric}_mean"], mode="lines+markers", name=f"mean {metric}", line_color=colour)
    # engagement and attention are read on fewer faces than expressions (face_lost): grey by their own count
    grey_low_coverage(fig, tl, "n_engagement" if metric in ("engagement", "attention") else "n_respondents")
    return _axes(fig, title, y)


def low_coverage_seconds(
    tl: pd.DataFrame, min_respondents: int = MIN_RESPONDENTS, count: str = "n_respondents"
) -> list[int]:
    """Seconds that fewer than ``min_respondents`` respondents (and fewer than the most-watched second's) cover;
    ``count``: the timeline's column of respondents (``n_engagement`` for the engagement and attention curves)."""
    if tl.empty:
        return []
    count = count if count in tl else "n_respondents"
    floor = min(min_respondents, int(tl[count].max()))
    return [int(s) for s, n in zip(tl["second"], tl[count], strict=True) if n < max(floor, 1)]


def grey_low_coverage(fig: go.Figure, tl: pd.DataFrame, count: str = "n_respondents") -> None:
    """Grey out the seconds with too few respondents (their means say little)."""
    for s in low_coverage_seconds(tl, count=count):
        fig.add_vrect(x0=s - 0.5, x1=s + 0.5, fillcolor="#9e9e9e", opacity=0.25, line_width=0, layer="below")


def respondents(tl: pd.DataFrame) -> go.Figure:
    """Viewers still watching each second (drop-off), and those of them whose face was read."""
    fig = go.Figure()
    if "viewers" in tl:
        fig.add_scatter(x=_x(tl), y=tl["viewers"], name="viewers still watching", mode="lines", line={"shape": "hv"})
    fig.add_bar(x=_x(tl), y=tl["n_respondents"], name="respondents with a face read", marker_color="#607d8b")
    if "n_engagement" in tl and (tl["n_engagement"] < tl["n_respondents"]).any():
        fig.add_scatter(x=_x(tl), y=tl["n_engagement"], name="of them, engagement read", mode="markers")
    fig = _axes(fig, "Viewers still watching, and respondents contributing each second", "respondents")
    fig.update_layout(height=260)
    return fig


def heatmap(per_second: pd.DataFrame, n_seconds: int) -> go.Figure:
    """Engagement of every respondent in every second."""
    z = per_second.pivot_table(index="respondent", columns="second", values="engagement", aggfunc="mean")
    # every respondent has a row (one whose face was never readable has an empty one, not none)
    z = z.reindex(index=sorted(per_second["respondent"].unique()), columns=range(n_seconds))
    fig = go.Figure(
        go.Heatmap(
            z=z.to_numpy(),
            x=list(z.columns),
            y=[str(r) for r in z.index],
            colorscale="Viridis",
            zmin=0,
            zmax=100,
            colorbar={"title": "engagement"},
            hoverongaps=False,
        )
    )
    fig = _axes(fig, "Engagement per respondent (blank: no face read that second)", "respondent")
    fig.update_layout(height=max(240, 60 + 28 * len(z.index)), hovermode="closest")
    return fig


#: a segment metric → (its column in a group timeline, how it reads)
SEGMENT_METRICS = {
    "engagement": ("engagement_mean", "engagement (0-100)"),
    "attention": ("attention_mean", "attention (0-1)"),
    "valence_score": ("valence_score", "valence score (-1 to 1)"),
} | {f"p_{c}": (f"mean_p_{c}", f"P({c})") for c in EMOTIONS}


def segments(group_tl: pd.DataFrame, seconds: pd.DataFrame) -> list[go.Figure]:
    """One figure per tag key: every group's curve of a metric chosen from a menu (all metrics), with
    the seconds where two groups differ significantly (BH-controlled permutation tests) starred."""
    figs = []
    for key, sub in group_tl.groupby("key", sort=True):
        fig, spans, buttons = go.Figure(), [], []
        for metric, (column, label) in SEGMENT_METRICS.items():
            if column not in sub:
                continue
            start = len(fig.data)
            for value, g in sub.groupby("value", sort=True):
                fig.add_scatter(x=g["second"], y=g[column], mode="lines", name=f"{key}={value}", legendgroup=value)
            sig = seconds[(seconds["key"] == key) & (seconds["metric"] == metric) & seconds["significant"]]
            if len(sig):
                top = sub.groupby("second")[column].max()
                xs = sorted(set(sig["second"]))
                pairs = [
                    "; ".join(
                        f"{r.group_a} vs {r.group_b}: {r.difference:+.3g}" for r in sig[sig["second"] == x].itertuples()
                    )
                    for x in xs
                ]
                fig.add_scatter(
                    x=xs,
                    y=top.reindex(xs),
                    mode="markers",
                    name="significant difference",
                    marker={"symbol": "star", "size": 12, "color": "#d62728"},
                    text=pairs,
                    hoverinfo="x+text",
                )
            spans.append((metric, label, start, len(fig.data)))
        n = len(fig.data)
        for _, label, a, b in spans:
            visible = [a <= i < b for i in range(n)]
            buttons.append(
                {"label": label, "method": "update", "args": [{"visible": visible}, {"yaxis.title.text": label}]}
            )
        for i, tr in enumerate(fig.data):
            tr.visible = spans[0][2] <= i < spans[0][3] if spans else True
        fig = _axes(fig, f"By {key}: pick a metric; ★ = groups differ that second", spans[0][1] if spans else "")
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.18, "yanchor": "top"}])
        figs.append(fig)
    return figs


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
