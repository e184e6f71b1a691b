"""FaceTracker (ByteTrack) on constructed boxes: ids stay with a moving face, new faces get new ids."""

from __future__ import annotations

import numpy as np

from affectlens.detect.base import iou_matrix
from affectlens.track import FaceTracker, assign
from affectlens.types import Faces


def _faces(*boxes) -> Faces:
    return Faces(np.array(boxes, np.float32), np.full(len(boxes), 0.9, np.float32))


def test_ids_follow_moving_faces_and_survive_a_short_gap():
    tr = FaceTracker(fps=30.0, lost_track_buffer_s=1.0)
    ids = []
    for k in range(10):
        f = tr.update(_faces([10 + 2 * k, 10, 60 + 2 * k, 60], [200 - 2 * k, 10, 250 - 2 * k, 60]), k / 30)
        ids.append(f.track_ids.tolist())
    confirmed = [i for i in ids if min(i) >= 0]
    assert len(confirmed) >= 8 and all(i == confirmed[0] for i in confirmed)
    assert confirmed[0][0] != confirmed[0][1]
    tr.update(_faces(), 10 / 30)  # both faces hidden for a few frames
    tr.update(_faces(), 11 / 30)
    back = tr.update(_faces([30, 10, 80, 60], [180, 10, 230, 60]), 12 / 30).track_ids.tolist()
    assert back == confirmed[0]


def test_a_new_face_far_away_gets_a_new_id():
    tr = FaceTracker(fps=30.0)
    for k in range(5):
        first = tr.update(_faces([10, 10, 60, 60]), k / 30).track_ids.tolist()
    for k in range(5, 10):
        both = tr.update(_faces([10, 10, 60, 60], [300, 300, 350, 350]), k / 30).track_ids.tolist()
    assert both[0] == first[0] and both[1] >= 0 and both[1] != first[0]


def test_a_face_gets_its_id_on_its_second_detection_and_a_one_frame_blip_never_gets_one():
    tr = FaceTracker(fps=30.0)
    assert not tr.tentative
    assert tr.update(_faces([10, 10, 60, 60]), 0.0).track_ids.tolist() == [-1]  # tentative
    assert tr.tentative  # (keyframe detection detects the next frame too)
    assert tr.update(_faces([11, 10, 61, 60]), 1 / 30).track_ids.tolist() == [0]
    assert not tr.tentative
    blip = tr.update(_faces([11, 10, 61, 60], [300, 300, 340, 340]), 2 / 30).track_ids.tolist()
    assert blip == [0, -1]
    for k in range(3, 6):  # the blip is not seen again: its tentative track is dropped
        assert tr.update(_faces([11, 10, 61, 60]), k / 30).track_ids.tolist() == [0]
    assert not tr.tentative
    late = tr.update(_faces([11, 10, 61, 60], [300, 300, 340, 340]), 6 / 30).track_ids.tolist()
    assert late == [0, -1]  # a fresh tentative track, not the old blip's


def test_weak_detections_continue_tracks_but_never_start_them():
    tr = FaceTracker(fps=30.0, activation_threshold=0.6)
    weak = Faces(np.array([[10, 10, 60, 60]], np.float32), np.array([0.4], np.float32))
    for k in range(3):
        assert tr.update(weak[np.arange(1)], k / 30).track_ids.tolist() == [-1]
    for k in range(3, 5):
        tr.update(_faces([10, 10, 60, 60]), k / 30)
    assert tr.update(weak[np.arange(1)], 5 / 30).track_ids.tolist() == [0]


def test_the_lost_budget_is_seconds_of_video_at_any_frame_rate():
    for fps in (24.0, 60.0):
        tr = FaceTracker(fps=fps, lost_track_buffer_s=1.0)
        for k in range(3):
            tr.update(_faces([10, 10, 60, 60]), k / fps)
        assert tr.update(_faces([10, 10, 60, 60]), 2 / fps + 0.95).track_ids.tolist() == [0]
        assert tr.update(_faces(), 2 / fps + 0.95 + 1 / fps).track_ids.tolist() == []
        back = tr.update(_faces([10, 10, 60, 60]), 2 / fps + 0.95 + 1.05).track_ids.tolist()
        assert back == [-1], fps  # unseen for 1.05 s > 1.0 s: a new face, tentative again


