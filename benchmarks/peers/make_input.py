"""Build a peer-protocol input ``.npz`` (``images`` + ``targets`` + ``files``) from a test split.

Numpy plus either Pillow or OpenCV (every peer environment and affectlens's own have one):

    python benchmarks/peers/make_input.py ferplus /work/shared/data/ferplus OUT.npz [--limit 200]
    python benchmarks/peers/make_input.py rafdb /work/shared/data/rafdb-basic OUT.npz [--limit 200]

FER+ (``FER2013Test``, 48x48 gray): majority protocol, as ``affectlens.datasets.ferplus``: drop
faces whose top vote over the ten columns is ``unknown`` or ``NF``; the label is the argmax of
the eight emotion columns. RAF-DB basic (official ``test`` split, 100x100 RGB aligned faces).
``--limit`` keeps the first N faces in file order; ``--split train`` reads RAF-DB's training
split instead (for smoke runs where only that split is at hand).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

FERPLUS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
RAFDB = {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness", 6: "anger", 7: "neutral"}


def read_image(path: Path, gray: bool) -> np.ndarray:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("L" if gray else "RGB"), dtype=np.uint8)
    except ImportError:
        import cv2

        if gray:
            return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def ferplus(root: Path, limit: int | None):
    folder = root / "FER2013Test"
    files, targets = [], []
    with open(folder / "label.csv", newline="") as f:
        for row in csv.reader(f):
            votes = np.array([float(v) for v in row[2:12]])
            if np.argmax(votes) >= 8:  # unknown / not a face
                continue
            files.append(folder / row[0])
            targets.append(FERPLUS[int(np.argmax(votes[:8]))])
            if limit and len(files) >= limit:
                break
    return files, targets, True


def rafdb(root: Path, limit: int | None, split: str = "test"):
    files, targets = [], []
    for line in (root / "EmoLabel" / "list_patition_label.txt").read_text().split("\n"):
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith(f"{split}_"):
            continue
        stem = parts[0].rsplit(".", 1)[0]
        files.append(root / "Image" / "aligned" / f"{stem}_aligned.jpg")
        targets.append(RAFDB[int(parts[1])])
        if limit and len(files) >= limit:
            break
    if not files:
        raise SystemExit(f"{root}: no RAF-DB faces of the {split!r} split")
    return files, targets, False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", choices=("ferplus", "rafdb"))
    p.add_argument("root")
    p.add_argument("out")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--split", choices=("test", "train"), default="test", help="RAF-DB split")
    a = p.parse_args()
    if a.dataset == "ferplus":
        files, targets, gray = ferplus(Path(a.root), a.limit)
    else:
        files, targets, gray = rafdb(Path(a.root), a.limit, a.split)
    images = np.stack([read_image(f, gray) for f in files])
    np.savez_compressed(
        a.out,
        images=images,
        targets=np.array(targets, dtype=str),
        files=np.array([f.name for f in files], dtype=str),
    )
    print(f"{a.out}: {images.shape} {images.dtype}, {len(set(targets))} classes")


if __name__ == "__main__":
    main()
