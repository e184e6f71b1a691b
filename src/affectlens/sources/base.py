"""Frames and the sources that yield them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    index: int
    time_s: float | None  # from the container's timestamps; None for still images
    source: str


class Source:
    """Something that yields :class:`Frame` objects: an image, a video, a camera, a stream."""

    name: str = ""
    is_video: bool = False
    fps: float | None = None
    total_frames: int | None = None
    duration_s: float | None = None

    def __iter__(self) -> Iterator[Frame]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file (idempotent)."""
