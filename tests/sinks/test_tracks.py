"""Track and per-second summaries on constructed results with known answers."""

from __future__ import annotations

import numpy as np

from affectlens.sinks import SecondSummary, TrackSummary, read_table
from affectlens.types import Faces, FrameResult

LABELS = ("neutral", "happiness")


def _result(frame: int, t: float, probs, engagement, state="engaged", source="v.mp4") -> FrameResult:
    n = len(probs)
    signals = {
        "engagement": np.array(engagement, np.float32),
        "state": np.array([state] * n, object),
        "yawning": np.zeros(n, bool),
        "blink": np.zeros(n, bool),
        "looking_away": np.zeros(n, bool),
        "eyes_closed": np.zeros(n, bool),
    }
    faces = Faces(np.zeros((n, 4)), np.ones(n), np.arange(n), probs=np.array(probs, np.float32), signals=signals)
    return FrameResult(source, frame, t, 100, 100, faces, LABELS)


def test_track_summary_means_counts_and_peaks():
    ts = TrackSummary(labels=LABELS)
    ts.add(_result(0, 0.0, [[1.0, 0.0]], [50.0]))
    ts.add(_result(1, 0.5, [[0.0, 1.0]], [100.0]))  # a smile starts
    ts.add(_result(2, 1.5, [[0.0, 1.0]], [80.0], state="disengaged"))
    (row,) = ts.rows()
    assert row["n_frames"] == 3 and row["duration_s"] == 1.5 and row["smiles"] == 1
    assert row["mean_p_happiness"] == round(2 / 3, 5) and row["dominant_label"] == "happiness"
    assert row["attentive_share"] == round(2 / 3, 4) and row["mean_engagement"] == round(230 / 3, 2)
    assert (row["peak_time_s"], row["peak_engagement"], row["dip_time_s"], row["dip_engagement"]) == (1, 80.0, 0, 75.0)


def test_second_summary_one_row_per_track_and_second_and_tables_on_close(tmp_path):
    ss = SecondSummary([tmp_path / "s.csv", tmp_path / "s.parquet"], labels=LABELS)
    with ss:
        ss.add(_result(0, 0.2, [[1.0, 0.0], [0.0, 1.0]], [40.0, 90.0]))
        ss.add(_result(1, 0.7, [[0.5, 0.5], [0.0, 1.0]], [60.0, 70.0]))
        ss.add(_result(2, 1.1, [[0.0, 1.0], [0.0, 1.0]], [10.0, 20.0]))
    rows = ss.rows()
    assert [(r["track_id"], r["second"], r["n_frames"]) for r in rows] == [(0, 0, 2), (0, 1, 1), (1, 0, 2), (1, 1, 1)]
    assert rows[0]["mean_engagement"] == 50.0 and rows[0]["mean_p_happiness"] == 0.25
    assert len(read_table(tmp_path / "s.csv")) == 4 and len(read_table(tmp_path / "s.parquet")) == 4


def test_frames_of_unknown_engagement_are_left_out_of_means_and_shares_not_counted_as_zero(tmp_path):
    """face_lost frames (state unknown, engagement NaN) count in n_frames and share_face_lost, nowhere else: a
    second of only such frames has no engagement (empty), and a track's mean is over the frames that were read."""
    nan = float("nan")
    ts, ss = TrackSummary(labels=LABELS), SecondSummary([tmp_path / "s.csv"], labels=LABELS)
    lost = [_result(i, t, [[1.0, 0.0]], [nan], state="unknown") for i, t in ((1, 0.5), (2, 1.0), (3, 1.5))]
    for r in lost:  # the mesh is not on a face: what it measures there is noise, left out too
        r.faces.signals |= {"eyes_closed": np.ones(1, bool), "yaw": np.full(1, 40.0, np.float32)}
    with ss:
        for r in (_result(0, 0.0, [[1.0, 0.0]], [60.0]), *lost, _result(4, 2.0, [[1.0, 0.0]], [20.0], "disengaged")):
            if "yaw" not in r.faces.signals:
                r.faces.signals["yaw"] = np.zeros(1, np.float32)
            r.faces.signals["expression_engagement"] = np.full(1, 0.5, np.float32)  # read from the expression
            ts.add(r)
            ss.add(r)
    (track,) = ts.rows()
    assert track["mean_engagement"] == 40.0 and track["attentive_share"] == 0.5 and track["share_face_lost"] == 0.6
    assert (track["peak_time_s"], track["dip_time_s"]) == (0, 2)  # second 1 was never read: neither
    s0, s1, s2 = ss.rows()
    assert (s0["mean_engagement"], s0["share_engaged"], s0["share_face_lost"]) == (60.0, 1.0, 0.5)
    assert (s0["share_eyes_closed"], s0["mean_yaw"]) == (0.0, 0.0)  # over the frame read, not 0.5 and 20
    assert (s1["mean_engagement"], s1["share_engaged"], s1["share_face_lost"], s1["n_frames"]) == (None, None, 1.0, 2)
    assert (s1["share_eyes_closed"], s1["mean_yaw"], s1["mean_expression_engagement"]) == (None, None, 0.5)
    assert s2["mean_engagement"] == 20.0 and s2["share_engaged"] == 0.0
    table = read_table(tmp_path / "s.csv")
    assert table["mean_engagement"].isna().tolist() == [False, True, False]


def test_empty_summaries_write_their_header(tmp_path):
    with TrackSummary([tmp_path / "t.csv"], labels=LABELS), SecondSummary([tmp_path / "s.csv"], labels=LABELS):
        pass
    assert {"track_id", "mean_p_happiness", "mean_engagement"} <= set(read_table(tmp_path / "t.csv").columns)
    assert {"second", "share_engaged", "label"} <= set(read_table(tmp_path / "s.csv").columns)


def test_events_broken_for_a_moment_count_once_and_look_aways_include_their_hold():
    """A hand over the mouth mid-yawn, a one-frame neutral between happy frames: one yawn, one smile. A head
    turned 1.2 s is looking away for the last 0.2 s of it (the 1 s hold) and was away 1.2 s."""
    ts = TrackSummary(labels=LABELS)
    happy, neutral = [[0.0, 1.0]], [[1.0, 0.0]]
    for k in range(120):  # 4 s at 30 fps
        t = k / 30
        r = _result(k, t, neutral if k in (31, 100) else happy if 10 <= k < 60 else neutral, [50.0])
        r.faces.signals["yawning"][0] = 70 <= k < 110 and k != 90
        r.faces.signals["looking_away"][0] = 30 <= k < 36  # 0.2 s after the hold
        ts.add(r)
    (row,) = ts.rows()
    assert row["smiles"] == 1 and row["yawns"] == 1
    assert abs(row["longest_look_away_s"] - 1.167) < 0.01
