"""The face detector interface: an RGB image in, the faces found as :class:`~affectlens.types.Faces` out.

A detection is the pipeline's one result type from the start: ``boxes`` (N, 4) float32 x1 y1 x2 y2 in
pixels of the image given to ``detect``, ``scores`` (N,) confidences in [0, 1], strongest first, and
``landmarks`` (N, K, 2) float32 keypoints in detector-specific order (see the detector), or None.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from affectlens.types import Faces


def no_faces(k: int = 6) -> Faces:
    """An empty detection (with an empty (0, k, 2) keypoint array)."""
    return Faces(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), landmarks=np.zeros((0, k, 2), np.float32))


class FaceDetector(Protocol):
    def detect(self, image_rgb: np.ndarray, tile: bool | str | None = None) -> Faces: ...

    def detect_batch(self, images: list[np.ndarray], tile: bool | str | None = None) -> list[Faces]: ...


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of boxes ``a`` (N, 4) and ``b`` (M, 4), corners x1, y1, x2, y2."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(box: np.ndarray | tuple, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one (x1, y1, x2, y2) box with each row of ``boxes``."""
    return iou_matrix(box, boxes)[0]


COLORS = ("rgb", "bgr")


def as_rgb8(image: np.ndarray, color: str = "rgb") -> np.ndarray:
    """Any image array → contiguous RGB uint8 (H, W, 3).

    Accepts gray (H, W) or (H, W, 1), RGB, RGBA (alpha dropped), uint8, uint16 (top byte), bool,
    other integers (clipped to 0..255) and floats: 0..1 when the maximum is at most 1.5 (a 0-1 image resampled
    with a cubic filter overshoots 1 a little), else 0..255 (a 0-255 image resampled undershoots 0: clipped);
    floats within 1.5 of 0 that go well below 0 (a -1..1 normalised tensor) are refused, there is no telling
    their range. ``color="bgr"``: the channels are in
    OpenCV's order (``cv2.imread``, ``cv2.VideoCapture``), BGR or BGRA.
    """
    if color not in COLORS:
        raise ValueError(f"color={color!r}: the channel order is 'rgb' or 'bgr'")
    img = np.asarray(image)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 1|3|4), got {img.shape}")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif np.issubdtype(img.dtype, np.floating):
        finite = np.nan_to_num(img.astype(np.float32))
        unit = finite.size and finite.max() <= 1.5
        if unit and finite.min() < -0.5:  # (a 0-255 image resampled undershoots 0 too: that is clipped, as ever)
            raise ValueError(
                f"float pixels from {finite.min():.3g} to {finite.max():.3g}: a normalised tensor? give 0-1 or "
                "0-255 values (undo the mean and scale first)"
            )
        scale = 255.0 if unit else 1.0
        img = np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] in (1, 2):  # gray, gray + alpha
        img = np.repeat(img[..., :1], 3, axis=2)
    return np.ascontiguousarray(img[..., 2::-1] if color == "bgr" else img[..., :3])


def detect_padded(detector: FaceDetector, image_rgb: np.ndarray, pad: float = 0.4) -> Faces:
    """Detect on ``image_rgb`` surrounded by a border of ``pad`` x its larger side (edge pixels).

    For images that already are a face (a dataset crop, a cropped snapshot): the detector's anchors
    expect some context around a face, so a face filling the frame is often missed without it.
    Boxes and keypoints come back in the original image's pixels (boxes clipped to it).
    """
    img = as_rgb8(image_rgb)
    h, w = img.shape[:2]
    p = max(int(round(pad * max(h, w))), 1)
    big = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_REPLICATE)
    det = detector.detect(big, tile=False)
    if not len(det):
        return det
    boxes = det.boxes - p
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    kps = None if det.landmarks is None else det.landmarks - p
    return Faces(boxes.astype(np.float32), det.scores, landmarks=kps)


def whole_image_face(image_rgb: np.ndarray) -> Faces:
    """The whole image as one face (``--crops``): a full-frame box, score 1, no keypoints."""
    h, w = np.asarray(image_rgb).shape[:2]
    return Faces(np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32))
