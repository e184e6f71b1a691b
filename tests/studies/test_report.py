"""The HTML report: self-contained, every section present, and it renders in a real headless Chromium."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectlens.labels import EMOTIONS
from affectlens.report import build_report
from affectlens.report.stimulus import filmstrip_times
from affectlens.studies.aggregate import compare_tags, key_moments, timeline
from affectlens.studies.models import Study
from affectlens.studies.results import StudyTables
from affectlens.studies.seconds import per_second
from affectlens.studies.segments import segment_tests
from tests.conftest import ROOT
from tests.studies.conftest import clip

ARTIFACTS = Path(os.environ.get("AFFECTLENS_ARTIFACTS", ROOT / "runs" / "test-artifacts"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _synthetic(stimulus: Path, duration: float = 3.0) -> tuple[Study, StudyTables]:
    rng = np.random.default_rng(0)
    rows = []
    for i, r in enumerate(["r1", "r2", "r3", "r4"]):
        for t in np.arange(0, duration, 0.2):
            p = rng.dirichlet(np.ones(len(EMOTIONS)))
            rows.append(
                {"respondent": r, "stimulus_time_s": t, "engagement": 30 + 10 * i + 20 * np.sin(t), "attention": 0.7}
                | {f"p_{c}": v for c, v in zip(EMOTIONS, p, strict=True)}
            )
    ps = per_second(pd.DataFrame(rows), duration)
    tl = timeline(ps, duration)
    tags = pd.DataFrame(
        [("r1", "group", "a"), ("r2", "group", "b"), ("r3", "group", "b")], columns=["respondent", "key", "value"]
    )
    comparison, groups = compare_tags(ps, tags, duration)
    recs = pd.DataFrame({"respondent": ["r1", "r2", "r3", "r4", "<r5>"], "status": ["done"] * 4 + ["failed"]})
    study = Study(
        name="synthetic",
        stimulus_path=str(stimulus),
        stimulus_sha256="0" * 64,
        stimulus_duration_s=duration,
        data_dir="/nonexistent",
        created_at=datetime(2026, 1, 1),
    )
    return study, StudyTables(ps, tl, key_moments(tl), comparison, groups, recs, *segment_tests(ps, tags))


def test_report_is_self_contained_with_every_section(tmp_path):
    study, tables = _synthetic(clip("intel_classroom_four_people.mp4"))
    page = build_report(study, tables)
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', page, re.I)
    for heading in ("Summary", "Emotions", "Valence", "Engagement and attention", "Respondents", "Key moments"):
        assert f"<h2>{heading}</h2>" in page
    assert "Comparison between tags" in page and "Method" in page and "Student" in page
    assert page.count('<div class="fig">') >= 8
    # thumbnails of the stimulus: one per key moment, one per filmstrip second; the stimulus itself inlined
    n_strip = len(filmstrip_times(tables.timeline["second"].max() + 1))
    assert page.count("data:image/jpeg;base64,") == len(tables.key_moments) + n_strip and n_strip > 0
    assert page.count("data:video/mp4;base64,") == 1 and 'data-second="0"' in page
    assert page.count('download="') >= 7 and "data:text/csv;charset=utf-8;base64," in page  # every chart's data
    assert "&lt;r5&gt;" in page and "<r5>" not in page  # user text is escaped


def test_report_without_the_stimulus_file_still_builds(tmp_path):
    study, tables = _synthetic(tmp_path / "gone.mp4")
    page = build_report(study, tables)
    assert "thumbnails left out" in page and "data:image/jpeg" not in page


def test_report_renders_in_headless_chromium(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium here (apt-get install -y chromium)")
    from PIL import Image

    study, tables = _synthetic(clip("intel_classroom_four_people.mp4"))
    report = tmp_path / "report.html"
    report.write_text(build_report(study, tables), encoding="utf-8")
    shot = tmp_path / "shot.png"
    window = ["--window-size=1280,2400", f"--screenshot={shot}"]
    subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chr'}", *window, report.as_uri()],
        capture_output=True,
        timeout=90,
    )
    assert shot.exists(), "Chromium wrote no screenshot"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "study-report.png")  # the test artifact: look at it
    im = Image.open(shot).convert("L")
    lo, hi = im.getextrema()
    assert hi - lo > 50 and len(im.getcolors(1 << 16) or []) > 20, "the screenshot is blank"
    # the plots drew: the top of the page holds more than text on white (plot lines, bars, colour)
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    coloured = (np.ptp(rgb, axis=2) > 60).mean()
    assert coloured > 0.005, f"hardly any colour on the page ({coloured:.4f}): did plotly render?"


def test_report_warns_about_coverage_and_small_groups(tmp_path):
    study, tables = _synthetic(tmp_path / "gone.mp4", duration=3.0)
    study.stimulus_duration_s = 6.0  # the recordings cover only the first 3 of 6 seconds
    tables.timeline = timeline(tables.per_second, 6.0)
    page = build_report(study, tables)
    assert "cover 3 of the 6 seconds of the stimulus" in page
    assert "The group group = a has 1 respondent(s)" in page  # r1 alone
    assert "engagement 95% CI low" in page and "engagement_ci_low" not in page  # readable column names


def test_headline_panel_and_summary_come_from_the_same_figures(tmp_path):
    from affectlens.report.headline import executive_summary, headline

    study, tables = _synthetic(tmp_path / "gone.mp4", duration=8.0)
    h = headline(tables)
    assert h.respondents == 4
    m, lo, hi = h.engagement
    assert 0 <= lo <= m <= hi <= 100
    assert all(0 <= v <= 1 for v in h.positive + h.negative)
    text = " ".join(executive_summary(h))
    assert f"{m:.0f} of 100" in text and f"between {lo:.0f} and {hi:.0f}" in text
    if h.peak:
        assert f"peaked at {h.peak[0]}–{h.peak[0] + 1} s" in text
    page = build_report(study, tables)
    assert "<h2>Headline</h2>" in page and "mean engagement (0-100)" in page and "@media print" in page
    assert "<th>expression model</th><td>the default</td>" in page  # a study made before studies recorded it
    study.model = "affect-joint-v6"
    assert "<th>expression model</th><td>affect-joint-v6</td>" in build_report(study, tables)


def test_headline_figures_are_means_over_respondents_not_seconds(tmp_path):
    """A long watch does not outweigh a short one, and a respondent's seconds are not independent trials."""
    from affectlens.report.headline import headline

    _, tables = _synthetic(tmp_path / "gone.mp4", duration=8.0)

    def one(resp: str, seconds: int, valence: str, attention: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "respondent": resp,
                "second": range(seconds),
                "valence": valence,
                "engagement": 50.0,
                "attention": attention,
            }
        )

    tables.per_second = pd.concat([one("a", 60, "positive", 0.9), one("b", 5, "negative", 0.1)], ignore_index=True)
    h = headline(tables)
    assert h.positive[0] == pytest.approx(0.5) and h.negative[0] == pytest.approx(0.5)  # not 60 / 65
    assert h.attention[0] == pytest.approx(0.5)
    assert h.positive[1] == 0.0 and h.positive[2] == 1.0  # two respondents who disagree: the widest interval
    tables.per_second = one("a", 60, "positive", 0.9)
    assert all(math.isnan(v) for v in headline(tables).positive[1:])  # one respondent: no interval


