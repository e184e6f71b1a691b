"""The original FER2013: Kaggle's ``fer2013.csv`` (emotion,pixels,Usage) or its folder layout.

FER2013 has seven classes (no contempt). CSV codes: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad,
5 surprise, 6 neutral; ``Usage`` Training / PublicTest / PrivateTest map to train / valid / test.
The Kaggle folder layout (``train/<class>/*.png``, ``test/<class>/*.png``) is an ImageFolder.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from affectlens.datasets.base import FaceDataset
from affectlens.datasets.imagefolder import load_imagefolder
from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS

CSV_CODES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
CLASSES = tuple(e for e in EMOTIONS if e != "contempt")
USAGE = {"train": "Training", "valid": "PublicTest", "test": "PrivateTest"}
log = logging.getLogger(__name__)

LAYOUT = (
    "expected Kaggle's fer2013.csv (columns emotion,pixels,Usage) as PATH or inside it, or the "
    "Kaggle folder layout PATH/train|test/<class>/*.png"
)


def load_fer2013(path: str | Path, split: str) -> FaceDataset:
    path = Path(path)
    csv_path = path if path.is_file() else path / "fer2013.csv"
    if csv_path.is_file():
        return _load_csv(csv_path, split)
    if path.is_dir() and any((path / s).is_dir() for s in ("train", "test")):
        folder_split = {"valid": "test"}.get(split, split)
        if split == "valid":  # choosing a checkpoint or a temperature on it: no test figure stays clean
            log.warning("%s: the Kaggle folder layout has no validation split; 'valid' reads its test images", path)
        ds = load_imagefolder(path, folder_split)
        ds.name = "fer2013"
        return ds
    raise AffectlensError(f"{path}: not a FER2013 dataset; {LAYOUT}")


def _load_csv(csv_path: Path, split: str) -> FaceDataset:
    if split not in USAGE:
        raise AffectlensError(f"FER2013 has no split {split!r}: use one of {', '.join(USAGE)}")
    images, labels, bad = [], [], 0
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"emotion", "pixels", "Usage"} <= set(reader.fieldnames):
            raise AffectlensError(f"{csv_path}: columns {reader.fieldnames}; {LAYOUT}")
        for row in reader:
            if row["Usage"] != USAGE[split]:
                continue
            px = np.array(row["pixels"].split(), dtype=np.float32)
            if px.size != 48 * 48:
                bad += 1
                continue
            images.append(px.reshape(48, 48).astype(np.uint8))
            labels.append(CLASSES.index(CSV_CODES[int(row["emotion"])]))
    if not images:
        raise AffectlensError(f"{csv_path}: no rows with Usage={USAGE[split]}")
    return FaceDataset(
        name="fer2013",
        split=split,
        images=np.stack(images),
        labels=np.asarray(labels, np.int64),
        classes=CLASSES,
        info={"unreadable": bad},
    )
