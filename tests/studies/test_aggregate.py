"""The study maths on hand-made inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from affectlens.labels import EMOTIONS
from affectlens.studies.aggregate import compare_tags, key_moments, timeline
from affectlens.studies.respondent import main_track, respondent_rows
from affectlens.studies.seconds import per_second
from affectlens.studies.stats import mean_ci, t975


def probs(top: str, p: float = 0.6) -> dict[str, float]:
    """Probabilities with ``p`` on ``top`` and the rest spread evenly."""
    rest = (1 - p) / (len(EMOTIONS) - 1)
    return {f"p_{c}": (p if c == top else rest) for c in EMOTIONS}


def frame(respondent: str, t: float, top: str, engagement: float, attention: float = 0.5, p: float = 0.6) -> dict:
    return {"respondent": respondent, "stimulus_time_s": t, "engagement": engagement, "attention": attention} | probs(
        top, p
    )


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t975(2) == pytest.approx(4.3027, abs=1e-4)
    assert t975(30) == pytest.approx(2.0423, abs=1e-4)
    assert t975(60) == pytest.approx(2.0003, abs=2e-4)
    assert t975(1000) == pytest.approx(1.9623, abs=2e-4)
    assert math.isnan(t975(0))
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (31, 45, 120, 500):
        assert t975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=1e-4)


def test_mean_ci_known_values():
    m, lo, hi, n = mean_ci([10, 20, 30])
    # s = 10, n = 3: half-width = 4.3027 * 10 / sqrt(3)
    assert (m, n) == (20, 3)
    assert hi - m == pytest.approx(4.3027 * 10 / math.sqrt(3), abs=1e-3)
    assert m - lo == pytest.approx(hi - m)
    m, lo, hi, n = mean_ci([7.0, float("nan")])
    assert (m, n) == (7.0, 1) and math.isnan(lo) and math.isnan(hi)
    assert mean_ci([])[3] == 0


def test_per_second_bins_and_drops_outside_stimulus():
    frames = pd.DataFrame(
        [
            frame("a", -0.2, "happiness", 99),  # before the stimulus: dropped
            frame("a", 0.0, "happiness", 40),
            frame("a", 0.5, "happiness", 60),
            frame("a", 1.2, "sadness", 30),
            frame("a", 3.0, "happiness", 99),  # at the duration (3.0 s): dropped
        ]
    )
    ps = per_second(frames, duration_s=3.0)
    assert list(ps["second"]) == [0, 1]
    assert list(ps["n_frames"]) == [2, 1]
    assert ps.loc[0, "engagement"] == 50
    assert list(ps["top_emotion"]) == ["happiness", "sadness"]
    assert list(ps["valence"]) == ["positive", "negative"]
    # valence score = P(happiness) + P(surprise) - P(five negative classes) for the happiness-top second
    rest = 0.4 / 7
    assert ps.loc[0, "valence_score"] == pytest.approx(0.6 + rest - 5 * rest)


def test_timeline_means_shares_ci_and_counts():
    frames = pd.DataFrame(
        [
            # second 0: three respondents; a has two frames (counts once, mean 20)
            frame("a", 0.1, "happiness", 10, attention=0.2),
            frame("a", 0.6, "happiness", 30, attention=0.4),
            frame("b", 0.5, "happiness", 40, attention=0.6),
            frame("c", 0.5, "sadness", 60, attention=0.8),
            # second 1: one respondent
            frame("b", 1.5, "neutral", 70),
            # second 2: nobody
        ]
    )
    tl = timeline(per_second(frames, 3.0), 3.0)
    assert list(tl["second"]) == [0, 1, 2]
    assert list(tl["n_respondents"]) == [3, 1, 0]
    s0 = tl.iloc[0]
    assert s0["engagement_mean"] == pytest.approx(40)  # mean of 20, 40, 60
    half = 4.3027 * 20 / math.sqrt(3)  # s = 20 over the three respondents' means: 49.7, more than the mean
    assert s0["engagement_ci_high"] - 40 == pytest.approx(half, abs=1e-3)
    assert s0["engagement_ci_low"] == 0.0  # 40 - 49.7 clipped to the metric's range
    assert s0["attention_mean"] == pytest.approx((0.3 + 0.6 + 0.8) / 3)
    assert s0["share_happiness"] == pytest.approx(2 / 3)
    assert s0["share_sadness"] == pytest.approx(1 / 3)
    assert s0["share_neutral"] == 0
    assert s0["share_positive"] == pytest.approx(2 / 3) and s0["share_negative"] == pytest.approx(1 / 3)
    rest = 0.4 / 7
    assert s0["mean_p_happiness"] == pytest.approx((0.6 + 0.6 + rest) / 3)
    shares = [s0[f"share_{c}"] for c in EMOTIONS]
    assert sum(shares) == pytest.approx(1)
    s1 = tl.iloc[1]
    assert s1["engagement_mean"] == 70 and math.isnan(s1["engagement_ci_low"])  # one respondent: no CI
    assert s1["share_neutral"] == 1
    assert tl.iloc[2][["engagement_mean", "mean_p_neutral", "share_neutral"]].isna().all()


def test_timeline_of_nothing_has_every_second():
    tl = timeline(per_second(pd.DataFrame(), 2.5), 2.5)
    assert list(tl["second"]) == [0, 1, 2]
    assert list(tl["n_respondents"]) == [0, 0, 0]
    assert key_moments(tl).empty


def test_key_moments_peaks_dips_gap_and_coverage():
    eng = [10, 50, 45, 20, 5, 30, 90]
    n = [4, 4, 4, 4, 4, 4, 1]  # the last second is seen by 1 of 4 respondents: not a key moment
    tl = pd.DataFrame({"second": range(7), "engagement_mean": eng, "n_respondents": n, "mean_p_happiness": eng})
    km = key_moments(tl, k=2, min_gap_s=2)
    peaks = km[(km["kind"] == "peak") & (km["metric"] == "engagement")]
    dips = km[(km["kind"] == "dip") & (km["metric"] == "engagement")]
    assert list(peaks["second"]) == [1, 5]  # 2 (45) is within 2 s of 1 (50)
    assert list(dips["second"]) == [4, 0]
    assert list(peaks["value"]) == [50, 30]


def test_compare_tags_groups_and_untagged():
    frames = pd.DataFrame(
        [
            frame("a", 0.5, "happiness", 20),
            frame("a", 1.5, "happiness", 40),  # a's mean engagement: 30
            frame("b", 0.5, "sadness", 50),
            frame("c", 0.5, "neutral", 70),
        ]
    )
    ps = per_second(frames, 2.0)
    tags = pd.DataFrame(
        [("a", "group", "x"), ("b", "group", "y"), ("c", "group", "y")], columns=["respondent", "key", "value"]
    )
    tags = pd.concat([tags, pd.DataFrame([("a", "age", "young")], columns=tags.columns)])
    summary, groups = compare_tags(ps, tags, 2.0)
    by = summary.set_index(["key", "value"])
    assert by.loc[("group", "x"), "n_respondents"] == 1
    assert by.loc[("group", "x"), "engagement_mean"] == 30
    assert by.loc[("group", "y"), "engagement_mean"] == 60
    half = 12.7062 * np.std([50, 70], ddof=1) / math.sqrt(2)  # 127: the t-interval of two respondents
    assert by.loc[("group", "y"), "engagement_ci_high"] == 100.0 and 60 + half > 100  # clipped to the range
    assert by.loc[("group", "y"), "engagement_ci_low"] == 0.0
    assert by.loc[("age", "(untagged)"), "n_respondents"] == 2
    g = groups[(groups["key"] == "group") & (groups["value"] == "y")]
    assert list(g["n_respondents"]) == [2, 0]


def _rows(track: int, frames: range, box: float = 50.0) -> list[dict]:
    return [
        {"source": "x.mp4", "frame": f, "time_s": f / 10, "track_id": track, "x1": 0.0, "y1": 0.0, "x2": box, "y2": box}
        for f in frames
    ]


def test_main_face_is_the_longest_track_and_time_is_shifted():
    rows = pd.DataFrame(_rows(0, range(0, 5), box=200) + _rows(1, range(0, 12)) + _rows(2, range(3, 8)))
    assert main_track(rows) == 1
    out = respondent_rows(rows, offset_s=0.5)
    assert set(out["track_id"]) == {1} and "source" not in out.columns
    assert out["stimulus_time_s"].tolist()[:3] == pytest.approx([-0.5, -0.4, -0.3])
    # a tie goes to the larger face
    tie = pd.DataFrame(_rows(0, range(5), box=20) + _rows(1, range(5), box=90))
    assert main_track(tie) == 1
    assert main_track(pd.DataFrame()) is None
    assert respondent_rows(pd.DataFrame(), 0.0).empty


def test_a_respondent_who_looked_away_keeps_the_seconds_before_it():
    """The tracker gives a face lost for over 1.5 s a new id: the same face at the same place is still the
    respondent; a bystander beside them, or a face elsewhere while they were away, is not."""

    def at(track: int, frames: range, x: float, box: float = 50.0) -> list[dict]:
        return [r | {"x1": x, "x2": x + box} for r in _rows(track, frames, box)]

    rows = pd.DataFrame(
        at(0, range(0, 250), 100)  # the respondent until they look away at 25 s
        + at(1, range(270, 600), 104)  # ... and after, under a new id
        + at(2, range(0, 120), 400)  # a bystander beside them
        + at(3, range(252, 266), 600)  # someone else in view while they were away
        + at(4, range(100, 140), 102, box=48)  # a second detection on the respondent's spot at the same time
    )
    out = respondent_rows(rows, offset_s=0.0)
    assert len(out) == 580 and set(out["track_id"]) == {1}  # the main track's id, both spells
    assert out["frame"].is_monotonic_increasing and out["stimulus_time_s"].iloc[0] == 0.0


# -- report v2 statistics on constructed data with known answers ------------------------------------------------
def _per_second(values: dict[str, list[float]], happy: dict[str, list[float]] | None = None):
    import pandas as pd

    rows = []
    for r, vals in values.items():
        for s, v in enumerate(vals):
            p = (happy or {}).get(r, [0.0] * len(vals))[s]
            rows.append(
                {
                    "respondent": r,
                    "second": s,
                    "engagement": v,
                    "attention": v / 100,
                    "p_happiness": p,
                    "top_emotion": "happiness" if p > 0.5 else "neutral",
                    "valence": "positive" if p > 0.5 else "neutral",
                    "valence_score": p,
                }
                | {f"p_{c}": 0.0 for c in ("neutral", "surprise", "sadness", "anger", "disgust", "fear", "contempt")}
            )
    return pd.DataFrame(rows)


def test_intervals_stay_inside_the_metric_range():
    from affectlens.studies.aggregate import timeline

    tl = timeline(_per_second({"a": [100.0, 0.0, 50.0], "b": [95.0, 5.0, 50.0], "c": [60.0, 40.0, 52.0]}), 3.0)
    assert (tl["engagement_ci_low"] >= 0).all() and (tl["engagement_ci_high"] <= 100).all()
    assert (tl["attention_ci_low"] >= 0).all() and (tl["attention_ci_high"] <= 1).all()
    assert tl.loc[0, "engagement_ci_high"] == 100.0 and tl.loc[1, "engagement_ci_low"] == 0.0  # clipped, not beyond
    assert (tl["share_positive_ci_low"] >= 0).all() and (tl["share_positive_ci_high"] <= 1).all()


def test_interval_coverage_on_simulated_respondents():
    """The clipped t-interval of the mean covers the true mean ~95% of the time (bounded, skewed data)."""
    import numpy as np

    from affectlens.studies.stats import mean_ci

    rng = np.random.default_rng(0)
    true_mean = 100 * 2 / (2 + 5)  # Beta(2, 5) scaled to 0-100
    covered = [
        lo <= true_mean <= hi for lo, hi in (mean_ci(100 * rng.beta(2, 5, 12), 0, 100)[1:3] for _ in range(2000))
    ]
    assert 0.92 <= np.mean(covered) <= 0.98


def test_wilson_interval_known_values():
    from affectlens.studies.stats import wilson

    lo, hi = wilson([0, 10, 5], [10, 10, 10])
    assert abs(lo[0]) < 1e-9 and abs(hi[0] - 0.2775) < 1e-3  # 0 of 10: [0, 0.2775]
    assert abs(lo[1] - 0.7225) < 1e-3 and abs(hi[1] - 1.0) < 1e-9
    assert abs(lo[2] - 0.2366) < 1e-3 and abs(hi[2] - 0.7634) < 1e-3


def test_a_planted_peak_is_found_at_its_second_and_a_flat_curve_has_no_moment():
    from affectlens.studies.aggregate import key_moments, timeline

    flat = {r: [60.0] * 10 for r in "abc"}
    tl = timeline(_per_second(flat), 10.0)
    assert key_moments(tl).empty
    planted = {r: [60.0] * 10 for r in "abc"}
    happy = {r: [0.02] * 10 for r in "abc"}
    for r in "abc":
        planted[r][6] = 90.0  # an engagement peak at second 6
        planted[r][2] = 30.0  # a dip at second 2
        happy[r][6] = 0.8
    km = key_moments(timeline(_per_second(planted, happy), 10.0))
    peaks = km[(km.kind == "peak") & (km.metric == "engagement")]
    dips = km[(km.kind == "dip") & (km.metric == "engagement")]
    assert peaks["second"].tolist() == [6] and dips["second"].tolist() == [2]
    assert km[(km.kind == "peak") & (km.metric == "happiness")]["second"].tolist() == [6]
    assert km.groupby(["metric", "second"])["kind"].nunique().max() == 1  # never both a peak and a dip
    assert not ((km.kind == "peak") & (km.metric == "happiness") & (km.value <= 0.05)).any()


def test_emotion_bands_stay_in_0_1_and_cover_the_true_mean():
    """Each emotion's mean-probability band, from the timeline itself: inside [0, 1], ~95% coverage."""
    import numpy as np

    rng = np.random.default_rng(1)
    true = 2 / (2 + 8)  # P(happiness) ~ Beta(2, 8) per respondent
    covered, inside = [], []
    for _ in range(300):
        rows = []
        for r in range(10):
            p = rng.beta(2, 8)
            rows.append({"respondent": f"r{r}", "second": 0, "p_happiness": p, "valence_score": 0.0})
            rows[-1] |= {f"p_{c}": (1 - p) / 7 for c in EMOTIONS if c != "happiness"}
        ps = pd.DataFrame(rows).assign(top_emotion="neutral", valence="neutral", engagement=50.0, attention=0.5)
        tl = timeline(ps, 1.0)
        lo, hi = tl.loc[0, "mean_p_happiness_ci_low"], tl.loc[0, "mean_p_happiness_ci_high"]
        covered.append(lo <= true <= hi)
        inside.append(0 <= lo <= hi <= 1)
    assert all(inside) and 0.90 <= np.mean(covered) <= 0.99


