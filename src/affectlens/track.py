"""Stable face ids across frames: a thin adapter over ByteTrack from Roboflow's ``trackers``.

ByteTrack (Zhang et al., 2022) keeps a Kalman-filtered track per face and matches detections by
IoU in two passes (confident, then weak detections). A face that disappears keeps its id for
``lost_track_buffer_s`` seconds (occlusions, a hand over the face), and timestamps are passed
through so variable-frame-rate video and frame strides are handled.

``trackers`` (and the ``supervision`` package it imports, ~0.5 s with its SciPy parts) is imported on
the first update, not with this module: a video run imports it while the detect-ahead worker is
already decoding and detecting the first frames, and commands that never track do not pay for it.
"""

from __future__ import annotations

import warnings

import numpy as np

from affectlens.types import Faces


class FaceTracker:
    def __init__(
        self,
        fps: float | None = None,
        lost_track_buffer_s: float = 1.5,
        activation_threshold: float = 0.6,
        min_iou: float = 0.1,
    ):
        rate = fps or 30.0
        self._settings = dict(
            lost_track_buffer=max(int(round(lost_track_buffer_s * rate)), 1),
            frame_rate=rate,
            track_activation_threshold=activation_threshold,
            minimum_consecutive_frames=1,
            minimum_iou_threshold=min_iou,
            high_conf_det_threshold=activation_threshold,
        )
        self._tracker = None
        self._use_time = fps is not None

    def update(self, faces: Faces, time_s: float | None = None) -> Faces:
        """Assign ``faces.track_ids`` in place (−1 for faces the tracker did not confirm)."""
        import supervision as sv

        if self._tracker is None:
            from trackers import ByteTrackTracker

            self._tracker = ByteTrackTracker(**self._settings)
        dets = sv.Detections(
            xyxy=faces.boxes.astype(np.float32),
            confidence=faces.scores.astype(np.float32),
            data={"_idx": np.arange(len(faces))},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._tracker.update(dets, timestamp=time_s if self._use_time else None)
        ids = np.full(len(faces), -1, np.int64)
        if len(out):
            idx = np.asarray(out.data["_idx"], np.int64)
            ids[idx] = np.asarray(out.tracker_id, np.int64)
        faces.track_ids = ids
        return faces
