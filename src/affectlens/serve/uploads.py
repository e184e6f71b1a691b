"""Uploads: saved in chunks under a size limit, recognised by their content (never by their name).

An image must decode (Pillow, EXIF rotation, 400 MP cap); a video must open in FFmpeg and yield
its first frame. Failures are :class:`ApiError` 413 / 415 / 422 with the reason.
"""

from __future__ import annotations

import io
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import UploadFile
from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool

from affectlens.serve.errors import ApiError
from affectlens.sources.image import MAX_PIXELS, to_rgb8

Kind = Literal["image", "video"]
SERVE_MAX_PIXELS = 60_000_000  # an image over this (e.g. 10000x6000) is refused before it is decoded
CHUNK = 1 << 20

# (offset, magic bytes, kind, suffix): enough to tell the containers FFmpeg and Pillow read
_MAGIC: list[tuple[int, bytes, Kind, str]] = [
    (0, b"\xff\xd8\xff", "image", ".jpg"),
    (0, b"\x89PNG\r\n\x1a\n", "image", ".png"),
    (0, b"BM", "image", ".bmp"),
    (0, b"II*\x00", "image", ".tif"),
    (0, b"MM\x00*", "image", ".tif"),
    (4, b"ftyp", "video", ".mp4"),
    (0, b"\x1a\x45\xdf\xa3", "video", ".mkv"),
    (0, b"GIF8", "video", ".gif"),
    (0, b"FLV", "video", ".flv"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video", ".wmv"),
    (0, b"\x00\x00\x01\xba", "video", ".mpg"),
    (0, b"\x00\x00\x01\xb3", "video", ".mpg"),
]


def sniff(head: bytes) -> tuple[Kind, str] | None:
    """The kind and a suffix for the first bytes of a file, or None when it is neither."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", ".webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", ".avi"
    if len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "video", ".ts"
    for offset, magic, kind, suffix in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind, suffix
    return None


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"upload larger than the limit of {limit / 1024 / 1024:.0f} MB", "too_large")


async def read_upload(file: UploadFile, limit: int) -> bytes:
    """The whole upload in memory (images), refusing more than ``limit`` bytes."""
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise ApiError(422, f"{file.filename or 'upload'}: empty file (0 bytes)", "empty")
    return data


@dataclass
class SavedUpload:
    path: Path
    kind: Kind
    size: int
    filename: str


#: images fully decoded at once to check uploads (a 60 MP image takes ~180 MB as RGB: without a bound, a
#: handful of small, highly compressed uploads at once could take gigabytes)
_DECODING = threading.BoundedSemaphore(2)


def _check_image(path: Path, name: str) -> None:
    with _DECODING:
        decode_image(path.read_bytes(), name)


async def save_upload(
    file: UploadFile, folder: Path, limit: int, stem: str = "input", video_only: str | None = None
) -> SavedUpload:
    """Copy the upload to ``folder/<stem><suffix>`` in chunks, then check its content.

    ``video_only``: the 415 message for anything but a video, refused before it is stored or decoded."""
    name = Path(file.filename or "upload").name[:200]
    head = await file.read(4096)
    if not head:
        raise ApiError(422, f"{name}: empty file (0 bytes)", "empty")
    found = sniff(head)
    if found is None:
        raise ApiError(415, f"{name}: not an image or video (content is {_describe(head)})")
    kind, suffix = found
    if video_only and kind != "video":
        raise ApiError(415, f"{name}: {video_only}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}{suffix}"
    size = len(head)
    try:
        with path.open("wb") as out:
            out.write(head)
            while chunk := await file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                out.write(chunk)
        if kind == "image":
            await run_in_threadpool(_check_image, path, name)
        else:
            await run_in_threadpool(check_video, path, name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return SavedUpload(path, kind, size, name)


def _describe(head: bytes) -> str:
    text = head[:64]
    if text and all(32 <= b < 127 or b in (9, 10, 13) for b in text):
        return "text"
    return f"unknown binary data starting {head[:8].hex(' ')}"


def header_size(data: bytes) -> tuple[int, int]:
    """Width and height from an image's header, without decoding its pixels (422 when unreadable)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Image.DecompressionBombError:
        raise ApiError(
            413, f"the frame declares more than {2 * MAX_PIXELS // 1_000_000} MP: refused", "too_large"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ApiError(422, "the frame could not be decoded (corrupt image)", "corrupt") from None


def release_memory() -> None:
    """Give freed heap pages back to the OS (glibc keeps them after a large decode); a no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def decode_image(data: bytes, name: str = "image", max_pixels: int = SERVE_MAX_PIXELS) -> np.ndarray:
    """RGB uint8 pixels of an encoded image, or 415 (not an image) / 422 (corrupt) / 413 (too many pixels)."""
    found = sniff(data[:4096])
    if found is None or (found[0] != "image" and found[1] != ".gif"):  # a GIF: its first frame
        what = "a video" if found else _describe(data[:4096])
        raise ApiError(415, f"{name}: not an image (content is {what}; send JPEG, PNG, WebP, BMP, TIFF or GIF)")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only: the size is known before decoding
            w, h = img.size
            if w * h > max_pixels:
                raise ApiError(413, f"{name}: {w}x{h} is over the limit of {max_pixels // 1_000_000} MP per image")
            return to_rgb8(ImageOps.exif_transpose(img))
    except UnidentifiedImageError:
        raise ApiError(415, f"{name}: not a readable image") from None
    except Image.DecompressionBombError:
        raise ApiError(413, f"{name}: image larger than {MAX_PIXELS // 1_000_000} MP, refused") from None
    except ApiError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise ApiError(422, f"{name}: corrupt or truncated image ({exc})", "corrupt") from None


def check_video(path: Path, name: str = "video") -> None:
    """The video opens in FFmpeg, has a video stream, and its first frame decodes; else 422."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ApiError(422, f"{name}: contains no video stream", "corrupt")
            for _ in container.decode(video=0):
                return
    except av.error.FFmpegError as exc:
        raise ApiError(422, f"{name}: not a readable video (corrupt or unsupported): {exc}", "corrupt") from None
    raise ApiError(422, f"{name}: no frame could be decoded (empty or corrupt video)", "corrupt")