def test_iou_matrix_and_an_assignment_that_greedy_matching_gets_wrong():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 20]], np.float64)
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float64)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 0.0], [0.5, 0.0]])
    # greedy takes (0, 0) at 0.9 and leaves row 1 with 0.05; the optimum pairs (0, 1) and (1, 0)
    iou = np.array([[0.9, 0.8], [0.8, 0.05]])
    assert sorted(assign(iou, 0.1)) == [(0, 1), (1, 0)]
    assert assign(np.array([[0.05, 0.0]]), 0.1) == []  # under min_iou: refused
    assert assign(np.zeros((0, 3)), 0.1) == []


def test_the_filter_carries_a_fast_face_across_a_gap_its_boxes_do_not_bridge():
    tr = FaceTracker(fps=30.0)
    for k in range(12):  # 20 px per frame, boxes 50 px wide
        ids = tr.update(_faces([20 * k, 10, 20 * k + 50, 60]), k / 30).track_ids.tolist()
    for k in range(12, 15):  # 3 frames unseen: the face moves 80 px, more than its width
        tr.update(_faces(), k / 30)
    assert tr.update(_faces([300, 10, 350, 60]), 15 / 30).track_ids.tolist() == ids == [0]


def test_a_tentative_track_waits_one_missed_frame_for_its_second_detection():
    tr = FaceTracker(fps=30.0)
    tr.update(_faces([10, 10, 60, 60]), 0.0)
    tr.update(_faces(), 1 / 30)  # missed once: still waiting
    assert tr.update(_faces([10, 10, 60, 60]), 2 / 30).track_ids.tolist() == [0]
    tr = FaceTracker(fps=30.0)
    tr.update(_faces([10, 10, 60, 60]), 0.0)
    tr.update(_faces(), 1 / 30)
    tr.update(_faces(), 2 / 30)  # missed twice: dropped, the face starts over
    assert tr.update(_faces([10, 10, 60, 60]), 3 / 30).track_ids.tolist() == [-1]


def test_one_track_takes_one_detection_the_confident_one():
    tr = FaceTracker(fps=30.0)
    for k in range(3):
        tr.update(_faces([10, 10, 60, 60]), k / 30)
    both = Faces(np.array([[11, 10, 61, 60], [12, 11, 62, 61]], np.float32), np.array([0.4, 0.9], np.float32))
    assert tr.update(both, 3 / 30).track_ids.tolist() == [-1, 0]


def test_frames_without_timestamps_and_clock_jumps_count_as_one_frame():
    tr = FaceTracker(fps=30.0, lost_track_buffer_s=0.08)  # under three frames
    for k in range(3):
        tr.update(_faces([10, 10, 60, 60]), k / 30)
    tr.update(_faces(), None)  # one frame, and later timestamps count from it: not twice
    assert tr.update(_faces([10, 10, 60, 60]), 4 / 30).track_ids.tolist() == [0]
    tr.update(_faces(), 100.0)  # a jump forward: the track is long gone
    assert tr.update(_faces([10, 10, 60, 60]), 100.0 + 1 / 30).track_ids.tolist() == [-1]
    tr.update(_faces([10, 10, 60, 60]), 100.0 + 2 / 30)
    for t in (0.0, 1 / 30, 2 / 30, 3 / 30):  # a jump back (a seek): time still passes, one frame each
        tr.update(_faces(), t)
    assert tr.update(_faces([10, 10, 60, 60]), 4 / 30).track_ids.tolist() == [-1]
    assert FaceTracker(fps=float("nan")).frame_rate == FaceTracker(fps=-5).frame_rate == 30.0


def test_importing_the_pipeline_and_tracking_stay_clear_of_heavy_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, affectlens.pipeline, affectlens.cli.app\n"
        "from affectlens.track import FaceTracker\n"
        "from affectlens.types import Faces\n"
        "FaceTracker(fps=30).update(Faces(np.array([[0, 0, 9, 9.]], np.float32), np.ones(1, np.float32)), 0.0)\n"
        "print(*(m in sys.modules for m in ('supervision', 'trackers', 'scipy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]  # supervision + SciPy cost ~0.5 s per run
