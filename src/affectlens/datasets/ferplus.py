"""FER+ in Microsoft's layout (``FER2013Train|Valid|Test/label.csv`` + PNGs).

Labels follow the "majority" protocol people report: an image whose top vote (over the ten vote
columns) is ``unknown`` or ``NF`` (not a face) is dropped; the label is the argmax of the eight
emotion votes. Training targets are the vote distributions over the eight emotions, with
single-vote outliers removed as in the FER+ paper (Barsoum et al., 2016).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from affectlens.datasets.base import FaceDataset
from affectlens.datasets.imageio import read_images
from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS

SPLITS = {"train": "FER2013Train", "valid": "FER2013Valid", "test": "FER2013Test"}
LAYOUT = (
    "expected Microsoft's FER+ layout: ROOT/FER2013Train|FER2013Valid|FER2013Test/label.csv "
    '(rows: image,"(x, y, w, h)",neutral,happiness,surprise,sadness,anger,disgust,fear,'
    "contempt,unknown,NF) beside the 48x48 PNGs"
)


def vote_targets(votes: np.ndarray) -> np.ndarray:
    """(N, 10) vote counts → (N, 8) emotion distributions, single-vote outliers removed."""
    emo = votes[:, :8].astype(np.float32)
    cleaned = np.where(emo <= 1, 0, emo)
    # keep the raw votes where removing outliers would leave nothing
    use = np.where(cleaned.sum(1, keepdims=True) > 0, cleaned, emo)
    total = use.sum(1, keepdims=True)
    return use / np.maximum(total, 1e-6)


def load_ferplus(root: str | Path, split: str, exclude_duplicates: bool = True) -> FaceDataset:
    root = Path(root)
    if split not in SPLITS:
        raise AffectlensError(f"FER+ has no split {split!r}: use one of {', '.join(SPLITS)}")
    folder = root / SPLITS[split]
    label_csv = folder / "label.csv"
    if not label_csv.is_file():
        raise AffectlensError(f"{label_csv} not found: {LAYOUT}")
    names, votes = [], []
    with open(label_csv, newline="") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            if len(row) != 12:
                raise AffectlensError(f"{label_csv}:{n}: {len(row)} columns, 12 expected; {LAYOUT}")
            names.append(row[0])
            try:
                votes.append([int(float(v)) for v in row[2:12]])
            except ValueError as exc:
                raise AffectlensError(f"{label_csv}:{n}: non-numeric vote ({exc}); {LAYOUT}") from None
    votes_arr = np.asarray(votes, np.int32)
    # majority protocol: drop faces whose top vote is unknown / not-a-face
    keep = np.argmax(votes_arr, axis=1) < 8
    info: dict = {"dropped_unknown_or_nf": int((~keep).sum())}
    if exclude_duplicates and split != "train":
        dup_file = root / "duplicates_of_train.csv"
        if dup_file.is_file():
            with open(dup_file, newline="") as fh:
                dups = {r["image"] for r in csv.DictReader(fh) if r["split"] == SPLITS[split]}
            is_dup = np.asarray([n in dups for n in names])
            info["excluded_train_duplicates"] = int((keep & is_dup).sum())
            keep &= ~is_dup
        else:
            info["excluded_train_duplicates"] = 0
            info["note"] = f"{dup_file.name} not found: train duplicates not excluded"
    names_kept = [n for n, k in zip(names, keep, strict=True) if k]
    votes_arr = votes_arr[keep]
    images, bad = read_images([folder / n for n in names_kept], gray=True, size=48)
    ok = np.asarray([im is not None for im in images], bool)
    info["unreadable"] = bad
    if not ok.any():
        raise AffectlensError(f"no readable images in {folder}: {LAYOUT}")
    votes_arr = votes_arr[ok]
    return FaceDataset(
        name="ferplus",
        split=split,
        images=np.stack([im for im in images if im is not None]),
        labels=np.argmax(votes_arr[:, :8], axis=1).astype(np.int64),
        classes=EMOTIONS,
        targets=vote_targets(votes_arr),
        files=np.asarray([n for n, k in zip(names_kept, ok, strict=True) if k]),
        info=info,
    )
