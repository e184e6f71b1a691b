"""Report and timeline edge cases found in review: NTSC frame rates, gaps in the bands, key moments at the
stimulus's end, rounding and intervals in the headline, and the words of the summary."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectlens.labels import EMOTIONS
from affectlens.report import build_report
from affectlens.report.stimulus import filmstrip_times
from affectlens.studies.aggregate import compare_tags, key_moments, n_seconds, timeline
from affectlens.studies.media import probe
from affectlens.studies.models import DONE, Recording, Study
from affectlens.studies.results import StudyTables, viewers
from affectlens.studies.seconds import per_second
from affectlens.studies.segments import segment_tests
from tests.studies.conftest import clip


def _study(stimulus: Path, duration: float, fps: float | None = None) -> Study:
    return Study(
        name="review",
        stimulus_path=str(stimulus),
        stimulus_sha256="0" * 64,
        stimulus_duration_s=duration,
        stimulus_fps=fps,
        data_dir="/nonexistent",
        created_at=datetime(2026, 1, 1),
    )


def _frames(respondents: list[str], times: np.ndarray, top: str = "happiness", p: float = 0.6, eng: float = 50.0):
    probs = {f"p_{c}": (p if c == top else (1 - p) / (len(EMOTIONS) - 1)) for c in EMOTIONS}
    rows = [
        {"respondent": r, "stimulus_time_s": float(t), "engagement": eng, "attention": 0.5} | probs
        for r in respondents
        for t in times
    ]
    return pd.DataFrame(rows)


def _tables(frames: pd.DataFrame, duration: float, fps: float | None = None) -> StudyTables:
    ps = per_second(frames, duration)
    tl = timeline(ps, duration, fps=fps)
    tags = pd.DataFrame(columns=["respondent", "key", "value"])
    comparison, groups = compare_tags(ps, tags, duration, fps=fps)
    recs = pd.DataFrame({"respondent": sorted(frames["respondent"].unique()), "status": "done"})
    return StudyTables(ps, tl, key_moments(tl), comparison, groups, recs, *segment_tests(ps, tags))


def _ntsc_clip(tmp_path: Path, frames: int = 150) -> Path:
    """The first ``frames`` frames of a real clip, re-encoded at 29.97 fps (30000/1001)."""
    import av

    out = tmp_path / "ntsc.mp4"
    with av.open(str(clip("short_hamilton_clip.mp4"))) as src, av.open(str(out), "w") as dst:
        st = dst.add_stream("mpeg4", rate=Fraction(30000, 1001))
        st.pix_fmt = "yuv420p"
        for n, frame in enumerate(src.decode(video=0)):
            if n == frames:
                break
            if n == 0:
                st.width, st.height = frame.width // 2 * 2, frame.height // 2 * 2
            img = frame.reformat(width=st.width, height=st.height, format="yuv420p")
            img.pts, img.time_base = n, Fraction(1001, 30000)
            dst.mux(st.encode(img))
        dst.mux(st.encode())
    return out


def test_an_ntsc_stimulus_has_no_phantom_last_second(tmp_path):
    """150 frames at 29.97 fps last 5.005 s, but no frame starts after 4.97 s: 5 seconds, all covered."""
    stim = _ntsc_clip(tmp_path)
    info = probe(stim)
    assert info.frames == 150 and info.duration_s > 5.0
    assert n_seconds(info.duration_s, info.fps) == 5
    assert n_seconds(15.015, 30000 / 1001) == 15 and n_seconds(12.04, 25.0) == 13  # a frame starts at 12.0
    assert n_seconds(info.duration_s) == 6  # without the frame rate: ceil, as before
    t = _tables(_frames(["a", "b", "c"], np.arange(150) * 1001 / 30000), info.duration_s, info.fps)
    assert len(t.timeline) == 5 and (t.timeline["n_respondents"] == 3).all()
    study = _study(stim, info.duration_s, info.fps)
    rec = Recording(respondent="a", status=DONE, offset_s=0.0, duration_s=info.duration_s, source="upload")
    assert list(viewers(study, [rec])) == [1] * 5
    assert len(filmstrip_times(info.duration_s, fps=info.fps)) == 5
    page = build_report(study, t)
    assert "seconds of the stimulus" not in page  # no coverage warning: every second has data
    assert 'data-second="5"' not in page and 'data-second="4"' in page  # the filmstrip stops at second 4


def test_confidence_bands_leave_a_gap_where_a_second_has_no_interval():
    """Seconds 4-5 have one respondent (no interval): the band is two polygons, 0-3 and 6-9, none joined
    across the gap (a NaN edge with fill='tonexty' drew garbage there)."""
    from affectlens.report import figures

    rng = np.random.default_rng(0)
    parts = []
    for i, r in enumerate(["a", "b", "c"]):
        ts = np.arange(0, 10, 0.25)
        if r != "a":
            ts = ts[(ts < 4) | (ts >= 6)]
        d = _frames([r], ts, eng=40 + 15 * i)
        d["engagement"] += rng.normal(0, 5, len(d))
        d["p_happiness"] += rng.uniform(-0.1, 0.1, len(d))
        parts.append(d)
    tl = _tables(pd.concat(parts, ignore_index=True), 10.0).timeline
    assert tl["engagement_ci_low"].isna().tolist() == [False] * 4 + [True] * 2 + [False] * 4
    eng = figures.with_band(tl, "engagement", "Engagement", "engagement", "#1f77b4")
    emo = figures.emotions(tl)
    for fig, n_bands in ((eng, 2), (emo, 2 * len(EMOTIONS))):
        bands = [tr for tr in fig.data if tr.fill]
        assert len(bands) == n_bands and all(tr.fill == "toself" for tr in bands)
        for tr in bands:
            xs, ys = np.array(tr.x, dtype=float), np.array(tr.y, dtype=float)
            assert not np.isnan(ys).any()
            assert set(xs) in ({0.0, 1.0, 2.0, 3.0}, {6.0, 7.0, 8.0, 9.0})  # never across seconds 4-5
    first = next(tr for tr in eng.data if tr.fill)
    hi, lo = tl["engagement_ci_high"].to_numpy()[:4], tl["engagement_ci_low"].to_numpy()[:4]
    np.testing.assert_allclose(first.y, np.r_[hi, lo[::-1]])  # the upper edge out, the lower edge back
    assert sum(bool(tr.showlegend) for tr in eng.data if tr.name == "95% CI") == 1  # one legend entry


def test_key_moments_in_the_last_partial_second_end_with_the_stimulus_everywhere():
    """hamilton lasts 9.18 s: a dip in second 9 reads "9–9.18 s" in the panel, the summary and the card."""
    from affectlens.report.headline import executive_summary, headline, panel_rows

    stim = clip("short_hamilton_clip.mp4")
    info = probe(stim)
    times = np.arange(0, info.duration_s, 0.1)
    parts = [_frames([r], times, eng=60.0 + i) for i, r in enumerate(["a", "b", "c"])]
    frames = pd.concat(parts, ignore_index=True)
    frames.loc[frames["stimulus_time_s"] >= 9, "engagement"] = 20.0
    t = _tables(frames, info.duration_s, info.fps)
    h = headline(t, info.duration_s)
    assert h.weakest[0] == 9
    assert dict(panel_rows(h))["weakest moment"].startswith("9–9.18 s")
    assert "It was weakest at 9–9.18 s (20)." in executive_summary(h)
    page = build_report(_study(stim, info.duration_s, info.fps), t)
    assert "9–10 s" not in page and page.count("9–9.18 s") >= 3  # panel, summary, key moment card


def test_the_summary_words_follow_the_rounded_figures():
    """0.4 % positive against 0.2 % negative is not "Positive (0%) outweighed negative (0%)"; 69.6 reads 70,
    which is high; 99.6 % is not 100 %."""
    from affectlens.report.headline import executive_summary, headline, panel_rows

    happy = _frames(["r1"], np.arange(0, 2, 0.5), top="happiness", eng=69.6)
    sad = _frames(["r1"], np.arange(2, 3, 0.5), top="sadness", eng=69.6)
    calm = _frames(["r1"], np.arange(3, 500, 0.5), top="neutral", eng=69.6)
    h = headline(_tables(pd.concat([happy, sad, calm], ignore_index=True), 500.0))
    text = " ".join(executive_summary(h))
    assert "Engagement was high: 70 of 100" in text
    assert "Positive and negative expressions were about as frequent (<1% of the moments each)." in text
    rows = dict(panel_rows(h))
    assert rows["positive moments"].startswith("<1%") and rows["negative moments"].startswith("<1%")
    mostly = _frames(["r1", "r2"], np.arange(0, 498, 0.5), top="happiness")
    end = _frames(["r1", "r2"], np.arange(498, 500, 0.5), top="sadness")
    h = headline(_tables(pd.concat([mostly, end], ignore_index=True), 500.0))
    assert "Positive expressions (>99% of the moments) outweighed negative ones (<1%)." in executive_summary(h)
    assert dict(panel_rows(h))["positive moments"].startswith(">99% (95% CI")


def test_headline_shares_keep_an_interval_at_zero_percent():
    """2 respondents, neither with a negative second: not "0% (95% CI 0%–0%)" but a Wilson interval, n = 2."""
    from affectlens.report.headline import headline, panel_rows
    from affectlens.studies.stats import share_ci, wilson

    h = headline(_tables(_frames(["r1", "r2"], np.arange(0, 10, 0.5), top="happiness"), 10.0))
    m, lo, hi = h.negative
    assert m == 0.0 and lo == 0.0 and hi > 0.6  # Wilson's upper bound for 0 of 2
    assert float(wilson(0, 2)[1][()]) == pytest.approx(hi)
    assert dict(panel_rows(h))["negative moments"] == "0% (95% CI 0%–66%)"
    assert h.positive[1] < 0.4 and h.positive[2] == 1.0
    m, lo, hi, n = share_ci([0.2, 0.3, 0.4])  # spread: Student's t over respondents, as before
    assert n == 3 and lo == pytest.approx(0.3 - 4.3027 * 0.1 / 3**0.5, abs=1e-4)


def test_texts_say_what_the_code_counts():
    """One respondent: the summary table says there is no interval; the method and the summary speak of
    faces read, not of watching, and the respondent's tracks rejoined after a look-away are named."""
    from affectlens.report.headline import executive_summary, headline
    from affectlens.report.html import _summary
    from affectlens.report.method import METHOD_HTML

    t = _tables(_frames(["solo"], np.arange(0, 5, 0.5)), 5.0)
    study = _study(clip("short_hamilton_clip.mp4"), 5.0)
    summary = _summary(study, t)
    assert "50.00 (no interval: one respondent)" in summary and "CI – –" not in summary
    none = _tables(pd.DataFrame(columns=["respondent", "stimulus_time_s"]), 5.0)
    assert "<th>mean engagement (0-100)</th><td>–</td>" in _summary(study, none)
    assert executive_summary(headline(t))[0] == "1 respondent had their face read while watching."
    method = " ".join(METHOD_HTML.split())
    assert "joined by the tracks of the same face" in method
    assert "seconds with a face read for at least half" in method and "seconds they watched" not in method
