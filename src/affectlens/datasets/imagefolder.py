"""Any folder of class-named sub-folders (``angry/``, ``Happy/``, ``3_sad/`` …).

``PATH/<split>/<class>/*`` is used when ``PATH/<split>`` exists, else ``PATH/<class>/*``: then every split is
the same images, recorded as the split ``all`` (and commands refuse to validate, calibrate or measure on the
images they train on: :func:`affectlens.datasets.require_apart`).
Folder names map to our labels through the usual synonyms; images of any size are stored as
square RGB crops of ``STORE_SIZE`` px (the model's own preprocessing then applies).
"""

from __future__ import annotations

from pathlib import Path

from affectlens.datasets.base import FaceDataset
from affectlens.datasets.imageio import list_images, read_dataset
from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS, canonical

STORE_SIZE = 112


def split_root(path: Path, split: str | None) -> tuple[Path, str]:
    """The folder ``split`` reads and the split its images are: ``PATH/<split>`` when it exists, else ``PATH``
    itself, which is every image there: the split ``all``, whichever split was asked for."""
    if split and (path / split).is_dir():
        return path / split, split
    return path, "all"


def load_imagefolder(path: str | Path, split: str | None = None) -> FaceDataset:
    path = Path(path)
    if not path.is_dir():
        raise AffectlensError(f"{path}: not a folder (expected PATH/<class>/*.jpg)")
    root, split = split_root(path, split)
    subdirs = sorted(d for d in root.iterdir() if d.is_dir())
    mapping = {d: canonical(d.name) for d in subdirs}
    unknown = [d.name for d, c in mapping.items() if c is None]
    if not subdirs or unknown:
        what = f"unrecognised class folders {unknown}" if unknown else "no class folders"
        raise AffectlensError(
            f"{root}: {what}; expected PATH[/<split>]/<class>/*.jpg with classes among "
            f"{', '.join(EMOTIONS)} (synonyms like angry, happy, sad, surprised are accepted)"
        )
    classes = tuple(e for e in EMOTIONS if e in set(mapping.values()))
    paths, labels = [], []
    for d, c in mapping.items():
        for p in list_images(d):
            paths.append(p)
            labels.append(classes.index(c))
    if not paths:
        raise AffectlensError(f"{root}: the class folders hold no images")
    files = [str(p.relative_to(root)) for p in paths]
    missing = f"{root}: none of the {len(paths)} images could be read"
    return read_dataset("imagefolder", split, paths, labels, files, classes, size=STORE_SIZE, missing=missing)
