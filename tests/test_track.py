"""FaceTracker (ByteTrack) on constructed boxes: ids stay with a moving face, new faces get new ids."""

from __future__ import annotations

import numpy as np

from affectlens.track import FaceTracker
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


def test_importing_the_pipeline_leaves_the_tracker_library_for_the_first_update() -> None:
    import subprocess
    import sys

    code = (
        "import sys, affectlens.pipeline, affectlens.cli.app; "
        "print('supervision' in sys.modules, 'trackers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]  # ~0.5 s of imports a still image or `eval` never needs
