"""The preprocessing a model card prescribes, applied identically in training, eval and analysis.

A model sees a square face crop, resized to ``size`` pixels, in ``color`` mode, normalised as
``(x / 255 - mean) / std``. Where that crop comes from:

* a dataset image that already is a face (FER+, RAF-DB aligned, an ImageFolder of crops):
  the centred square of the whole image;
* a detected face in a frame: the detector's box, made square around its centre and scaled by
  ``crop_scale`` (padding with edge pixels where it leaves the frame), optionally rotated so the
  eyes are level when the detector gives eye landmarks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


def center_square(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return img[y : y + s, x : x + s]


def resize(img: np.ndarray, size: int) -> np.ndarray:
    h = img.shape[0]
    interp = cv2.INTER_AREA if h > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # RGB → gray luma, the weights of cv2.COLOR_RGB2GRAY


def to_color(img: np.ndarray, color: str) -> np.ndarray:
    """Convert a uint8 gray (H, W) or RGB (H, W, 3) image to ``color`` ('gray' or 'rgb')."""
    if color == "gray":
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if color == "rgb":
        return img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    raise ValueError(f"unknown colour mode {color!r}")


ALIGN_MIN_EYE_GAP = 0.15  # eyes closer than this share of the box width (a profile): no levelling
ALIGN_MAX_DEG = 45.0  # a roll beyond this is kept at it (eye keypoints that far off are noise, not a head)


def eye_roll(eyes: np.ndarray, box_width: float) -> float:
    """The angle (degrees) that levels the eyes; 0 where they are too close together to tell (a face in
    profile: a few pixels of keypoint noise turned its crop by up to 88°, flipping from frame to frame)."""
    (rx, ry), (lx, ly) = eyes[0], eyes[1]
    if np.hypot(lx - rx, ly - ry) < ALIGN_MIN_EYE_GAP * box_width:
        return 0.0
    if lx < rx:  # eyes given in image left/right order
        rx, ry, lx, ly = lx, ly, rx, ry
    angle = float(np.degrees(np.arctan2(ly - ry, lx - rx)))
    return float(np.clip(angle, -ALIGN_MAX_DEG, ALIGN_MAX_DEG))


def _shrunk_around(frame: np.ndarray, m: np.ndarray, centre, side: float, scale: float):
    """The part of ``frame`` a rotated crop of ``side`` pixels around ``centre`` can read, shrunk by
    ``scale`` with INTER_AREA (edge pixels replicated where it leaves the frame), and the affine ``m``
    re-expressed on it: the warp that follows is then about 1:1 and samples no aliased detail."""
    h, w = frame.shape[:2]
    r = side * 0.7072 + 2  # half the diagonal of the crop's square, at any roll, plus bilinear's neighbours
    x0, y0 = int(np.floor(centre[0] - r)), int(np.floor(centre[1] - r))
    x1, y1 = int(np.ceil(centre[0] + r)), int(np.ceil(centre[1] + r))
    roi = frame[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    if roi.size == 0:
        return frame, m
    pads = (max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0))
    if any(pads):
        roi = cv2.copyMakeBorder(roi, *pads, cv2.BORDER_REPLICATE)
    rh, rw = roi.shape[:2]
    nw, nh = max(int(round(rw * scale)), 1), max(int(round(rh * scale)), 1)
    small = cv2.resize(roi, (nw, nh), interpolation=cv2.INTER_AREA)
    sx, sy = nw / rw, nh / rh
    # small's pixel (u, v) samples the frame's ((u + .5) / sx - .5 + x0, (v + .5) / sy - .5 + y0)
    back = np.array([[1 / sx, 0, (0.5 / sx - 0.5) + x0], [0, 1 / sy, (0.5 / sy - 0.5) + y0], [0, 0, 1]])
    return small, (np.vstack([m, [0, 0, 1]]) @ back)[:2]


@dataclass(frozen=True)
class Preprocess:
    size: int = 48
    color: str = "gray"
    mean: float = 0.5
    std: float = 0.25
    crop_scale: float = 1.15
    align: bool = True

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    # -- crops -----------------------------------------------------------------------------
    def crop_image(self, img: np.ndarray) -> np.ndarray:
        """A whole image that already is a face (any array :func:`~affectlens.detect.base.as_rgb8` converts:
        uint8, floats in 0-1, gray, RGBA, 16-bit) → uint8 crop of ``size`` in ``color``."""
        from affectlens.detect.base import as_rgb8

        img = to_color(as_rgb8(img), self.color)
        if img.shape[:2] != (self.size, self.size):
            img = resize(center_square(img), self.size)
        return img

    def crop_images(self, images) -> np.ndarray:
        """Many face images (an array ``(N, H, W[, 3])`` or a list) → uint8 ``(N, size, size[, 3])``. One image
        given alone (``(H, W)``, or ``(H, W, 3|4)``) is one face, not H of them."""
        if isinstance(images, np.ndarray) and (images.ndim == 2 or (images.ndim == 3 and images.shape[2] in (3, 4))):
            images = [images]
        if isinstance(images, np.ndarray) and images.ndim >= 3 and images.dtype == np.uint8:
            same = images.shape[1:3] == (self.size, self.size)
            if same and (images.ndim == 3) == (self.color == "gray"):
                return images
        return (
            np.stack([self.crop_image(im) for im in images])
            if len(images)
            else np.zeros((0, self.size, self.size) + (() if self.color == "gray" else (3,)), np.uint8)
        )

    def crop_box(self, frame_rgb: np.ndarray, box: np.ndarray, eyes: np.ndarray | None = None) -> np.ndarray:
        """Cut the face in ``box`` (x1, y1, x2, y2, pixels) out of an RGB frame as the model's crop.

        With ``eyes`` ((right_eye_xy, left_eye_xy) in image coordinates) and ``align`` on, the crop
        is rotated about the box centre so the eyes are level.
        """
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        side = max(x2 - x1, y2 - y1) * self.crop_scale
        angle = 0.0
        if self.align and eyes is not None:
            angle = eye_roll(eyes, x2 - x1)
        scale = self.size / max(side, 1.0)
        m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        m[0, 2] += self.size / 2 - cx
        m[1, 2] += self.size / 2 - cy
        if scale < 1:  # a face larger than the crop: shrink by area first (warpAffine reads INTER_AREA as LINEAR)
            frame_rgb, m = _shrunk_around(frame_rgb, m, (cx, cy), side, scale)
        crop = cv2.warpAffine(
            frame_rgb, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return to_color(crop, self.color)

    def standardize(self, x01):
        """The card's normalisation of [0, 1] pixels, for NumPy arrays and torch tensors alike."""
        return (x01 - self.mean) / self.std

    def normalize(self, crops: np.ndarray) -> np.ndarray:
        """uint8 crops ``(N, S, S[, 3])`` → float32 NCHW tensor input."""
        x = self.standardize(crops.astype(np.float32) * (1.0 / 255.0))
        if x.ndim == 3:
            return x[:, None]
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
