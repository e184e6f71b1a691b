"""Detection that does less: the detector runs on keyframes, the face mesh follows faces in between.

MediaPipe's face-mesh graph does the same: once a face is found, the next frame's region of interest
comes from the last one, and the detector runs again only when a face is lost. Here:

* :class:`Keyframes` decides which frames the detector runs on: every ``every``-th frame, and any
  frame that differs from the one before it like a scene cut does (the mean absolute difference of
  32x18 gray thumbnails above :data:`CUT`, on a 0-255 scale; measured on the staged clips: cuts
  15-36, fast motion up to ~13, still scenes under 3), so a cut never carries faces across it.
* :class:`MeshFollower` moves a keyframe's faces to the next frame: the face mesh runs on each face's
  last region (1.5x its box, as for a detection), the 2-D similarity (scale, rotation, shift) from
  the last frame's mesh points to the new ones moves the box and the detector's six keypoints, and a
  face the mesh no longer sees (presence under :data:`MIN_PRESENCE`, MediaPipe's threshold) is
  dropped until a keyframe finds it again; a detection the mesh never saw is held. The mesh points
  it computes are the frame's engagement measurements
  (:meth:`affectlens.signals.measure.SignalExtractor.measure_many` reuses them), so following costs
  no model run beyond what the signals already needed (at a reduced analysis rate, ``--fps``, the
  mesh still runs on every frame to follow the faces).

Tracks (ids) are updated where the detector ran: keyframes, and the frame after a face's first
detection (:class:`affectlens.pipeline.Stream` detects that one too, so the face gets its id as
with every-frame detection); a followed face keeps its id.
"""

from __future__ import annotations

import cv2
import numpy as np

from affectlens.signals.measure import SignalExtractor
from affectlens.types import Faces

CUT = 14.0  # mean |difference| of consecutive 32x18 gray thumbnails (0-255) that forces a keyframe
THUMB = (32, 18)
MIN_PRESENCE = 0.5
# mesh points that move with the head but not with the mouth or jaw: eye corners and lids, brows,
# nose bridge and tip, forehead, cheeks at ear level (MediaPipe face-mesh indices)
# fmt: off
RIGID = np.array([
    33, 133, 160, 158, 144, 153, 362, 263, 385, 387, 373, 380, 70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 234, 454, 127, 356,
])
# fmt: on


SCENE_CUT = 2  # what :meth:`Keyframes.due` answers for the first frame of a new shot (truthy: a keyframe)


class Keyframes:
    """Which video frames the detector runs on: the first, every ``every``-th after a keyframe, and
    any frame after a scene cut. Call :meth:`due` once per frame, in order: it answers False, True, or
    :data:`SCENE_CUT` (also with ``every`` 1: the faces of a new shot are other people, or the same
    ones elsewhere, and must not inherit the last shot's tracks)."""

    def __init__(self, every: int, cut: float = CUT):
        self.every = max(1, int(every))
        self.cut = cut
        self._since: int | None = None  # frames since the last keyframe
        self._thumb: np.ndarray | None = None

    def due(self, image: np.ndarray) -> bool | int:
        if self._is_cut(image):
            self._since = 0
            return SCENE_CUT
        if self.every == 1 or self._since is None or self._since >= self.every - 1:
            self._since = 0
            return True
        self._since += 1
        return False

    def _is_cut(self, image: np.ndarray) -> bool:
        small = cv2.resize(image, THUMB, interpolation=cv2.INTER_AREA)
        thumb = (cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small).astype(np.float32)
        prev, self._thumb = self._thumb, thumb
        return prev is not None and float(np.abs(thumb - prev).mean()) > self.cut


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares 2-D similarities taking ``src`` points to ``dst`` points, per face.

    ``src``, ``dst``: (N, K, 2). Returns ``a`` (N,) complex (scale x e^{i·angle}) and ``t`` (N,) complex
    (shift), so that ``dst ≈ a · src + t`` with points as complex numbers ``x + iy`` (Umeyama's
    solution, which in 2-D is one complex ratio).
    """
    z = src[..., 0] + 1j * src[..., 1]
    w = dst[..., 0] + 1j * dst[..., 1]
    zm, wm = z.mean(1, keepdims=True), w.mean(1, keepdims=True)
    zc = z - zm
    a = (np.conj(zc) * (w - wm)).sum(1) / np.maximum((np.abs(zc) ** 2).sum(1), 1e-9)
    return a, wm[:, 0] - a * zm[:, 0]


def _apply(a: np.ndarray, t: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N, K, 2) points through the per-face similarities of :func:`similarity`."""
    z = a[:, None] * (pts[..., 0] + 1j * pts[..., 1]) + t[:, None]
    return np.stack([z.real, z.imag], -1).astype(np.float32)


class MeshFollower:
    """Moves faces from one frame to the next with the face mesh (see the module docstring)."""

    def __init__(self, signals: SignalExtractor, min_presence: float = MIN_PRESENCE):
        self.signals = signals
        self.min_presence = min_presence

    def measure(self, image: np.ndarray, faces: Faces) -> Faces:
        """Give a keyframe's faces their mesh points now (the next frame is followed from them)."""
        self.signals.mesh_many([(image, faces)])
        return faces

    def follow(self, image: np.ndarray, last: Faces) -> Faces:
        """``last`` (faces with mesh points) moved onto ``image``.

        A face the mesh saw on the last frame (presence at least ``min_presence``) moves with its mesh
        points and is left out once the mesh loses it. A face the mesh did not see (a detection at
        the edge of what the mesh reads: a profile, a face half hidden) has no points to follow: it
        is held where it was, as the detector reported it, until the next keyframe.
        """
        if not len(last) or last.points is None:
            return last.copy()
        moved = last.copy()
        moved.points, moved.signals = None, {}
        self.signals.mesh_many([(image, moved)])
        seen = last.signals["face_presence"] >= self.min_presence
        a, t = similarity(last.points[:, RIGID, :2], moved.points[:, RIGID, :2])
        centre = 0.5 * (last.boxes[:, :2] + last.boxes[:, 2:])
        half = 0.5 * (last.boxes[:, 2:] - last.boxes[:, :2]) * np.abs(a)[:, None]
        c = _apply(a, t, centre[:, None])[:, 0]
        moved.boxes = np.where(seen[:, None], np.concatenate([c - half, c + half], 1), last.boxes).astype(np.float32)
        if last.landmarks is not None:
            moved.landmarks = np.where(seen[:, None, None], _apply(a, t, last.landmarks), last.landmarks)
        return moved[~seen | (moved.signals["face_presence"] >= self.min_presence)]
