"""Google MediaPipe's BlazeFace on ONNX Runtime (converted once from .tflite; see weights/NOTICE.md).

Models: ``full`` (full-range, 192x192 input, 2,304 anchors at stride 4; faces from ~7% of the
view's side, turned heads, up to ~5 m) and ``short`` (short-range, 128x128, 896 anchors; selfie
distance, misses small faces). The image is letterboxed to a square (aspect kept, centred),
resized to the model input and scaled to [-1, 1]; outputs are decoded with MediaPipe's SSD anchors
and merged with its weighted non-maximum suppression (overlapping candidates averaged by score).

Boxes are MediaPipe's: square, tight on the face. Measured on dlib's 68 landmarks of 42 faces
(``benchmarks/detect_recall.py``): the top edge is on the lower forehead (brows at 20% of the box
height, eyes at 32%), the bottom edge at the chin (the chin point at 104%: the box ends just above
it), the sides at the jaw line (jaw ends at 8% and 96% of the width); about as wide as dlib's boxes.

Keypoints, six per face, in MediaPipe's order (:data:`KEYPOINTS`): right eye, left eye, nose tip,
mouth centre, right ear tragion, left ear tragion, where "right" is the subject's right: on an
upright frontal face in an unmirrored photo, keypoint 0 is the eye on the image's left.

Small faces in big images: the model sees the whole image at 192x192, so a face under ~7% of the
long side is lost. ``tile`` also runs the model on overlapping square tiles (a pyramid whose finest
tiles are three times the model input, 576 px for full-range, so faces down to ~2% of a 1500 px
side are found; ``True`` on a frame no larger than those: tiles of 4/3 the input, for faces of 15-30 px
in 480x270 or 640x360 video), merging everything with the same weighted NMS; ``"auto"`` does so when the
image's long side is over three times the model input. Each view costs one model run (~10 ms on
2 CPU cores): a 1080p still is 18 views with tiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from affectlens.detect.base import as_rgb8, box_iou, no_faces
from affectlens.types import Faces

WEIGHTS = Path(__file__).parent / "weights"

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear_tragion", "left_ear_tragion")


@dataclass(frozen=True)
class BlazeFaceSpec:
    """MediaPipe's SSD anchor options for one model (face_detection_*_range_common.pbtxt; anchor
    offset 0.5, fixed unit-size anchors: only centres matter; box/keypoint scale = input size)."""

    file: str
    size: int
    strides: tuple[int, ...]
    interpolated_scale_aspect_ratio: float


MODELS = {
    "full": BlazeFaceSpec("blazeface_full_range.onnx", 192, (4,), 0.0),
    "short": BlazeFaceSpec("blazeface_short_range.onnx", 128, (8, 16, 16, 16), 1.0),
}


def ssd_anchors(spec: BlazeFaceSpec) -> np.ndarray:
    """(A, 2) anchor centres in [0, 1], as MediaPipe's SsdAnchorsCalculator orders them."""
    anchors = []
    i = 0
    while i < len(spec.strides):
        j, per_cell = i, 0
        while j < len(spec.strides) and spec.strides[j] == spec.strides[i]:
            per_cell += 2 if spec.interpolated_scale_aspect_ratio == 1.0 else 1
            j += 1
        fm = math.ceil(spec.size / spec.strides[i])
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        anchors.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], 1), per_cell, axis=0))
        i = j
    return np.concatenate(anchors).astype(np.float32)


