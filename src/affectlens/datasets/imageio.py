"""Decode many image files fast (threads; OpenCV releases the GIL), skipping and counting bad ones."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def read_image(path: str | Path, gray: bool) -> np.ndarray | None:
    """Read one image as uint8 gray ``(H, W)`` or RGB ``(H, W, 3)``; None if it cannot be decoded."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if img is None:
        return None
    return img if gray else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_images(
    paths: Sequence[str | Path], gray: bool, size: int | None = None, workers: int = 4
) -> tuple[list[np.ndarray | None], int]:
    """Decode ``paths`` in parallel; optionally square-crop + resize to ``size``.

    Returns the images (None where unreadable) and the number of unreadable files, after logging
    a warning that names a few of them.
    """

    def one(p: str | Path) -> np.ndarray | None:
        img = read_image(p, gray)
        if img is not None and size is not None and img.shape[:2] != (size, size):
            from affectlens.faces.preprocess import center_square, resize

            img = resize(center_square(img), size)
        return img

    with ThreadPoolExecutor(max_workers=workers) as pool:
        images = list(pool.map(one, paths, chunksize=64))
    bad = [str(p) for p, im in zip(paths, images, strict=True) if im is None]
    if bad:
        log.warning("skipped %d unreadable image(s), e.g. %s", len(bad), ", ".join(bad[:3]))
    return images, len(bad)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_dataset(name: str, split: str, paths: list[Path], labels: list[int], files: list[str], classes, *,
                 size: int, missing: str, info: dict | None = None):  # fmt: skip
    """A :class:`~affectlens.datasets.base.FaceDataset` of the readable images of ``paths`` (RGB, at most
    ``size`` pixels a side), with their ``labels`` and ``files``; the unreadable ones are left out and counted
    in ``info["unreadable"]``; none readable raises :class:`AffectlensError` with ``missing``."""
    from affectlens.datasets.base import FaceDataset
    from affectlens.errors import AffectlensError

    images, bad = read_images(paths, gray=False, size=size)
    ok = [im is not None for im in images]
    if not any(ok):
        raise AffectlensError(missing)

    def kept(seq):
        return [x for x, k in zip(seq, ok, strict=True) if k]

    return FaceDataset(
        name=name,
        split=split,
        images=np.stack(kept(images)),
        labels=np.asarray(kept(labels), np.int64),
        classes=classes,
        files=np.asarray(kept(files)),
        info={"unreadable": bad, **(info or {})},
    )
