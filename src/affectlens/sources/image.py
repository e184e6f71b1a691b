"""Still images: JPEG, PNG, WebP, BMP, TIFF; EXIF rotation applied; gray, RGBA and 16-bit handled."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from affectlens.errors import AffectlensError
from affectlens.sources.base import Frame, Source

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
MAX_PIXELS = 20_000 * 20_000  # refuse decompression bombs beyond 400 MP


def to_rgb8(img: Image.Image) -> np.ndarray:
    """Any PIL image → RGB uint8 array (16-bit scaled down, alpha composited on white)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if a.max() > 255 else 255.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        a = (a - a.min()) / max(a.max() - a.min(), 1e-9) * 255
        return np.repeat(a.astype(np.uint8)[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    arr = np.array(img.convert("RGB"))  # a writable copy: callers draw on it
    if arr.dtype != np.uint8:  # e.g. 16-bit RGB PNGs decoded by newer Pillow
        arr = (arr.astype(np.float64) / 257.0).round().astype(np.uint8)
    return np.ascontiguousarray(arr)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8, applying its EXIF orientation."""
    path = Path(path)
    if not path.exists():
        raise AffectlensError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AffectlensError(f"{path}: empty file (0 bytes)")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():  # over the limit: refused below, not warned of
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            w, h = img.size  # from the header: Pillow itself refuses only over twice its limit
            if w * h > MAX_PIXELS:
                raise Image.DecompressionBombError(f"{w}x{h}")
            img = ImageOps.exif_transpose(img)
            return to_rgb8(img)
    except UnidentifiedImageError:
        raise AffectlensError(f"{path}: not an image (content is not JPEG/PNG/WebP/BMP/TIFF)") from None
    except Image.DecompressionBombError:
        raise AffectlensError(f"{path}: image larger than {MAX_PIXELS // 1_000_000} MP, refused") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise AffectlensError(f"{path}: corrupt or truncated image ({exc})") from None


class ImageSource(Source):
    """One still image, read when the source is opened: a file that is not a readable image fails
    there, before a run writes any output (as a video that will not open does)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = str(path)
        self.total_frames = 1
        self._pixels: np.ndarray | None = load_image(self.path)

    def __iter__(self) -> Iterator[Frame]:
        pixels, self._pixels = self._pixels, None  # held until first read, not for the whole run
        yield Frame(pixels if pixels is not None else load_image(self.path), 0, None, self.name)