def test_frames_whose_engagement_is_unknown_are_left_out_of_the_study_means():
    """A respondent's face_lost frames (engagement and attention NaN) leave that second's engagement to the frames
    that were read; a second with none read has no engagement, and the timeline averages the respondents read."""
    nan = float("nan")
    frames = pd.DataFrame(
        [
            frame("a", 0.2, "happiness", 80),
            frame("a", 0.7, "happiness", nan, attention=nan),
            frame("a", 1.5, "neutral", nan, attention=nan),
            frame("b", 0.5, "neutral", 40),
            frame("b", 1.5, "neutral", 60),
        ]
    )
    ps = per_second(frames, 2.0)
    a = ps[ps["respondent"] == "a"].set_index("second")
    assert a.loc[0, "engagement"] == 80 and a.loc[0, "attention"] == 0.5 and math.isnan(a.loc[1, "engagement"])
    tl = timeline(ps, 2.0)
    assert list(tl["engagement_mean"]) == [60, 60]  # second 1: b alone, not (0 + 60) / 2
    assert list(tl["n_respondents"]) == [2, 2]  # a's expression was still read in second 1


def test_a_study_with_unreadable_faces_counts_its_respondents_and_engagement_apart():
    """Respondents whose faces the mesh cannot read (face_lost: engagement NaN, expressions read) are respondents
    (headline, tag groups, heatmap) but not in engagement's n (key moments, its intervals), and two tag groups of
    only such respondents are an untested pair: the report and export crashed on them (TypeError in segments)."""
    from affectlens.report import figures
    from affectlens.report.headline import executive_summary, headline
    from affectlens.studies.results import StudyTables
    from affectlens.studies.segments import segment_tests

    rows = []
    for r in "abcdef":  # a always read; b read from 3 s on; c-f never (their expressions are)
        for t in np.arange(0, 6, 0.25):
            read = r == "a" or (r == "b" and t >= 3)
            eng = (90.0 if t < 1 else 40.0 if t < 2 else 70.0) if read else math.nan
            rows.append(frame(r, t, "neutral", eng, attention=1.0 if read else math.nan))
    ps = per_second(pd.DataFrame(rows), 6.0)
    tl = timeline(ps, 6.0)
    assert list(tl["n_respondents"]) == [6] * 6 and list(tl["n_engagement"]) == [1, 1, 1, 2, 2, 2]
    km = key_moments(tl)
    eng = km[km["metric"] == "engagement"].set_index("second")
    assert list(eng["n_respondents"]) == [1, 1]  # the one whose engagement was read, not the 6 faces seen
    tags = pd.DataFrame({"respondent": list("abcdef"), "key": "g", "value": ["x", "x", "x", "y", "y", "y"]})
    comp, _ = compare_tags(ps, tags, 6.0)
    assert list(comp["n_respondents"]) == [3, 3] and list(comp["n_engagement"]) == [2, 0]
    glasses = pd.DataFrame({"respondent": list("cdef"), "key": "glasses", "value": ["yes", "yes", "no", "no"]})
    whole, _ = segment_tests(ps, glasses, n_permutations=200)
    pair = whole[(whole["group_a"] == "no") & (whole["group_b"] == "yes")].set_index("metric")
    assert tuple(pair.loc["engagement", ["n_a", "n_b"]]) == (0, 0) and math.isnan(pair.loc["engagement", "p_value"])
    assert tuple(pair.loc["p_neutral", ["n_a", "n_b"]]) == (2, 2)  # their expressions are still compared
    h = headline(StudyTables(ps, tl, km, comp, *(pd.DataFrame(),) * 4))
    assert (h.respondents, h.engagement_n) == (6, 2)
    assert "Engagement could be read for 2 of them" in " ".join(executive_summary(h))
    assert figures.heatmap(ps, 6).data[0].y == tuple("abcdef")
    assert figures.low_coverage_seconds(tl, count="n_engagement") == [0, 1, 2]  # fewer read than the best second
    assert figures.low_coverage_seconds(tl) == []
