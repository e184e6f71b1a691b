"""A local camera through OpenCV; timestamps from the wall clock since the first frame."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import cv2

from affectlens.errors import AffectlensError
from affectlens.sources.base import Frame, Source

log = logging.getLogger(__name__)


def _quietly_open(device: int) -> cv2.VideoCapture:
    """Open a camera with OpenCV's own logging silenced: a missing camera is our one-line error, not
    a dozen lines of backend warnings."""
    old = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(device)
    finally:
        cv2.utils.logging.setLogLevel(old)


class WebcamSource(Source):
    is_video = True

    def __init__(
        self, device: int = 0, width: int | None = None, height: int | None = None, max_frames: int | None = None
    ):
        self.device = device
        self.name = f"webcam:{device}"
        self.max_frames = max_frames
        self.cap = _quietly_open(device)
        if not self.cap.isOpened():
            raise AffectlensError(f"cannot open camera {device} (no such device, or it is busy)")
        # the newest frame, not the oldest of the driver's queue (4 on V4L2): an analysis slower than the camera
        # would otherwise show and stamp frames ever more behind what the camera sees
        self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if width:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or None

    def __iter__(self) -> Iterator[Frame]:
        t0 = None
        index = 0
        try:
            while self.max_frames is None or index < self.max_frames:
                ok, bgr = self.cap.read()
                if not ok:
                    if index == 0:
                        raise AffectlensError(f"camera {self.device} gives no frames")
                    log.warning("camera %s stopped giving frames after %d (unplugged or taken?)", self.device, index)
                    break
                now = time.monotonic()
                t0 = now if t0 is None else t0
                yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index, now - t0, self.name)
                index += 1
        finally:
            self.close()

    def close(self) -> None:
        self.cap.release()