def test_report_marks_the_seconds_where_planted_groups_differ(tmp_path):
    from tests.studies.test_segments import _planted

    ps, tags = _planted()
    ps = ps.assign(top_emotion="neutral", valence="neutral", **{f"p_{c}": 0.0 for c in EMOTIONS[2:]})
    duration = 10.0
    tl = timeline(ps, duration)
    comparison, groups = compare_tags(ps, tags, duration)
    recs = pd.DataFrame({"respondent": sorted(ps["respondent"].unique()), "status": "done"})
    study = Study(
        name="segments",
        stimulus_path=str(clip("intel_classroom_four_people.mp4")),
        stimulus_sha256="0" * 64,
        stimulus_duration_s=duration,
        data_dir="/nonexistent",
        created_at=datetime(2026, 1, 1),
    )
    whole, seconds = segment_tests(ps, tags)
    page = build_report(study, StudyTables(ps, tl, key_moments(tl), comparison, groups, recs, whole, seconds))
    assert "Do the groups differ?" in page and "Benjamini-Hochberg" in page
    assert page.count('"name":"significant difference"') >= 1  # the starred engagement seconds
    assert '"label":"P(happiness)"' in page  # every metric is in the chart's menu


def test_norms_rank_a_study_among_the_others_and_say_when_there_are_none():
    from affectlens.report.headline import Headline
    from affectlens.report.norms import norms, percentile_rank

    assert percentile_rank(5.0, [1.0, 2.0, 5.0, 9.0]) == pytest.approx(62.5)  # 2 below, 1 tie
    assert math.isnan(percentile_rank(5.0, []))

    def h(eng: float, n: int = 5) -> Headline:
        return Headline(n, (eng, eng - 5, eng + 5), (0.5, 0.4, 0.6), (0.3, 0.2, 0.4), (0.1, 0.05, 0.2), None, None)

    got = norms(h(60), [h(40), h(50), h(70), h(80), h(90, n=0)])  # a study without respondents is left out
    assert got.studies == 4 and got.ranks["engagement"] == 50.0
    assert got.line("engagement") == "above 50% of your 4 other studies"
    none = norms(h(60), [])
    assert none.studies == 0 and "unavailable" in none.line("engagement")
    study, tables = _synthetic(clip("intel_classroom_four_people.mp4"))
    assert "among your studies" in build_report(study, tables, none) and "unavailable" in build_report(
        study, tables, none
    )


