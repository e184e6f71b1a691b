"""Where frames come from: ``open_sources(input)`` turns a path, folder, URL or camera index into sources."""

from __future__ import annotations

import logging
from pathlib import Path

from affectlens.errors import AffectlensError
from affectlens.sources.base import Frame, Source
from affectlens.sources.image import IMAGE_SUFFIXES, ImageSource, load_image
from affectlens.sources.video import VIDEO_SUFFIXES, VideoSource
from affectlens.sources.webcam import WebcamSource

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


def _file_source(path: Path, stride: int) -> Source:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return ImageSource(path)
    if suffix in VIDEO_SUFFIXES:
        return VideoSource(path, stride=stride)
    raise AffectlensError(
        f"{path}: unsupported file type {suffix or '(none)'}; images: {', '.join(sorted(IMAGE_SUFFIXES))}; "
        f"videos: {', '.join(sorted(VIDEO_SUFFIXES))}"
    )


def media_files(folder: Path) -> list[Path]:
    """Images and videos directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)


def open_sources(spec: str | Path, stride: int = 1, on_skip=None):
    """Yield a :class:`Source` per input item.

    ``spec`` is an image or video file, a folder (its images and videos, by name), a stream URL
    or a camera index (``"0"``). Inside a folder an unreadable file is skipped with a warning;
    a single bad input raises :class:`AffectlensError`. Sources are opened lazily, one at a time.
    """
    s = str(spec)
    if s.startswith(STREAM_SCHEMES):
        yield VideoSource(s, stride=stride)
        return
    if s.isdigit() and not Path(s).exists():
        yield WebcamSource(int(s))
        return
    path = Path(s).expanduser()
    if not path.exists():
        raise AffectlensError(f"{path}: no such file or folder")
    if path.is_dir():
        files = media_files(path)
        if not files:
            raise AffectlensError(f"{path}: folder holds no images or videos")
        for f in files:
            try:
                yield _file_source(f, stride)
            except AffectlensError as exc:
                log.warning("skipped %s", exc)
                if on_skip is not None:
                    on_skip(str(exc))
        return
    yield _file_source(path, stride)


__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Frame",
    "ImageSource",
    "Source",
    "VideoSource",
    "WebcamSource",
    "load_image",
    "media_files",
    "open_sources",
]
