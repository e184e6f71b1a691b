"""MediaPipe BlazeFace on ONNX Runtime (converted once from the .tflite files; see weights/NOTICE.md).

The full-range model (192x192 input, 2,304 anchors at stride 4) finds faces from ~2% of the
image side upward and tolerates turned heads; the short-range model (128x128) is for selfie
distances. The image is letterboxed to a square (aspect kept), scaled to [-1, 1]; outputs are
decoded with MediaPipe's SSD anchors and merged with its weighted non-maximum suppression.

Boxes are MediaPipe's: tight around the face, from about the eyebrows to the chin. Keypoints,
six per face, in this order: the eye on the image's left, the eye on the image's right, nose
tip, mouth centre, the ear tragion on the image's left, on the image's right (for a frontal
face the image-left eye is the subject's right eye).

For frames much larger than the model input, ``tile`` also runs the model on overlapping
square tiles, so small faces in big images (a classroom in 1080p) are not lost.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from affectlens.detect.base import DetectedFaces, as_rgb8

WEIGHTS = Path(__file__).parent / "weights"

MODELS = {
    # name: (file, input size, strides, interpolated_scale_aspect_ratio)
    "full": ("blazeface_full_range.onnx", 192, (4,), 0.0),
    "short": ("blazeface_short_range.onnx", 128, (8, 16, 16, 16), 1.0),
}


def ssd_anchors(size: int, strides: tuple[int, ...], interpolated: float) -> np.ndarray:
    """Anchor centres (normalised), as MediaPipe's SsdAnchorsCalculator makes them."""
    anchors = []
    i = 0
    while i < len(strides):
        j, repeats = i, 0
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
            repeats += 2 if interpolated == 1.0 else 1
        fm = size // strides[i]
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        centers = np.stack([xs.ravel(), ys.ravel()], 1)
        anchors.append(np.repeat(centers, repeats, axis=0))
        i = j
    return np.concatenate(anchors).astype(np.float32)


def weighted_nms(boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray, iou: float) -> tuple:
    """MediaPipe's weighted NMS: overlapping candidates are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    alive = np.ones(len(scores), bool)
    out_b, out_k, out_s = [], [], []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        x1 = np.maximum(boxes[i, 0], boxes[:, 0])
        y1 = np.maximum(boxes[i, 1], boxes[:, 1])
        x2 = np.minimum(boxes[i, 2], boxes[:, 2])
        y2 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        ov = inter / np.maximum(area[i] + area - inter, 1e-9)
        group = alive & (ov > iou)
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_k.append((kps[group] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[i])
        alive &= ~group
    if not out_s:
        return np.zeros((0, 4), np.float32), np.zeros((0, *kps.shape[1:]), np.float32), np.zeros(0, np.float32)
    return np.asarray(out_b, np.float32), np.asarray(out_k, np.float32), np.asarray(out_s, np.float32)


class BlazeFaceDetector:
    def __init__(
        self,
        model: str = "full",
        score_threshold: float = 0.5,
        nms_iou: float = 0.3,
        tile: bool | str = "auto",
        device: str = "auto",
        threads: int | None = None,
    ):
        from affectlens.classify.onnx import providers_for

        file, self.size, strides, interp = MODELS[model]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(WEIGHTS / file), opts, providers=providers_for(device))
        self.input_name = self.session.get_inputs()[0].name
        self.anchors = ssd_anchors(self.size, strides, interp)
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.tile = tile

    # one square view of the image → candidates in image pixels
    def _run(self, img: np.ndarray, x0: int, y0: int, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        crop = img[y0 : y0 + side, x0 : x0 + side]
        ch, cw = crop.shape[:2]
        scale = self.size / side
        nh, nw = max(round(ch * scale), 1), max(round(cw * scale), 1)
        resized = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        canvas = np.zeros((self.size, self.size, 3), np.uint8)
        py, px = (self.size - nh) // 2, (self.size - nw) // 2
        canvas[py : py + nh, px : px + nw] = resized
        x = (canvas.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)[None]
        raw_boxes, raw_scores = self.session.run(None, {self.input_name: x})
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1), -80, 80)))
        keep = scores > self.score_threshold
        if not keep.any():
            return np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32), np.zeros(0, np.float32)
        r = raw_boxes.reshape(-1, 8, 2)[keep] / self.size
        anc = self.anchors[keep]
        center = r[:, 0] + anc
        half = r[:, 1] / 2
        boxes = np.concatenate([center - half, center + half], 1)
        kps = r[:, 2:] + anc[:, None]
        # from the model's square canvas back to image pixels
        off = np.array([px, py], np.float32) / self.size
        boxes = (boxes - np.tile(off, 2)) * self.size / scale + np.array([x0, y0, x0, y0], np.float32)
        kps = (kps - off) * self.size / scale + np.array([x0, y0], np.float32)
        return boxes.astype(np.float32), kps.astype(np.float32), scores[keep].astype(np.float32)

    def _views(self, h: int, w: int) -> list[tuple[int, int, int]]:
        side = max(h, w)
        views = [(0, 0, side)]
        if self.tile is False or (self.tile == "auto" and side < 3 * self.size):
            return views
        tile = min(h, w, max(2 * self.size, side // 2))
        step = max(int(tile * 0.75), 1)
        for y in range(0, max(h - tile, 0) + 1, step):
            for x in range(0, max(w - tile, 0) + 1, step):
                views.append((x, y, tile))
        return views

    def detect(self, image_rgb: np.ndarray) -> DetectedFaces:
        img = as_rgb8(image_rgb)
        h, w = img.shape[:2]
        if h == 0 or w == 0:
            return DetectedFaces.empty()
        parts = [self._run(img, x, y, s) for x, y, s in self._views(h, w)]
        boxes = np.concatenate([p[0] for p in parts])
        kps = np.concatenate([p[1] for p in parts])
        scores = np.concatenate([p[2] for p in parts])
        if not len(scores):
            return DetectedFaces.empty()
        boxes, kps, scores = weighted_nms(boxes, kps, scores, self.nms_iou)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        ok = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
        return DetectedFaces(boxes[ok], scores[ok], kps[ok])
