"""Where frames come from: ``open_sources(input)`` turns a path, folder, URL or camera index into sources."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from affectlens.errors import AffectlensError
from affectlens.sources.base import Frame, Source
from affectlens.sources.image import IMAGE_SUFFIXES, ImageSource, load_image
from affectlens.sources.video import VIDEO_SUFFIXES, VideoSource
from affectlens.sources.webcam import WebcamSource

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


def _still_gif(path: Path) -> bool:
    """A GIF of one frame is a photo (analysed as a still image), not a one-frame video."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return getattr(img, "n_frames", 1) == 1
    except (OSError, ValueError):
        return False  # not readable as a GIF: the video reader says why


def _file_source(path: Path, stride: int) -> Source:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES or (suffix == ".gif" and _still_gif(path)):
        return ImageSource(path)
    if suffix in VIDEO_SUFFIXES:
        return VideoSource(path, stride=stride)
    raise AffectlensError(
        f"{path}: unsupported file type {suffix or '(none)'}; images: {', '.join(sorted(IMAGE_SUFFIXES))}; "
        f"videos: {', '.join(sorted(VIDEO_SUFFIXES))}"
    )


def media_files(folder: Path) -> list[Path]:
    """Images and videos directly inside ``folder``, sorted by name; hidden files (``.name``, macOS's
    ``._name`` resource forks beside every copied photo) are not media."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
    )


def _subfolders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass(frozen=True)
class InputItem:
    """One thing to analyse: ``kind`` is stream, camera, image or video; ``location`` opens it."""

    kind: str
    location: str
    in_folder: bool = False  # found inside a folder: an unreadable file is skipped, not fatal

    @property
    def is_video(self) -> bool:
        return self.kind in ("video", "stream", "camera")


def list_inputs(spec: str | Path) -> list[InputItem]:
    """Classify one input spec: an image or video file, a folder (its media by name), a stream URL or
    a camera index (``"0"``). Raises :class:`AffectlensError` for a missing path or an empty folder."""
    s = str(spec)
    if s.lower().startswith(STREAM_SCHEMES):
        return [InputItem("stream", s)]
    if s.isdigit() and not Path(s).exists():
        return [InputItem("camera", s)]
    path = Path(s).expanduser()
    if not path.exists():
        raise AffectlensError(f"{path}: no such file or folder")
    if path.is_dir():
        files, subs = media_files(path), _subfolders(path)
        if subs:  # not searched: say so rather than leave their media out unnoticed
            shown = ", ".join(subs[:3]) + (f" and {len(subs) - 3} more" if len(subs) > 3 else "")
            log.warning("%s: subfolders not searched (give them as inputs too): %s", path, shown)
        if not files:
            raise AffectlensError(
                f"{path}: folder holds no images or videos"
                + (" (only subfolders, which are not searched)" if subs else "")
            )
        return [InputItem(_kind(f), str(f), in_folder=True) for f in files]
    return [InputItem(_kind(path), str(path))]


def _kind(path: Path) -> str:
    return "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"


def open_item(item: InputItem, stride: int = 1) -> Source:
    if item.kind == "stream":
        return VideoSource(item.location, stride=stride)
    if item.kind == "camera":
        return WebcamSource(int(item.location))
    return _file_source(Path(item.location), stride)


def open_sources(spec: str | Path, stride: int = 1, on_skip=None):
    """Yield a :class:`Source` per input item (:func:`list_inputs`), opened lazily, one at a time.

    Inside a folder an unreadable file is skipped with a warning (and passed to ``on_skip``); a
    single bad input raises :class:`AffectlensError`.
    """
    for item in list_inputs(spec):
        with skipping(item, on_skip):
            yield open_item(item, stride)


@contextmanager
def skipping(item: InputItem, on_skip=None) -> Iterator[None]:
    """Around the work on one input item: inside a folder an :class:`AffectlensError` (an unreadable file, a
    video that breaks part-way) is logged, passed to ``on_skip`` and swallowed; a single input raises it."""
    try:
        yield
    except AffectlensError as exc:
        if not item.in_folder:
            raise
        log.warning("skipped %s", exc)
        if on_skip is not None:
            on_skip(str(exc))


__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Frame",
    "ImageSource",
    "InputItem",
    "Source",
    "VideoSource",
    "WebcamSource",
    "list_inputs",
    "load_image",
    "media_files",
    "open_item",
    "open_sources",
    "skipping",
]
