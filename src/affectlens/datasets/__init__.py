"""Dataset loaders: FER+, FER2013, RAF-DB and any ImageFolder, behind ``KIND:PATH`` specs."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from affectlens.datasets import cache
from affectlens.datasets.base import FaceDataset
from affectlens.datasets.fer2013 import load_fer2013
from affectlens.datasets.ferplus import load_ferplus
from affectlens.datasets.imagefolder import load_imagefolder, split_root
from affectlens.datasets.rafdb import load_rafdb
from affectlens.errors import AffectlensError

KINDS = ("ferplus", "fer2013", "rafdb", "imagefolder")

log = logging.getLogger(__name__)


def _kind_and_path(spec: str) -> tuple[str, str] | None:
    """``'ferplus:../data/ferplus'`` → ``('ferplus', '../data/ferplus')``; None when it is not KIND:PATH."""
    kind, sep, path = spec.partition(":")
    return (kind, path) if sep and kind in KINDS and path else None


def parse_spec(spec: str) -> tuple[str, Path]:
    """``'ferplus:../data/ferplus'`` → ``('ferplus', Path(...))``, the path existing."""
    parsed = _kind_and_path(spec)
    if parsed is None:
        raise AffectlensError(f"dataset {spec!r}: expected KIND:PATH with KIND one of {', '.join(KINDS)}")
    kind, path = parsed
    p = Path(path).expanduser()
    if not p.exists():
        raise AffectlensError(f"dataset path {p} does not exist")
    return kind, p


def load_dataset(
    spec: str, split: str = "test", *, use_cache: bool = True, exclude_duplicates: bool = True
) -> FaceDataset:
    """Load one split of a dataset named ``KIND:PATH``, through the uint8 cache."""
    kind, path = parse_spec(spec)
    file = cache.cache_path(kind, path, split, extra=f"dedup={exclude_duplicates}")
    if use_cache and (ds := cache.load(file)) is not None:
        return _warn_if_all(ds, path, split)
    if kind == "ferplus":
        ds = load_ferplus(path, split, exclude_duplicates=exclude_duplicates)
    elif kind == "fer2013":
        ds = load_fer2013(path, split)
    elif kind == "rafdb":
        ds = load_rafdb(path, split)
    else:
        ds = load_imagefolder(path, split)
    if use_cache:
        with contextlib.suppress(OSError):  # a read-only cache location only costs speed
            cache.save(ds, file)
    return _warn_if_all(ds, path, split)


def _warn_if_all(ds: FaceDataset, path: Path, split: str) -> FaceDataset:
    if ds.name == "imagefolder" and ds.split == "all" and split not in ("all", ""):
        log.warning("%s has no %s/ folder: its %r split is all of its images (the split 'all')", path, split, split)
    return ds


# the published datasets are the same images wherever a copy lives; FER+ relabels FER2013's images, split for split
_SAME_IMAGES = {"ferplus": "fer2013-images", "fer2013": "fer2013-images", "rafdb": "rafdb"}


def images_read(spec: str, split: str) -> tuple[str, str, str] | None:
    """Which images ``load_dataset(spec, split)`` reads, as (images, folder, split) without loading them: two
    (spec, split) pairs with the same answer read the same images. A published dataset (FER+, FER2013, RAF-DB) is
    known by its name and split, wherever it is stored (a model card's training path, relative to the folder it
    was trained in, names no folder of a user's: the check passed silently there); FER+ and FER2013 share their
    images. An ImageFolder is its folder (one without split folders reads all of them for any split). None for a
    spec that names no dataset, or an ImageFolder whose folder is not here."""
    parsed = _kind_and_path(spec)
    if parsed is None:
        return None
    if parsed[0] in _SAME_IMAGES:
        return _SAME_IMAGES[parsed[0]], "", split
    try:
        kind, folder = parse_spec(spec)
    except AffectlensError:
        return None
    root, split = split_root(folder, split)
    return kind, str(root.resolve()), "all"  # the folder alone says which images


def require_apart(held_out: tuple[str, str], what: str, others: list[tuple[str, str, str]]) -> None:
    """Refuse ``held_out`` (spec, split), used as ``what`` (validation, calibration, evaluation), when it reads
    the same images as any of ``others`` ((spec, split, their use): the training sets, a calibration set):
    figures measured on the images a model was fitted on say nothing about other faces."""
    mine = images_read(*held_out)
    if mine is None:
        return
    for spec, split, use in others:
        if images_read(spec, split) == mine:
            kind, folder, _ = mine  # (kind: the images' family)
            why = f" ({folder} has no split folders: every split is all of its images)" if kind == "imagefolder" else ""
            raise AffectlensError(
                f"{what} {held_out[0]}@{held_out[1]} reads the same images as {use} {spec}@{split}{why}; "
                "give held-out images (e.g. PATH/train/<class>/ and PATH/valid/<class>/ folders)"
            )


__all__ = [
    "KINDS",
    "FaceDataset",
    "images_read",
    "load_dataset",
    "load_fer2013",
    "load_ferplus",
    "load_imagefolder",
    "load_rafdb",
    "parse_spec",
    "require_apart",
]