def test_report_player_syncs_with_the_charts_in_chromium(tmp_path):
    """Driven in Chromium: no console error; a filmstrip click seeks the player; playback moves the cursor on
    every chart; each section's screenshot goes to the artifacts."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no Chromium here (apt-get install -y chromium)")
    from tests.studies.test_segments import _planted

    ps, tags = _planted()
    ps = ps.assign(top_emotion="neutral", valence="neutral", **{f"p_{c}": 0.0 for c in EMOTIONS[2:]})
    tl = timeline(ps, 9.0)
    tl["viewers"] = 16
    comparison, groups = compare_tags(ps, tags, 9.0)
    recs = pd.DataFrame({"respondent": sorted(ps["respondent"].unique()), "status": "done"})
    study = Study(
        name="sync",
        stimulus_path=str(clip("short_hamilton_clip.mp4")),
        stimulus_sha256="0" * 64,
        stimulus_duration_s=9.0,
        data_dir="/nonexistent",
        created_at=datetime(2026, 1, 1),
    )
    t = StudyTables(ps, tl, key_moments(tl), comparison, groups, recs, *segment_tests(ps, tags))
    report = tmp_path / "report.html"
    report.write_text(build_report(study, t), encoding="utf-8")
    out = ARTIFACTS / "report-sections"
    out.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        page = b.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        page.wait_for_function("window.affectlensReport && window.affectlensReport.charts >= 7")
        page.click('.filmstrip figure[data-second="5"]')
        assert page.evaluate("document.getElementById('stimulus-player').currentTime") == pytest.approx(5.0, abs=0.1)
        page.wait_for_function("Math.abs(window.affectlensReport.playhead - 4.5) < 0.2")
        page.evaluate("document.getElementById('stimulus-player').currentTime = 2.0")
        page.wait_for_function("Math.abs(window.affectlensReport.playhead - 1.5) < 0.2")
        shapes = page.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => (d.layout.shapes || [])"
            ".filter(s => s.name === 'playhead').map(s => s.x0))"
        )
        assert all(len(s) == 1 and abs(s[0] - 1.5) < 0.2 for s in shapes), shapes
        for i, h in enumerate(page.locator("h2").all()):
            h.scroll_into_view_if_needed()
            name = h.inner_text().lower().replace(" ", "-")
            page.screenshot(path=str(out / f"{i:02d}-{name}.png"))
        b.close()
    assert not errors, errors


def test_a_key_moment_in_the_last_partial_second_ends_with_the_stimulus():
    from affectlens.report.headline import second_end

    assert (second_end(11, 12.4), second_end(12, 12.4), second_end(9, 10.0)) == ("12", "12.4", "10")
    assert (second_end(12, 12.04), second_end(9, 9.1758), second_end(12, 12.004)) == ("12.04", "9.18", "12.004")
