"""Pick the detector-box → crop scale that reproduces the training crops' framing.

The expression model was trained on dataset crops (FER2013's 48x48 faces). The pipeline instead
cuts faces out of frames around a detector box. This script upsamples FER+ validation faces
into a padded canvas, runs the real detector on them, crops each detected face at several
scales (with and without eye alignment) and reports the model's accuracy for each: the best
scale is the one the model card's ``crop_scale`` should carry.

    python benchmarks/crop_scale.py --model runs/affect-cnn-x2-v1/best.pt --n 1500
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import cv2
import numpy as np

from affectlens.classify import get_model
from affectlens.datasets import load_dataset
from affectlens.detect import get_detector


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--dataset", default="ferplus:../shared/data/ferplus")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--scales", default="0.9,1.0,1.1,1.2,1.3,1.4,1.5")
    args = ap.parse_args()

    clf = get_model(args.model).prepare()
    det = get_detector("blazeface")
    ds = load_dataset(args.dataset, args.split)
    rng = np.random.default_rng(0)
    idx = rng.choice(len(ds), size=min(args.n, len(ds)), replace=False)
    base = clf.predict(clf.preprocess.crop_images(ds.images[idx]))
    print(f"dataset crops as trained: accuracy {(base.argmax(1) == ds.labels[idx]).mean():.4f} on {len(idx)}")

    frames, boxes, eyes, keep = [], [], [], []
    for k, i in enumerate(idx):
        face = cv2.resize(ds.images[i], (192, 192), interpolation=cv2.INTER_CUBIC)
        canvas = cv2.copyMakeBorder(face, 96, 96, 96, 96, cv2.BORDER_REPLICATE)
        rgb = cv2.cvtColor(canvas, cv2.COLOR_GRAY2RGB)
        d = det.detect(rgb)
        if len(d.scores):
            j = int(np.argmax(d.scores))
            frames.append(rgb)
            boxes.append(d.boxes[j])
            eyes.append(None if d.landmarks is None else d.landmarks[j, :2])
            keep.append(k)
    keep = np.asarray(keep)
    y = ds.labels[idx][keep]
    print(f"detected {len(keep)}/{len(idx)} faces")
    for align in (False, True):
        for s in map(float, args.scales.split(",")):
            pre = replace(clf.preprocess, crop_scale=s, align=align)
            crops = np.stack([pre.crop_box(f, b, e) for f, b, e in zip(frames, boxes, eyes, strict=True)])
            acc = (clf.predict(crops).argmax(1) == y).mean()
            print(f"align={align!s:5} crop_scale={s:.2f}: accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
