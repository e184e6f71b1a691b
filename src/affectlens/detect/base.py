"""The face detector interface: an RGB image in, boxes + scores (+ keypoints) in its pixels out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class DetectedFaces:
    boxes: np.ndarray  # (N, 4) float32: x1, y1, x2, y2 in pixels of the image given
    scores: np.ndarray  # (N,) float32 in [0, 1]
    keypoints: np.ndarray | None = None  # (N, K, 2) float32 pixels, detector-specific order

    @classmethod
    def empty(cls, k: int = 6) -> DetectedFaces:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, k, 2), np.float32))

    def __len__(self) -> int:
        return len(self.scores)


class FaceDetector(Protocol):
    def detect(self, image_rgb: np.ndarray) -> DetectedFaces: ...


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """Gray, RGBA or 16-bit arrays → RGB uint8 (H, W, 3)."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        img = np.ascontiguousarray(img[..., :3])
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return img
