"""Annotated media: boxes, track ids, top-3 probabilities and a per-face sparkline HUD."""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from affectlens.labels import NEGATIVE, POSITIVE
from affectlens.types import FrameResult

_COLORS = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0), (204, 121, 167)]


def _color(tid: int) -> tuple[int, int, int]:
    return _COLORS[tid % len(_COLORS)] if tid >= 0 else (200, 200, 200)


class Annotator:
    """Draws results on RGB frames; keeps a short history per track for the sparklines.

    The sparkline plots valence, P(positive) − P(negative), over the last ``history`` frames
    (green above the mid-line, red below).
    """

    def __init__(self, history: int = 90, blur_faces: bool = False):
        self.history = history
        self.blur_faces = blur_faces
        self._hist: dict[tuple[str, int], deque] = {}

    def draw(self, result: FrameResult, image: np.ndarray | None = None) -> np.ndarray:
        img = (image if image is not None else result.image).copy()
        f = result.faces
        h, w = img.shape[:2]
        scale = max(min(h, w) / 720, 0.4)
        probs = f.smoothed if f.smoothed is not None else f.probs
        labels = result.labels
        pos = [i for i, c in enumerate(labels) if c in POSITIVE]
        neg = [i for i, c in enumerate(labels) if c in NEGATIVE]
        for i in range(len(f)):
            x1, y1, x2, y2 = (int(round(v)) for v in f.boxes[i])
            tid = int(f.track_ids[i])
            col = _color(tid)
            if self.blur_faces:
                self._blur(img, x1, y1, x2, y2)
            cv2.rectangle(img, (x1, y1), (x2, y2), col, max(int(2 * scale), 1), cv2.LINE_AA)
            lines = [f"#{tid}" if tid >= 0 else "face"]
            if probs is not None:
                order = np.argsort(-probs[i])[:3]
                lines += [f"{labels[j]} {probs[i, j]:.2f}" for j in order]
                key = (result.source, tid)
                hist = self._hist.setdefault(key, deque(maxlen=self.history))
                hist.append(float(probs[i, pos].sum() - probs[i, neg].sum()))
                self._sparkline(img, hist, x1, y2 + int(4 * scale), max(x2 - x1, int(80 * scale)), int(28 * scale))
            self._text_block(img, lines, x1, y1, col, scale)
        return img

    @staticmethod
    def _blur(img: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> None:
        h, w = img.shape[:2]
        pad_x, pad_y = int((x2 - x1) * 0.15), int((y2 - y1) * 0.15)
        a, b = max(x1 - pad_x, 0), max(y1 - pad_y, 0)
        c, d = min(x2 + pad_x, w), min(y2 + pad_y, h)
        if c <= a or d <= b:
            return
        roi = img[b:d, a:c]
        small = cv2.resize(roi, (max((c - a) // 12, 1), max((d - b) // 12, 1)), interpolation=cv2.INTER_AREA)
        img[b:d, a:c] = cv2.GaussianBlur(cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_NEAREST), (0, 0), 3)

    @staticmethod
    def _text_block(img, lines, x, y, col, scale) -> None:
        fs = 0.45 * scale
        th = max(int(1.2 * scale), 1)
        lh = int(16 * scale) + 2
        width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, fs, th)[0][0] for t in lines) + 6
        top = y - lh * len(lines) - 2
        if top < 0:
            top = y + 2
        overlay = img.copy()
        cv2.rectangle(overlay, (x, top), (x + width, top + lh * len(lines) + 2), (0, 0, 0), -1)
        cv2.addWeighted(overlay, 0.55, img, 0.45, 0, dst=img)
        for k, t in enumerate(lines):
            cv2.putText(
                img,
                t,
                (x + 3, top + lh * (k + 1) - 3),
                cv2.FONT_HERSHEY_SIMPLEX,
                fs,
                col if k == 0 else (255, 255, 255),
                th,
                cv2.LINE_AA,
            )

    @staticmethod
    def _sparkline(img, values, x, y, width, height) -> None:
        h, w = img.shape[:2]
        if y + height >= h or len(values) < 2:
            return
        x2 = min(x + width, w - 1)
        overlay = img.copy()
        cv2.rectangle(overlay, (x, y), (x2, y + height), (0, 0, 0), -1)
        cv2.addWeighted(overlay, 0.5, img, 0.5, 0, dst=img)
        mid = y + height // 2
        cv2.line(img, (x, mid), (x2, mid), (120, 120, 120), 1)
        v = np.asarray(values)
        xs = np.linspace(x, x2, len(v)).astype(np.int32)
        ys = (mid - v * (height / 2 - 1)).astype(np.int32)
        pts = np.stack([xs, ys], 1).reshape(-1, 1, 2)
        col = (60, 200, 60) if v[-1] >= 0 else (220, 60, 60)
        cv2.polylines(img, [pts], False, col, 1, cv2.LINE_AA)


class VideoWriter:
    """Encode RGB frames to H.264 MP4 (MPEG-4 Part 2 where libx264 is missing); closes cleanly on errors."""

    def __init__(self, path: str | Path, fps: float | None):
        self.path = Path(path)
        self.fps = fps or 25.0
        self._container = None
        self._stream = None

    def __enter__(self) -> VideoWriter:
        return self

    def write(self, rgb: np.ndarray) -> None:
        if self._container is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), "w")
            rate = Fraction(self.fps).limit_denominator(1001)
            try:
                self._stream = self._container.add_stream("libx264", rate=rate)
                self._stream.options = {"crf": "23", "preset": "veryfast"}
            except (av.error.FFmpegError, ValueError):
                self._stream = self._container.add_stream("mpeg4", rate=rate)
            self._stream.height, self._stream.width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
            self._stream.pix_fmt = "yuv420p"
        rgb = rgb[: self._stream.height, : self._stream.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is not None:
            try:
                for packet in self._stream.encode():
                    self._container.mux(packet)
            finally:
                self._container.close()
                self._container = None

    def __exit__(self, *exc) -> None:
        self.close()


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
