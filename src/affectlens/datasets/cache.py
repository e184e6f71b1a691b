"""A uint8 cache: one ``.npz`` per dataset split, keyed by path and file stamps.

Decoding 28k PNGs takes ~10 s; reading the cache well under a second. Stored uncompressed: face pixels do
not deflate (RAF-DB's 11k faces 331 → 251 MB, FER+'s 65 → 62 MB) and compressing them took 10 s of RAF-DB's
12.7 s first read; older compressed caches still load. The key covers the
absolute path, the stamps of its label files and folders (:func:`_stamp`) and the loader version, so
an edited dataset is re-read. Location: ``$AFFECTLENS_CACHE`` or ``~/.cache/affectlens``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from affectlens.datasets.base import FaceDataset

VERSION = 2  # 2: an ImageFolder without split folders is stored as the split "all"


def cache_dir() -> Path:
    return Path(os.environ.get("AFFECTLENS_CACHE", Path.home() / ".cache" / "affectlens"))


def _stamp(path: Path) -> str:
    """What defines a dataset: the size and mtime of the files at its top (CSVs such as ``fer2013.csv`` or
    ``duplicates_of_train.csv``), of its label files, and of every file in the folders one and two levels down
    (an ImageFolder class, a FER+ split, RAF-DB's images), digested. A folder's own mtime changes when a file is
    added, removed or renamed in it, not when an image is overwritten in place: keyed on folders alone, a split
    whose images were replaced read its old pixels from the cache (~0.2 s for FER+'s 35k files)."""
    parts = []
    candidates = [path]
    folders: list[Path] = []
    if path.is_dir():
        candidates += sorted(p for p in path.iterdir() if p.is_file())
        candidates += sorted(path.glob("*/label.csv")) + sorted(path.glob("EmoLabel/*"))
        top = sorted(Path(e.path) for e in os.scandir(path) if e.is_dir())
        folders = top + sorted(Path(e.path) for d in top for e in os.scandir(d) if e.is_dir())
    for p in candidates + folders:
        st = p.stat()
        parts.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
    files = hashlib.sha1()
    for folder in folders:
        for e in sorted(os.scandir(folder), key=lambda e: e.name):
            if e.is_file():
                st = e.stat()
                files.update(f"{e.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return ";".join(parts) + "|" + files.hexdigest()


def cache_path(kind: str, path: Path, split: str, extra: str = "") -> Path:
    key = f"{VERSION}|{kind}|{path.resolve()}|{split}|{extra}|{_stamp(path)}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return cache_dir() / "datasets" / f"{kind}-{split}-{digest}.npz"


def save(ds: FaceDataset, file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp.npz")
    arrays = {"images": ds.images, "labels": ds.labels}
    if ds.targets is not None:
        arrays["targets"] = ds.targets
    if ds.files is not None:
        arrays["files"] = ds.files.astype(str)
    meta = {"name": ds.name, "split": ds.split, "classes": list(ds.classes), "info": ds.info}
    np.savez(tmp, meta=np.asarray(json.dumps(meta)), **arrays)
    os.replace(tmp, file)  # atomic: a crash never leaves a half-written cache


def load(file: Path) -> FaceDataset | None:
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return FaceDataset(
                name=meta["name"],
                split=meta["split"],
                images=z["images"],
                labels=z["labels"],
                classes=tuple(meta["classes"]),
                targets=z.get("targets", None),
                files=z.get("files", None),
                info=meta["info"],
            )
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache is rebuilt
