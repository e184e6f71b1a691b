"""Stable face ids across frames: ByteTrack (Zhang et al., 2022) on NumPy, assignments by lapx.

Every face keeps a track, a constant-velocity Kalman filter on its box corners. Each update predicts
the tracks to the frame's time and matches detections in two passes: confident detections against
every track, then weak detections against the tracks still free, each pass an optimal assignment
(Jonker-Volgenant, from ``lapx``) on 1 − IoU that refuses pairs overlapping less than ``min_iou``.
A confident detection that no track claims starts a tentative track, which gets an id when the face
is detected again (a one-frame false detection never gets one; the tentative track waits one missed
frame). A track whose face is lost keeps its id for ``lost_track_buffer_s`` seconds of video
(occlusions, a hand over the face, a blink of the detector). Timestamps drive the filter, so
variable frame rates, frame strides and skipped frames move the boxes by the time that passed.

Written here rather than taken from Roboflow's ``trackers``: importing that package pulls in
``supervision``, its annotators and SciPy (~900 modules, 0.46-0.51 s on every video run, about 15 %
of analysing the 9-second demo clip, plus their teardown at exit) for ~150 lines of filter and
bookkeeping. The part worth a library, the assignment solver, is lapx's C++ LAPJV.
"""

from __future__ import annotations

import math

import lap
import numpy as np

from affectlens.detect.base import iou_matrix
from affectlens.types import Faces

# Kalman noise for one nominal frame, in pixels², fixed (the values Roboflow's ByteTrack used for its
# corner-box filter; the original ByteTrack scales them by the box height): detections are trusted
# (measurement 0.1), motion changes slowly (process 0.01 per frame, growing linearly with the gap).
_MEASUREMENT_VAR = 0.1
_PROCESS_VAR = 0.01
_TENTATIVE_PATIENCE = 1  # missed updates a tentative track survives while waiting for its second detection


class _Track:
    """One face's box filter: state (x1, y1, x2, y2, vx1, vy1, vx2, vy2) in pixels and pixels per frame."""

    __slots__ = ("lost_s", "misses", "p", "track_id", "x")

    def __init__(self, box: np.ndarray):
        self.x = np.concatenate([np.asarray(box, np.float64), np.zeros(4)])
        self.p = np.eye(8)
        self.track_id = -1  # tentative until the face is detected again
        self.misses = 0  # updates since the last matched detection
        self.lost_s = 0.0  # seconds of video since the last matched detection

    def predict(self, steps: float) -> None:
        """Move the box ``steps`` nominal frames ahead (0: no motion, only the clock)."""
        if steps > 0:
            f = np.eye(8)
            f[:4, 4:] = np.eye(4) * steps
            self.x = f @ self.x
            self.p = f @ self.p @ f.T + np.eye(8) * (_PROCESS_VAR * steps)

    def correct(self, box: np.ndarray) -> None:
        s = self.p[:4, :4] + np.eye(4) * _MEASUREMENT_VAR
        gain = np.linalg.solve(s, self.p[:4, :]).T  # P Hᵀ S⁻¹ (S is symmetric)
        self.x = self.x + gain @ (box - self.x[:4])
        self.p = self.p - gain @ self.p[:4, :]
        self.misses, self.lost_s = 0, 0.0

    @property
    def box(self) -> np.ndarray:
        return self.x[:4]


