"""RAF-DB basic emotions in the official layout.

``EmoLabel/list_patition_label.txt`` (``train_00001.jpg 5``) and
``Image/aligned/train_00001_aligned.jpg`` (100x100 RGB). Codes: 1 surprise, 2 fear, 3 disgust,
4 happiness, 5 sadness, 6 anger, 7 neutral (no contempt).

Splits: ``test`` is the official test split; the official training split is divided into
``train`` and a held-out ``valid`` (10% of the images, chosen by a stable hash of the file name,
so every run and every machine holds out the same faces). ``train-all`` is the whole official
training split. RAF-DB's terms: non-commercial research use only.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from affectlens.datasets.base import FaceDataset
from affectlens.datasets.imageio import read_dataset
from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS

CODES = {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness", 6: "anger", 7: "neutral"}
CLASSES = tuple(e for e in EMOTIONS if e != "contempt")
SPLITS = ("train", "valid", "train-all", "test")
VALID_PERCENT = 10
LAYOUT = (
    "expected RAF-DB's basic layout: ROOT/EmoLabel/list_patition_label.txt "
    "('train_00001.jpg 5' per line) and ROOT/Image/aligned/train_00001_aligned.jpg"
)


def is_rafdb_valid(name: str) -> bool:
    return zlib.crc32(name.encode()) % 100 < VALID_PERCENT


def load_rafdb(root: str | Path, split: str) -> FaceDataset:
    root = Path(root)
    if split not in SPLITS:
        raise AffectlensError(f"RAF-DB has no split {split!r}: use one of {', '.join(SPLITS)}")
    label_file = root / "EmoLabel" / "list_patition_label.txt"
    image_dir = root / "Image" / "aligned"
    if not label_file.is_file() or not image_dir.is_dir():
        raise AffectlensError(f"{root}: not a RAF-DB folder; {LAYOUT}")
    prefix = "test_" if split == "test" else "train_"
    names, labels = [], []
    for n, line in enumerate(label_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            name, code = line.split()
            label = CLASSES.index(CODES[int(code)])
        except (ValueError, KeyError):
            raise AffectlensError(f"{label_file}:{n}: cannot read {line!r}; {LAYOUT}") from None
        if not name.startswith(prefix):
            continue
        if (split == "train" and is_rafdb_valid(name)) or (split == "valid" and not is_rafdb_valid(name)):
            continue
        names.append(name)
        labels.append(label)
    if not names:
        raise AffectlensError(f"{root}: RAF-DB split {split!r} is missing (no '{prefix}*' lines)")
    paths = [image_dir / (Path(n).stem + "_aligned" + Path(n).suffix) for n in names]
    missing = f"no readable images in {image_dir}; {LAYOUT}"
    info = {"valid_percent": VALID_PERCENT}
    return read_dataset("rafdb", split, paths, labels, names, CLASSES, size=100, missing=missing, info=info)
