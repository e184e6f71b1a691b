"""Dataset loaders: FER+, FER2013, RAF-DB and any ImageFolder, behind ``KIND:PATH`` specs."""

from __future__ import annotations

import contextlib
from pathlib import Path

from affectlens.datasets import cache
from affectlens.datasets.base import FaceDataset
from affectlens.datasets.fer2013 import load_fer2013
from affectlens.datasets.ferplus import load_ferplus
from affectlens.datasets.imagefolder import load_imagefolder
from affectlens.datasets.rafdb import load_rafdb
from affectlens.errors import AffectlensError

KINDS = ("ferplus", "fer2013", "rafdb", "imagefolder")


def parse_spec(spec: str) -> tuple[str, Path]:
    """``'ferplus:../data/ferplus'`` → ``('ferplus', Path(...))``."""
    kind, sep, path = spec.partition(":")
    if not sep or kind not in KINDS or not path:
        raise AffectlensError(f"dataset {spec!r}: expected KIND:PATH with KIND one of {', '.join(KINDS)}")
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
        return ds
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
    return ds


__all__ = [
    "KINDS",
    "FaceDataset",
    "load_dataset",
    "load_fer2013",
    "load_ferplus",
    "load_imagefolder",
    "load_rafdb",
    "parse_spec",
]