def assign(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """The optimal (row, column) pairs, pairs under ``min_iou`` refused.

    Each pair gains its IoU over ``min_iou`` and leaving a row or column unmatched gains nothing, so
    the solver maximises Σ (IoU − ``min_iou``) over the pairs taken, as ByteTrack's lap-based matching
    does (one strong pair can win over two weaker ones)."""
    if iou.size == 0:
        return []
    _, rows, _ = lap.lapjv(1.0 - iou, extend_cost=True, cost_limit=1.0 - min_iou + 1e-9)
    return [(r, int(c)) for r, c in enumerate(rows) if c >= 0 and iou[r, c] >= min_iou]


class FaceTracker:
    """ByteTrack over a video's faces; ``update`` writes ``faces.track_ids`` (−1: not confirmed)."""

    def __init__(
        self,
        fps: float | None = None,
        lost_track_buffer_s: float = 1.5,
        activation_threshold: float = 0.6,
        min_iou: float = 0.1,
    ):
        self.frame_rate = fps if fps is not None and math.isfinite(fps) and fps > 0 else 30.0
        self.lost_track_buffer_s = lost_track_buffer_s
        self.activation_threshold = activation_threshold  # confident detections: matched first, start tracks
        self.min_iou = min_iou
        self.tracks: list[_Track] = []
        self._next_id = 0
        self._last_time: float | None = None

    @property
    def tentative(self) -> bool:
        """Whether a face detected once waits for its second detection to get an id."""
        return any(t.track_id < 0 for t in self.tracks)

    def _elapsed(self, time_s: float | None) -> float:
        """Seconds since the previous update: one frame for the first, for a frame without a timestamp
        and for a jump back in time (a seek, a restarted clock); 0 for a repeated timestamp."""
        frame = 1.0 / self.frame_rate
        last = self._last_time
        if time_s is None or not math.isfinite(time_s):
            self._last_time = None if last is None else last + frame  # later timestamps count from here
            return frame
        self._last_time = time_s
        if last is None or time_s < last:
            return frame
        return time_s - last

    def update(self, faces: Faces, time_s: float | None = None) -> Faces:
        """Assign ``faces.track_ids`` in place (−1 for faces the tracker did not confirm)."""
        self._advance(time_s)
        self.tracks = [t for t in self.tracks if t.lost_s <= self.lost_track_buffer_s]

        boxes = faces.boxes.astype(np.float64)
        ids = np.full(len(faces), -1, np.int64)
        confident = np.flatnonzero(faces.scores >= self.activation_threshold)
        weak = np.flatnonzero(faces.scores < self.activation_threshold)
        free = self._match(self.tracks, confident, boxes, ids)
        free = self._match(free, weak, boxes, ids)
        for t in free:
            t.misses += 1
        self.tracks = [t for t in self.tracks if t.track_id >= 0 or t.misses <= _TENTATIVE_PATIENCE]
        self.tracks += [_Track(boxes[i]) for i in confident if ids[i] < 0]
        faces.track_ids = ids
        return faces

    def reset(self) -> None:
        """Forget every track (a scene cut): faces found from now on get new ids; the clock is kept."""
        self.tracks = []

    def follow(self, faces: Faces, time_s: float | None = None) -> None:
        """Between keyframes: move each confirmed track to its face's followed box (``faces.track_ids``).

        Without this the next keyframe's detections met a Kalman prediction made keyframes ago: a face
        that turned back in between overlapped it too little and started a new id (one face swaying at
        up to 21 px a frame: 11 ids at ``--detect-every 5``, 1 with this)."""
        self._advance(time_s)
        by_id = {t.track_id: t for t in self.tracks if t.track_id >= 0}
        for box, tid in zip(faces.boxes, faces.track_ids, strict=True):
            track = by_id.get(int(tid))
            if track is not None:
                track.correct(np.asarray(box, np.float64))

    def _advance(self, time_s: float | None) -> None:
        """Move every track to ``time_s`` (the clock of :meth:`_elapsed`), counting the time as lost."""
        elapsed = self._elapsed(time_s)
        for t in self.tracks:
            t.predict(elapsed * self.frame_rate)
            t.lost_s += elapsed

    def _match(self, tracks: list[_Track], dets: np.ndarray, boxes: np.ndarray, ids: np.ndarray) -> list[_Track]:
        """Match detections ``dets`` to ``tracks``, writing their ids; returns the tracks left unmatched."""
        if not tracks or not len(dets):
            return tracks
        pairs = assign(iou_matrix(np.stack([t.box for t in tracks]), boxes[dets]), self.min_iou)
        for r, c in pairs:
            track = tracks[r]
            track.correct(boxes[dets[c]])
            if track.track_id < 0:  # a tentative track's second detection confirms it
                track.track_id = self._next_id
                self._next_id += 1
            ids[dets[c]] = track.track_id
        taken = {r for r, _ in pairs}
        return [t for k, t in enumerate(tracks) if k not in taken]
