"""Segment tests on constructed data with known answers: BH adjustment, size of the permutation test
under no difference, planted differences found at their seconds and nowhere else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affectlens.studies.segments import bh_adjust, permutation_pvalues, segment_tests


def test_bh_adjust_matches_the_hand_computation():
    got = bh_adjust(np.array([0.01, 0.04, 0.03, 0.2, np.nan]))
    np.testing.assert_allclose(got[:4], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    assert np.isnan(got[4])


def test_permutation_test_holds_its_size_under_no_difference():
    rng = np.random.default_rng(7)
    in_a = np.array([True] * 6 + [False] * 6)
    x = rng.normal(50, 10, size=(12, 400))  # 400 independent null tests
    _, p = permutation_pvalues(x, in_a, n_permutations=999)
    assert 0.02 <= float((p <= 0.05).mean()) <= 0.09


def test_permutation_test_needs_two_values_per_group():
    x = np.array([[1.0], [np.nan], [2.0], [3.0]])
    _, p = permutation_pvalues(x, np.array([True, True, False, False]), n_permutations=99)
    assert np.isnan(p[0])


def _planted(n_per_group: int = 8, seconds: int = 10, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows, tags = [], []
    for g in ("a", "b"):
        for i in range(n_per_group):
            r = f"{g}{i}"
            tags.append((r, "panel", g))
            for s in range(seconds):
                eng = rng.normal(80 if (g == "a" and 3 <= s <= 5) else 50, 5)
                p_h = rng.uniform(0, 1)
                rows.append(
                    {"respondent": r, "second": s, "engagement": eng, "attention": rng.uniform(0.4, 0.6)}
                    | {"valence_score": rng.normal(0, 0.1), "p_happiness": p_h, "p_neutral": 1 - p_h}
                )
    return pd.DataFrame(rows), pd.DataFrame(tags, columns=["respondent", "key", "value"])


def test_a_planted_difference_is_found_at_its_seconds_and_nowhere_else():
    ps, tags = _planted()
    whole, seconds = segment_tests(ps, tags)
    eng = seconds[seconds["metric"] == "engagement"]
    assert sorted(eng.loc[eng["significant"], "second"]) == [3, 4, 5]
    # 4 metrics × 10 seconds without any difference: BH at 0.05 per metric allows a rare false discovery
    others = seconds[seconds["metric"] != "engagement"]
    assert others["significant"].sum() <= 1, others[others["significant"]]
    row = whole.set_index("metric").loc["engagement"]
    assert row["difference"] == pytest.approx(9.0, abs=2.5) and row["significant"]  # 30 points over 3 of 10 s
    assert whole.set_index("metric").loc["engagement", "p_value"] < 0.001
    assert set(whole["metric"]) == {"engagement", "attention", "valence_score", "p_happiness", "p_neutral"}


def test_groups_below_the_minimum_are_not_tested():
    ps, tags = _planted(n_per_group=1)
    whole, seconds = segment_tests(ps, tags)
    assert whole.empty and seconds.empty


def test_a_second_with_unequal_missingness_holds_its_size():
    """10 respondents of a against 2 of b's 10 (8 looked away), no difference: labels are shuffled only
    among the 12 with a value, so p <= 0.05 about 5% of the time and never below what 66 splits allow."""
    rng = np.random.default_rng(1)
    in_a = np.array([True] * 10 + [False] * 10)
    x = rng.normal(size=(20, 400))
    x[12:] = np.nan
    x[[0, 5], 200:] = np.nan  # a second pattern of missingness: 8 of a against 2 of b
    _, p = permutation_pvalues(x, in_a, n_permutations=999)
    assert 0.02 <= float((p <= 0.05).mean()) <= 0.09
    assert p.min() > 0.5 / 66  # 2 of 12 values: the most extreme split is 1 of 66 (45 with 10)


def test_null_groups_with_unequal_missingness_get_no_stars():
    """End to end: 8 of group b's respondents leave after 5 s; with no difference no second is flagged."""
    from affectlens.studies.seconds import per_second

    rng = np.random.default_rng(7)
    rows = []
    for i in range(20):
        for t in np.arange(0, 60, 0.5):
            if i >= 12 and t >= 5:
                break
            rows.append({"respondent": f"r{i:02d}", "stimulus_time_s": t, "engagement": rng.normal(50, 10)})
    frames = pd.DataFrame(rows).assign(p_neutral=1.0, p_happiness=0.0)
    ps = per_second(frames, 60.0, emotions=("neutral", "happiness"))
    tags = pd.DataFrame([(f"r{i:02d}", "arm", "a" if i < 10 else "b") for i in range(20)])
    tags.columns = ["respondent", "key", "value"]
    _, seconds = segment_tests(ps, tags, metrics=("engagement",), n_permutations=2000)
    late = seconds[seconds["second"] >= 5]
    assert len(late) == 55 and not late["significant"].any()  # shuffling everyone flagged 3 (p = 0.0005)
    assert late["p_value"].min() > 0.5 / 66 and (late["p_value"] <= 0.05).mean() <= 0.15  # was 20%
