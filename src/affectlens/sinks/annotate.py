"""Annotated media: boxes, track ids, top-3 probabilities, an engagement gauge and a valence sparkline."""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from affectlens.errors import AffectlensError
from affectlens.labels import NEGATIVE, POSITIVE
from affectlens.sinks.base import Sink
from affectlens.types import FrameResult

_COLORS = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0), (204, 121, 167)]


def _color(tid: int) -> tuple[int, int, int]:
    return _COLORS[tid % len(_COLORS)] if tid >= 0 else (200, 200, 200)


class Annotator:
    """Draws results on RGB frames; keeps a short history per track for the sparklines.

    The sparkline plots valence, P(positive) − P(negative), over the last ``history`` frames
    (green above the mid-line, red below).
    """

    def __init__(self, history: int = 90, blur_faces: bool = False, blur_hold_s: float = 1.0):
        self.history = history
        self.blur_faces = blur_faces
        self.blur_hold_s = blur_hold_s  # keep blurring a tracked face this long after detection misses it
        self._hist: dict[tuple[str, int], deque] = {}
        self._last_box: dict[tuple[str, int], tuple[float, np.ndarray]] = {}

    def draw(self, result: FrameResult, image: np.ndarray | None = None) -> np.ndarray:
        img = (image if image is not None else result.image).copy()
        f = result.faces
        h, w = img.shape[:2]
        scale = max(min(h, w) / 720, 0.4)
        probs = f.best_probs
        labels = result.labels
        pos = [i for i, c in enumerate(labels) if c in POSITIVE]
        neg = [i for i, c in enumerate(labels) if c in NEGATIVE]
        if self.blur_faces:  # all faces first, so that no blur covers another face's numbers
            for box in self._boxes_to_blur(result):
                self._blur(img, *(int(round(v)) for v in box))
        for i in range(len(f)):
            x1, y1, x2, y2 = (int(round(v)) for v in f.boxes[i])
            tid = int(f.track_ids[i])
            col = _color(tid)
            cv2.rectangle(img, (x1, y1), (x2, y2), col, max(int(2 * scale), 1), cv2.LINE_AA)
            lines = [f"#{tid}" if tid >= 0 else "face"]
            below = y2 + int(4 * scale)
            if "engagement" in f.signals:
                value = float(f.signals["engagement"][i])
                reason = str(f.signals["state_reason"][i])
                known = np.isfinite(value)  # NaN: a face the mesh cannot read, engagement unknown (an empty gauge)
                shown = f"{value:.0f}" if known else "?"
                lines.append(f"engagement {shown}" + (f" ({reason.replace('_', ' ')})" if reason else ""))
                gw = max(x2 - x1, int(80 * scale))
                self._gauge(img, value / 100.0 if known else 0.0, x1, below, gw, max(int(7 * scale), 3))
                below += max(int(7 * scale), 3) + 2
            if probs is not None:
                order = np.argsort(-probs[i])[:3]
                lines += [f"{labels[j]} {probs[i, j]:.2f}" for j in order]
                key = (result.source, tid)
                hist = self._hist.setdefault(key, deque(maxlen=self.history))
                hist.append(float(probs[i, pos].sum() - probs[i, neg].sum()))
                self._sparkline(img, hist, x1, below, max(x2 - x1, int(80 * scale)), int(28 * scale))
            self._text_block(img, lines, x1, y1, col, scale, below + int(30 * scale) if probs is not None else below)
        return img

    def _boxes_to_blur(self, result: FrameResult) -> list[np.ndarray]:
        """This frame's faces (those read and those found but not read: a face's first frame, before the tracker
        gives it an id, or one under ``min_face``), plus tracked faces that detection missed within
        ``blur_hold_s``."""
        f = result.faces
        boxes = [f.boxes[i, :4] for i in range(len(f))]
        if f.unread is not None:
            boxes += list(f.unread[:, :4])
        t = result.time_s if result.time_s is not None else float(result.frame)
        seen = set()
        for i in range(len(f)):
            tid = int(f.track_ids[i])
            if tid >= 0:
                self._last_box[(result.source, tid)] = (t, f.boxes[i, :4].copy())
                seen.add(tid)
        for (src, tid), (t_seen, box) in list(self._last_box.items()):
            if src != result.source or tid in seen:
                continue
            if 0 <= t - t_seen <= self.blur_hold_s:
                boxes.append(box)
            else:
                del self._last_box[(src, tid)]
        return boxes

    @staticmethod
    def _blur(img: np.ndarray, x1: int, y1: int, x2: int, y2: int, blocks: int = 5) -> None:
        """Anonymise a face: its box (padded 20% at the sides, 25% above, 40% below for the chin)
        pixelated to ``blocks`` cells across, then blurred.

        The cell count is fixed, not the cell size, so a large face is as unrecognisable as a
        small one: at 5 cells no eye, nose or mouth survives for a detector (tested) or a person.
        """
        h, w = img.shape[:2]
        pad_x, bh = int((x2 - x1) * 0.2), y2 - y1
        a, b = max(x1 - pad_x, 0), max(y1 - int(bh * 0.25), 0)
        c, d = min(x2 + pad_x, w), min(y2 + int(bh * 0.4), h)
        if c <= a or d <= b:
            return
        roi = img[b:d, a:c]
        cells_x = max(min(blocks, c - a), 1)
        cells_y = max(min(round(blocks * (d - b) / (c - a)), d - b), 1)
        small = cv2.resize(roi, (cells_x, cells_y), interpolation=cv2.INTER_AREA)
        big = cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_NEAREST)
        img[b:d, a:c] = cv2.GaussianBlur(big, (0, 0), max((c - a) / (4 * blocks), 1.0))

    @staticmethod
    def _text_block(img, lines, x, y, col, scale, below: int | None = None) -> None:
        """The face's lines above its box (``y``), or under its gauge and sparkline (``below``) where there is
        no room above (over the face's eyes before), kept inside the frame (cut off at its sides before)."""
        h, w = img.shape[:2]
        fs = 0.45 * scale
        th = max(int(1.2 * scale), 1)
        lh = int(16 * scale) + 2
        width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, fs, th)[0][0] for t in lines) + 6
        height = lh * len(lines) + 2
        top = y - height
        if top < 0:
            top = below if below is not None else y + 2
        top = int(min(max(top, 0), max(h - height, 0)))
        x = int(min(max(x, 0), max(w - width, 0)))
        # shaded in place: a copy of the whole frame per face cost 38 ms at 1080p
        box = img[top : top + height, x : x + width]
        box[:] = (box.astype(np.float32) * 0.45).astype(np.uint8)
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
    def _gauge(img, value: float, x: int, y: int, width: int, height: int) -> None:
        """A horizontal bar filled to ``value`` (0-1): red (low) through amber to green (high)."""
        h, w = img.shape[:2]
        if y + height >= h:
            return
        x2 = min(x + width, w - 1)
        cv2.rectangle(img, (x, y), (x2, y + height), (40, 40, 40), -1)
        v = float(np.clip(value, 0.0, 1.0))
        col = (int(220 * (1 - v) + 40 * v), int(60 + 150 * v), 60)
        if v > 0:
            cv2.rectangle(img, (x, y), (x + int((x2 - x) * v), y + height), col, -1)

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

    TIME_BASE = Fraction(1, 1000)  # frames are stamped in milliseconds of the source's time

    def __init__(self, path: str | Path, fps: float | None):
        self.path = Path(path)
        self.fps = fps or 25.0
        self._container = None
        self._stream = None
        self._written = 0
        self._last_pts = -1
        self._t0: float | None = None

    def __enter__(self) -> VideoWriter:
        return self

    def write(self, rgb: np.ndarray, time_s: float | None = None) -> None:
        """Add a frame shown at ``time_s`` of the source (default: the next one at ``fps``): frames left out
        (``--fps``, ``--stride``) or of a variable-rate source keep their true times, so the video plays at
        the source's speed."""
        if self._container is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # the index first (+faststart): a browser plays it while it downloads
            self._container = av.open(str(self.path), "w", options={"movflags": "+faststart"})
            rate = Fraction(self.fps).limit_denominator(1001)
            try:
                self._stream = self._container.add_stream("libx264", rate=rate)
                self._stream.options = {"crf": "23", "preset": "veryfast"}
            except (av.error.FFmpegError, ValueError):
                self._stream = self._container.add_stream("mpeg4", rate=rate)
            self._stream.height, self._stream.width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
            self._stream.pix_fmt = "yuv420p"
            # the encoder's clock too: at 1/avg_rate, frames of a variable-rate source closer than that (a phone
            # clip's dropped frame, a GIF's short delay) shared a tick and the muxer refused the video
            self._stream.time_base = self._stream.codec_context.time_base = self.TIME_BASE
            cc = self._stream.codec_context  # tagged as converted (BT.601, limited range): players guessed BT.709
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 6, 6, 6, 1  # for HD, shifting colours
        rgb = rgb[: self._stream.height, : self._stream.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        t = time_s if time_s is not None and np.isfinite(time_s) else self._written / self.fps
        if self._t0 is None:
            self._t0 = t  # the video starts with its first frame
        self._last_pts = max(int(round((t - self._t0) / self.TIME_BASE)), self._last_pts + 1)  # increasing
        frame.pts, frame.time_base = self._last_pts, self.TIME_BASE
        self._written += 1
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except av.error.FFmpegError as exc:  # one line in run.json's failures; the other inputs go on
            raise AffectlensError(f"could not write the annotated video {self.path}: {exc}") from None

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


def write_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write the image as JPEG, or as PNG beside it where JPEG cannot hold it (a side over 65,500 px);
    returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        return path
    png = path.with_suffix(".png")
    if not cv2.imwrite(str(png), bgr):
        raise AffectlensError(f"could not write the annotated image {path} ({rgb.shape[1]}x{rgb.shape[0]})")
    return png


def unique_stem(source_name: str, taken: set[str]) -> str:
    """A file stem for a source's annotated output not in ``taken`` (then added to it): ``face.jpg`` and
    ``face.png`` (both written as ``.jpg``), or ``a/clip.mp4`` and ``b/clip.mp4``, must not overwrite each other."""
    path = Path(source_name)
    stem = path.stem
    if stem in taken:
        stem = f"{path.stem}-{path.suffix.lstrip('.')}" if path.suffix else stem
    n = 2
    base = stem
    while stem in taken:
        stem, n = f"{base}-{n}", n + 1
    taken.add(stem)
    return stem


class AnnotatedMedia(Sink):
    """Sink: one source's annotated output under ``folder``: ``<stem>.mp4`` for a video, ``<stem>.jpg``
    for a still (``stem`` defaults to the source's file name).

    A context manager: the video is closed (and valid) however the block ends.
    """

    def __init__(
        self,
        folder: str | Path,
        source_name: str,
        is_video: bool,
        fps: float | None,
        annotator: Annotator,
        stem: str | None = None,
    ):
        self.annotator = annotator
        stem = stem or Path(source_name).stem
        self.still = Path(folder) / f"{stem}.jpg"
        self.video = VideoWriter(Path(folder) / f"{stem}.mp4", fps) if is_video else None

    def add(self, result: FrameResult) -> None:
        img = self.annotator.draw(result)
        if self.video is not None:
            self.video.write(img, result.time_s)
        else:
            write_image(self.still, img)

    def close(self) -> None:
        if self.video is not None:
            self.video.close()