def decode(raw: np.ndarray, anchors: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw (A, 16) regressors → boxes (A, 4) x1 y1 x2 y2 and keypoints (A, 6, 2), in [0, 1] of the input."""
    r = raw.reshape(len(anchors), -1, 2) / size
    center = r[:, 0] + anchors
    half = r[:, 1] / 2
    return np.concatenate([center - half, center + half], 1), r[:, 2:] + anchors[:, None]


def weighted_nms(
    boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray, iou: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted NMS: each strongest box absorbs those overlapping it by IoU > ``iou``;
    the merged box and keypoints are their score-weighted mean, the score the strongest one's."""
    order = np.argsort(-scores, kind="stable")
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    alive = np.ones(len(scores), bool)
    out_b, out_k, out_s = [], [], []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (box_iou(boxes[i], boxes) > iou)
        group[i] = True
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_k.append((kps[group] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[i])
        alive &= ~group
    n_kp = kps.shape[1]
    return (
        np.asarray(out_b, np.float32).reshape(-1, 4),
        np.asarray(out_k, np.float32).reshape(-1, n_kp, 2),
        np.asarray(out_s, np.float32),
    )


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    """Tile origins covering [0, length) with at least ``overlap`` of a tile shared by neighbours."""
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / (tile * (1 - overlap))) + 1
    return [round(v) for v in np.linspace(0, length - tile, n)]


class BlazeFaceDetector:
    """BlazeFace over one ONNX Runtime session, created once.

    Args:
        model: ``"full"`` (full-range, default) or ``"short"`` (short-range).
        score_threshold: minimum sigmoid score (MediaPipe uses 0.5).
        nms_iou: IoU above which candidates are merged (MediaPipe: 0.3).
        min_face: drop faces whose box side is under this many pixels of the input image.
        max_side: larger images are first shrunk to this long side (bounds the tiling cost).
        tile: ``"auto"`` (tile when the long side exceeds 3x the model input), ``True`` (tile whenever the
            image is larger than one tile) or ``False`` (one view: the fastest; meant for video frames).
        tile_size: side of the finest tiles in pixels (default three times the model input).
        tile_overlap: fraction of a tile shared with its neighbour.
        providers: ONNX Runtime providers; default from ``device``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (used when ``providers`` is None).
        threads: intra-op threads (default: all cores).
    """

    def __init__(
        self,
        model: str = "full",
        score_threshold: float = 0.5,
        nms_iou: float = 0.3,
        min_face: float = 0.0,
        max_side: int | None = 2048,
        tile: bool | str = "auto",
        tile_size: int | None = None,
        tile_overlap: float = 0.25,
        providers: list[str] | None = None,
        device: str = "auto",
        threads: int | None = None,
    ):
        from affectlens.errors import AffectlensError
        from affectlens.runtime import session

        if model not in MODELS:
            raise AffectlensError(f"unknown BlazeFace model {model!r}; known: {', '.join(MODELS)}")
        self.spec = MODELS[model]
        self.size = self.spec.size
        self.session = session(WEIGHTS / self.spec.file, threads, providers, device)
        self.input_name = self.session.get_inputs()[0].name
        outs = self.session.get_outputs()
        self.output_names = [o.name for o in sorted(outs, key=lambda o: -int(o.shape[-1]))]  # (…, 16), (…, 1)
        self.batched = not isinstance(self.session.get_inputs()[0].shape[0], int)
        self.anchors = ssd_anchors(self.spec)
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.min_face = min_face
        self.max_side = max_side
        self.tile = tile
        self.tile_size = tile_size or 3 * self.size
        self.tile_overlap = tile_overlap

    def __repr__(self) -> str:
        return f"BlazeFaceDetector({self.spec.file}, score_threshold={self.score_threshold}, tile={self.tile!r})"

    # -- views: the whole image, plus tiles -----------------------------------------------------
    def views(self, h: int, w: int, tile: bool | str) -> list[tuple[int, int, int]]:
        """Square views (x0, y0, side) to run: the whole image first, then a pyramid of tiles."""
        side = max(h, w)
        views = [(0, 0, side)]
        if tile is False or (tile == "auto" and side <= 3 * self.size):
            return views
        t = self.tile_size
        if tile is True and side <= t:  # asked for on a small frame (480x270, 640x360): faces of 15-25 px
            t = round(4 / 3 * self.size)  # are found in tiles near the input's size (a 576 px tile added none)
        while t < side:
            views += [(x, y, t) for y in _starts(h, t, self.tile_overlap) for x in _starts(w, t, self.tile_overlap)]
            t *= 2
        return views

    def _canvas(self, img: np.ndarray, x0: int, y0: int, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One view letterboxed to the model input; returns (canvas, offset, scale) to map back."""
        crop = img[y0 : y0 + side, x0 : x0 + side]
        ch, cw = crop.shape[:2]
        nh, nw = max(round(ch * self.size / side), 1), max(round(cw * self.size / side), 1)
        interp = cv2.INTER_AREA if side > self.size else cv2.INTER_LINEAR
        canvas = np.zeros((self.size, self.size, 3), np.uint8)
        py, px = (self.size - nh) // 2, (self.size - nw) // 2
        canvas[py : py + nh, px : px + nw] = cv2.resize(crop, (nw, nh), interpolation=interp)
        return canvas, np.array([px, py], np.float32), np.array([cw / nw, ch / nh], np.float32)

    def _infer(self, canvases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # (uint8 NHWC) * 2/255 - 1 written straight into one NCHW float array: a fifth of the time of
        # astype, scale and transpose as three arrays (0.25 vs 1.38 ms for four 192 px canvases)
        x = np.empty((len(canvases), 3, self.size, self.size), np.float32)
        np.multiply(canvases.transpose(0, 3, 1, 2), np.float32(2.0 / 255.0), out=x, casting="unsafe")
        x -= np.float32(1.0)
        if self.batched:
            raw, logits = self.session.run(self.output_names, {self.input_name: x})
        else:
            runs = [self.session.run(self.output_names, {self.input_name: x[i : i + 1]}) for i in range(len(x))]
            raw, logits = (np.concatenate(parts) for parts in zip(*runs, strict=True))
        return raw.reshape(len(x), -1, raw.shape[-1]), logits.reshape(len(x), -1)

    # -- detection -----------------------------------------------------------------------------
    def detect(self, image_rgb: np.ndarray, tile: bool | str | None = None) -> Faces:
        """Faces in an image (RGB, gray, RGBA or 16-bit); ``tile`` overrides the detector's setting."""
        return self.detect_batch([image_rgb], tile)[0]

    def detect_batch(self, images: list[np.ndarray], tile: bool | str | None = None) -> list[Faces]:
        """:meth:`detect` on several images with one model run over all their views (video frames:
        one run per few frames costs a third less per frame than one run each)."""
        plans = [self._plan(as_rgb8(im), self.tile if tile is None else tile) for im in images]
        canvases = [c for p in plans if p is not None for c in p.canvases]
        if not canvases:
            return [no_faces() for _ in images]
        raw, logits = self._infer(np.stack(canvases))
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80)))
        out, at = [], 0
        for p in plans:
            if p is None:
                out.append(no_faces())
                continue
            n = len(p.views)
            out.append(self._faces(p, raw[at : at + n], scores[at : at + n]))
            at += n
        return out

    def _plan(self, img: np.ndarray, tile: bool | str) -> _Plan | None:
        """The views of one RGB8 image and their letterboxed canvases (None: an empty image)."""
        h, w = img.shape[:2]
        if h == 0 or w == 0:
            return None
        shrink = 1.0
        if self.max_side and max(h, w) > self.max_side:
            shrink = self.max_side / max(h, w)
            img = cv2.resize(img, (max(round(w * shrink), 1), max(round(h * shrink), 1)), interpolation=cv2.INTER_AREA)
        ih, iw = img.shape[:2]
        views = self.views(ih, iw, tile)
        prepared = [self._canvas(img, *v) for v in views]
        return _Plan(h, w, ih, iw, shrink, views, [p[0] for p in prepared], [(p[1], p[2]) for p in prepared])

    def _faces(self, p: _Plan, raw: np.ndarray, scores: np.ndarray) -> Faces:
        """One image's faces from its views' raw outputs: decoded, mapped back, merged."""
        all_b, all_k, all_s = [], [], []
        for v, ((x0, y0, side), (off, scale)) in enumerate(zip(p.views, p.maps, strict=True)):
            keep = np.flatnonzero(scores[v] > self.score_threshold)
            if not len(keep):
                continue
            boxes, kps = decode(raw[v, keep], self.anchors[keep], self.size)
            origin = np.array([x0, y0], np.float32)
            boxes = ((boxes.reshape(-1, 2, 2) * self.size - off) * scale + origin).reshape(-1, 4)
            kps = (kps * self.size - off) * scale + origin
            ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            if v > 0:  # a tile: drop faces cut by an edge that is inside the image (a neighbour has them whole)
                m = 0.02 * side
                ok &= (x0 == 0) | (boxes[:, 0] > x0 + m)
                ok &= (y0 == 0) | (boxes[:, 1] > y0 + m)
                ok &= (x0 + side >= p.iw) | (boxes[:, 2] < x0 + side - m)
                ok &= (y0 + side >= p.ih) | (boxes[:, 3] < y0 + side - m)
            all_b.append(boxes[ok])
            all_k.append(kps[ok])
            all_s.append(scores[v, keep][ok])
        if not all_s or not sum(len(s) for s in all_s):
            return no_faces()
        boxes, kps, sc = weighted_nms(np.concatenate(all_b), np.concatenate(all_k), np.concatenate(all_s), self.nms_iou)
        boxes /= p.shrink
        kps /= p.shrink
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, p.w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, p.h)
        side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        ok = side > max(self.min_face, 1.0)
        return Faces(boxes[ok], sc[ok], landmarks=kps[ok].astype(np.float32))


@dataclass
class _Plan:
    """One image's views: sizes (original, after shrinking), the views, their canvases and maps back."""

    h: int
    w: int
    ih: int
    iw: int
    shrink: float
    views: list[tuple[int, int, int]]
    canvases: list[np.ndarray]
    maps: list[tuple[np.ndarray, np.ndarray]]
