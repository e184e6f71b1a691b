"""The core result type: selection, best probabilities, rows."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.sinks import face_columns
from affectlens.types import Faces, FrameResult


def _faces() -> Faces:
    return Faces(
        boxes=[[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]],
        scores=[0.9, 0.8, 0.7],
        track_ids=np.array([3, 1, 2]),
        probs=np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], np.float32),
        signals={"yaw": np.array([1.0, 2.0, 3.0])},
    )


def test_selection_keeps_every_array_in_step():
    f = _faces()[np.array([False, True, True])]
    assert len(f) == 2 and f.track_ids.tolist() == [1, 2] and f.signals["yaw"].tolist() == [2.0, 3.0]
    assert f.probs[0].tolist() == pytest.approx([0.2, 0.8]) and f.boxes[1, 0] == 40
    assert Faces.empty().track_ids.shape == (0,)


def test_best_probs_are_smoothed_when_there_are():
    f = _faces()
    assert f.best_probs is f.probs
    f.smoothed = f.probs[::-1].copy()
    assert f.best_probs is f.smoothed


def test_rows_name_the_documented_columns():
    labels = ("neutral", "happiness")
    f = _faces()
    rows = FrameResult("clip.mp4", 7, 0.25, 64, 32, f, labels=labels).rows()
    assert [row["label"] for row in rows] == ["neutral", "happiness", "neutral"]
    assert rows[1]["track_id"] == 1 and rows[1]["valence"] == "positive" and rows[0]["time_s"] == 0.25
    assert "p_neutral" not in rows[0]  # not smoothed: only the raw probabilities
    f.smoothed = f.probs.copy()
    rows = FrameResult("clip.mp4", 7, 0.25, 64, 32, f, labels=labels).rows()
    assert list(rows[0]) == [*face_columns(labels, signals=False), "yaw"]


def test_rows_write_float32_signals_as_they_print():
    f = _faces()
    f.signals = {"yaw": np.round(np.array([2.2, -17.5, 0.1], np.float32), 1), "blink": np.array([True, False, True])}
    rows = FrameResult("clip.mp4", 7, 0.25, 64, 32, f, labels=("neutral", "happiness")).rows()
    assert [r["yaw"] for r in rows] == [2.2, -17.5, 0.1]  # not 2.200000047683716
    assert [repr(r["yaw"]) for r in rows] == ["2.2", "-17.5", "0.1"]
    assert rows[0]["blink"] is True and type(rows[1]["blink"]) is bool


def test_one_face_by_its_index_keeps_every_column():
    """faces[0] gave probs of shape (8,) and a 0-d track id: its rows() and top_labels() then failed."""
    f = Faces(np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32), np.array([0.9, 0.8], np.float32),
              track_ids=np.array([4, 7]))  # fmt: skip
    f.probs = np.eye(2, 8, dtype=np.float32)
    one = f[1]
    assert len(one) == 1 and one.probs.shape == (1, 8) and one.track_ids.tolist() == [7]
    assert [x.track_ids.tolist() for x in f] == [[4], [7]] and f[-1].track_ids.tolist() == [7]
    with pytest.raises(IndexError):
        f[2]
