"""Video files and network streams through PyAV (FFmpeg): real timestamps, rotation, threaded decode.

Frames are decoded in a background thread into a small bounded queue, so decoding overlaps
detection and classification while memory stays flat.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from affectlens.errors import AffectlensError
from affectlens.sources.base import Frame, Source

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp", ".gif"}
)
_END = object()


def _rotate(img: np.ndarray, degrees: int) -> np.ndarray:
    k = int(round(degrees / 90)) % 4  # PyAV: the display matrix turns the frame this far counter-clockwise
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


class VideoSource(Source):
    """A video file or a stream URL (rtsp://, http(s)://, …) decoded by FFmpeg."""

    is_video = True

    def __init__(self, url: str | Path, stride: int = 1, timeout_s: float = 10.0, queue_size: int = 8):
        self.url = str(url)
        self.name = self.url
        self.stride = max(int(stride), 1)
        is_stream = "://" in self.url
        if not is_stream:
            p = Path(url)
            if not p.exists():
                raise AffectlensError(f"{p}: no such file")
            if p.stat().st_size == 0:
                raise AffectlensError(f"{p}: empty file (0 bytes), not a video")
        options = {"rw_timeout": str(int(timeout_s * 1e6)), "stimeout": str(int(timeout_s * 1e6))} if is_stream else {}
        try:
            self.container = av.open(self.url, options=options, timeout=timeout_s if is_stream else None)
        except av.error.FFmpegError as exc:
            what = "cannot reach or read stream" if is_stream else "not a readable video (corrupt or unsupported)"
            raise AffectlensError(f"{self.url}: {what}: {exc.strerror or exc}") from None
        if not self.container.streams.video:
            self.container.close()
            raise AffectlensError(f"{self.url}: contains no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.total_frames = self.stream.frames or None
        if self.stream.duration is not None and self.stream.time_base is not None:
            self.duration_s = float(self.stream.duration * self.stream.time_base)
        elif self.container.duration:
            self.duration_s = self.container.duration / 1e6
        self._announced = self.total_frames  # the container's frame count, when it states one
        if not self.total_frames and self.duration_s and self.fps:
            self.total_frames = int(round(self.duration_s * self.fps))
        self.error: str | None = None
        self.truncated = False  # fewer frames decoded than the header lists
        self.decoded = 0
        self._closed = False
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None

    def _decode(self) -> None:
        tb = self.stream.time_base or Fraction(1, 1)
        start = self.stream.start_time or 0
        index = 0
        try:
            for frame in self.container.decode(self.stream):
                if self._closed:
                    break
                if index % self.stride == 0:
                    t = None if frame.pts is None else float((frame.pts - start) * tb)
                    img = frame.to_ndarray(format="rgb24")
                    rot = getattr(frame, "rotation", 0) or 0
                    if rot:
                        img = _rotate(img, rot)
                    self._queue.put(Frame(img, index, t, self.name))
                index += 1
                self.decoded = index
            short = self._announced and not self._closed and index + max(3, 0.02 * self._announced) < self._announced
            if short:  # FFmpeg ends a cut-off file (a broken download) quietly: its header knows better
                self.truncated = True
                self.error = f"{self.url}: video is truncated: {index} of the {self._announced} frames its header lists"
        except av.error.FFmpegError as exc:
            self.error = f"{self.url}: video is corrupt or truncated after frame {index}: {exc.strerror or exc}"
        except Exception as exc:  # report any decoder failure on the consumer side
            self.error = f"{self.url}: decoding failed after frame {index}: {exc}"
        finally:
            self._queue.put(_END)

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise RuntimeError("a VideoSource can be iterated once")
        self._thread = threading.Thread(target=self._decode, name="affectlens-decode", daemon=True)
        self._thread.start()
        try:
            while (item := self._queue.get()) is not _END:
                yield item
        finally:
            self.close()
        if self.error:
            raise AffectlensError(self.error)
        if self.decoded == 0:
            raise AffectlensError(f"{self.url}: no frame could be decoded (empty or corrupt video)")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        while self._thread is not None and self._thread.is_alive():
            try:  # unblock the decoder if it waits on a full queue
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)
        self.container.close()
