"""Per-face measurements for engagement: head pose, eye openness, mouth opening, face presence.

One :class:`SignalExtractor` runs the face mesh on every face of a frame in one ONNX Runtime call,
then the eye-state model on both eyes of every face in one more call, then geometry in NumPy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from affectlens.runtime import session
from affectlens.signals import geometry
from affectlens.signals.columns import MEASURED
from affectlens.signals.mesh import FaceMesh
from affectlens.types import Faces

WEIGHTS = Path(__file__).parent / "weights"
__all__ = ["MEASURED", "EyeState", "SignalExtractor", "combine_eyes"]
TURN_FROM, TURN_TO = 10.0, 25.0  # |yaw| degrees: from the mean of both eyes to the more open eye


def combine_eyes(p_open: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """One openness per face from (N, 2) per-eye P(open): ``mean + s · (max − mean)``.

    ``s = clip((|yaw| − 10°) / 15°, 0, 1)``: on a frontal face the two eyes are averaged; as the head
    turns, the far eye is foreshortened and often hidden (by the nose, hair or the face's edge) and
    reads closed when it is not, so from 25° of yaw the more open eye decides. Measured
    (``benchmarks/engagement_signals.py``): the girl looking down in ``obama_and_biden.jpg`` (yaw 30°,
    one eye under her hair) no longer reads closed, at no loss of held-out CEW recall (CEW's closed
    eyes face the camera: median |yaw| 5°); always taking the more open eye cost 5 points of it.
    """
    p_open = np.asarray(p_open, np.float32).reshape(-1, 2)
    mean, most = p_open.mean(1), p_open.max(1)
    s = np.clip((np.abs(np.asarray(yaw, np.float32)) - TURN_FROM) / (TURN_TO - TURN_FROM), 0.0, 1.0)
    return mean + s * (most - mean)


class EyeState:
    """The eye-state model: (N, S, S) uint8 gray eye patches → P(eye open), see ``eye_state.json``.

    The card's ``patch`` gives the patch side ``S`` and its scale (side / eye-corner distance):
    :meth:`patches` cuts them as the model was trained.
    """

    def __init__(self, threads: int | None = 1, providers: list[str] | None = None):
        path = WEIGHTS / "eye_state.onnx"
        self.card = json.loads(path.with_suffix(".json").read_text())
        self.session = session(path, threads, providers)
        self.input_name = self.session.get_inputs()[0].name
        patch = self.card.get("patch", {})
        self.size = int(patch.get("size", geometry.EYE_PATCH))
        self.scale = float(patch.get("scale", geometry.EYE_PATCH_SCALE))

    def patches(self, image_rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Both eyes of one face as this model reads them (see :func:`geometry.eye_patches`)."""
        return geometry.eye_patches(image_rgb, points, self.size, self.scale)

    def p_open(self, patches: np.ndarray) -> np.ndarray:
        if not len(patches):
            return np.zeros(0, np.float32)
        x = patches.astype(np.float32)[:, None] * (1.0 / 255.0)
        logit = self.session.run(None, {self.input_name: x})[0].reshape(-1)
        return (1.0 / (1.0 + np.exp(-np.clip(logit, -60, 60)))).astype(np.float32)


def _meshed(faces: Faces) -> bool:
    """Whether the face mesh already ran on these faces (points and presence for each)."""
    return faces.points is not None and len(faces.points) == len(faces) and "face_presence" in faces.signals


class SignalExtractor:
    """Fill ``faces.signals`` with the measured columns :data:`MEASURED` (see README, "Engagement").

    ``eye_openness`` is the eye-state model's P(open) over both eyes (:func:`combine_eyes`): their mean on
    a frontal face, moving to the more open eye as the head turns; ``mouth_open`` the
    inner-lip gap over the mouth width (capped at 1); ``mouth_width`` the mouth width over the
    outer-eye-corner distance (a laugh stretches it, a yawn does not); ``yaw``/``pitch``/``roll`` in degrees with
    AFLW2000-3D signs (:mod:`affectlens.signals.geometry`); ``face_presence`` the mesh's face score.
    """

    def __init__(self, threads: int | None = 1, providers: list[str] | None = None):
        self.mesh = FaceMesh(threads=threads, providers=providers)
        self.eyes = EyeState(threads=threads, providers=providers)

    def measure(self, image_rgb: np.ndarray, faces: Faces) -> Faces:
        """Measure the faces of one image (see :meth:`measure_many`)."""
        self.measure_many([(image_rgb, faces)])
        return faces

    def mesh_many(self, items: list[tuple[np.ndarray, Faces]]) -> None:
        """Run the face mesh on the faces of several frames in one call: sets each ``faces.points`` and
        ``faces.signals["face_presence"]`` (faces that already have points are left as they are)."""
        todo = [(image, faces) for image, faces in items if not _meshed(faces)]
        if not todo:
            return
        rois, crops, owner = [], [], []
        for k, (image, faces) in enumerate(todo):
            r = self.mesh.rois(faces.boxes, faces.landmarks) if len(faces) else []
            rois += r
            crops.append(self.mesh.crops(image, r))
            owner += [k] * len(r)
        pts, presence = self.mesh.run(np.concatenate(crops), rois)
        owner_arr = np.array(owner, np.int64)
        for k, (_, faces) in enumerate(todo):
            m = owner_arr == k
            faces.points = pts[m]
            faces.signals["face_presence"] = presence[m]

    def measure_many(self, items: list[tuple[np.ndarray, Faces]]) -> None:
        """Measure the faces of several frames with one mesh call (for faces not yet meshed) and one
        eye-state call for all."""
        self.mesh_many(items)
        pts = [p for _, faces in items for p in faces.points]
        owner = np.array([k for k, (_, faces) in enumerate(items) for _ in range(len(faces))], np.int64)
        patches = [self.eyes.patches(items[k][0], p) for k, p in zip(owner, pts, strict=True)]
        empty = np.zeros((0, self.eyes.size, self.eyes.size), np.uint8)
        p_open = self.eyes.p_open(np.concatenate(patches) if patches else empty)
        pose = np.array([geometry.head_pose(p) for p in pts], np.float32).reshape(-1, 3)
        p_open = combine_eyes(p_open, pose[:, 0])
        mouth = np.array([min(geometry.mouth_open_ratio(p), 1.0) for p in pts], np.float32)
        width = np.array([geometry.mouth_width_ratio(p) for p in pts], np.float32)
        for k, (_, faces) in enumerate(items):
            m = owner == k
            presence = faces.signals.pop("face_presence")  # written last, as the columns are documented
            faces.points = None  # 5.6 kB a face: results kept in memory (a long video's) must not carry them
            faces.signals |= {
                "yaw": np.round(pose[m, 0], 1),
                "pitch": np.round(pose[m, 1], 1),
                "roll": np.round(pose[m, 2], 1),
                "eye_openness": np.round(p_open[m], 3),
                "mouth_open": np.round(mouth[m], 3),
                "mouth_width": np.round(width[m], 3),
                "face_presence": np.round(presence, 3),
            }
