"""The empty-table header is exactly what the pipeline writes when there are faces."""

from __future__ import annotations

import pytest

from affectlens.pipeline import Analyzer
from affectlens.sinks import SecondSummary, TrackSummary, face_columns
from affectlens.sources import load_image


@pytest.mark.parametrize("signals", [True, False])
def test_face_columns_match_real_rows(media, signals):
    analyzer = Analyzer(signals=signals)
    result = analyzer.analyze_image(load_image(media / "photos" / "two_people.jpg"))
    assert len(result.faces) == 2
    assert list(result.rows()[0]) == face_columns(analyzer.labels, signals)


def test_summary_columns_match_real_rows(media):
    analyzer = Analyzer()
    tracks, seconds = TrackSummary(labels=analyzer.labels), SecondSummary(labels=analyzer.labels)
    for result in analyzer.analyze(media / "videos" / "expressions_man.mp4"):
        tracks.add(result)
        seconds.add(result)
    assert list(tracks.rows()[0]) == tracks.columns()
    assert list(seconds.rows()[0]) == seconds.columns()
