"""Evaluate an ONNX expression model on a dataset split (no PyTorch involved)."""

from __future__ import annotations

import time

import numpy as np

from affectlens.classify.onnx import ExpressionClassifier
from affectlens.datasets import FaceDataset
from affectlens.errors import AffectlensError
from affectlens.evaluate.metrics import classification_report


def restrict(probs: np.ndarray, model_labels: tuple[str, ...], classes: tuple[str, ...]) -> np.ndarray:
    """Keep the columns of ``classes`` (the dataset's) and renormalise each row."""
    missing = [c for c in classes if c not in model_labels]
    if missing:
        raise AffectlensError(f"the model has no class {missing}; it knows {', '.join(model_labels)}")
    cols = [model_labels.index(c) for c in classes]
    p = probs[:, cols]
    return p / np.clip(p.sum(1, keepdims=True), 1e-12, None)


def evaluate(clf: ExpressionClassifier, ds: FaceDataset, batch_size: int = 256) -> tuple[dict, np.ndarray]:
    """Metrics of ``clf`` on ``ds`` and the (restricted) probabilities per image."""
    t0 = time.perf_counter()
    crops = clf.preprocess.crop_images(ds.images)
    t1 = time.perf_counter()
    probs = clf.predict(crops, batch_size)
    t2 = time.perf_counter()
    if not np.isfinite(probs).all():  # NaN weights: argmax would read every face as class 0, ECE as NaN
        bad = int((~np.isfinite(probs).all(1)).sum())
        raise AffectlensError(
            f"{clf.card.name} gives probabilities that are not finite numbers on {bad} of {len(probs)} faces "
            "(NaN or infinite weights?): nothing to measure"
        )
    p = restrict(probs, clf.labels, ds.classes)
    report = classification_report(ds.labels, p, ds.classes)
    if tuple(ds.classes) != tuple(clf.labels):
        report["restricted_to"] = list(ds.classes)
        report["note"] = (
            f"the dataset has {len(ds.classes)} of the model's {len(clf.labels)} classes: predictions restricted to "
            + ", ".join(ds.classes)
        )
    report |= {
        "model": clf.card.name,
        "dataset": ds.name,
        "split": ds.split,
        "dataset_info": ds.info,
        "seconds": {"preprocess": round(t1 - t0, 3), "inference": round(t2 - t1, 3)},
        "faces_per_s": round(len(ds) / max(t2 - t1, 1e-9), 1),
    }
    return report, p
