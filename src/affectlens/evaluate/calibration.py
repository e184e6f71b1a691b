"""Temperature scaling (Guo et al., 2017): one scalar T so that softmax(z / T) means what it says.

Fitted on held-out logits by minimising the negative log-likelihood over a log-spaced grid refined
by golden-section search (a one-dimensional convex problem: no optimiser library needed).
"""

from __future__ import annotations

import itertools

import numpy as np

from affectlens.classify.onnx import softmax
from affectlens.evaluate.metrics import confusion_matrix, expected_calibration_error, per_class


def nll(logits: np.ndarray, y: np.ndarray, t: float) -> float:
    p = softmax(logits.astype(np.float64), t)
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature minimising NLL of ``y`` under ``softmax(logits / T)``."""
    grid = np.geomspace(lo, hi, 60)
    losses = [nll(logits, y, t) for t in grid]
    i = int(np.argmin(losses))
    a, b = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
    g = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - g * (b - a), a + g * (b - a)
        if nll(logits, y, np.exp(c)) < nll(logits, y, np.exp(d)):
            b = d
        else:
            a = c
    return float(np.exp((a + b) / 2))


def calibration_summary(logits: np.ndarray, y: np.ndarray, t: float) -> dict:
    """NLL and ECE before (T = 1) and after (T = t) on the same data."""
    return {
        "temperature": round(t, 4),
        "nll_before": round(nll(logits, y, 1.0), 4),
        "nll_after": round(nll(logits, y, t), 4),
        "ece_before": round(expected_calibration_error(softmax(logits, 1.0), y), 4),
        "ece_after": round(expected_calibration_error(softmax(logits, t), y), 4),
    }


def _score(z: np.ndarray, y: np.ndarray, cols: np.ndarray, weight: float) -> float:
    """accuracy + weight · macro-F1 (over the classes present) of argmax over the dataset's classes ``cols``."""
    pred = z[:, cols].argmax(1)
    pc = per_class(confusion_matrix(y, pred, len(cols)), [str(c) for c in cols])
    macro_f1 = np.mean([m["f1"] for m in pc.values() if m["support"] > 0])
    return float((pred == y).mean() + weight * macro_f1)


def fit_class_bias(
    sets: list[tuple[np.ndarray, np.ndarray, list[int]]],
    n_classes: int,
    classes: list[int],
    weight: float = 0.5,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """Per-class offsets added to a model's logits (before its temperature) for its rare classes.

    ``sets``: held-out ``(logits over the model's classes, labels, the model's column of each of the
    dataset's classes)``, e.g. FER+ valid and RAF-DB valid (7 classes). Every combination of
    ``values`` (default 0, 0.1, …, 1) for the ``classes`` given (the others keep 0) is tried; the one
    maximising the mean over the sets of ``accuracy + weight · macro-F1`` wins. A model trained on
    imbalanced data under-predicts its rare classes; the offsets are the post-hoc form of the
    logit-adjusted loss, chosen on validation data, never on test.
    """
    values = np.round(np.arange(0.0, 1.01, 0.1), 3) if values is None else np.asarray(values)
    cols = [np.asarray(c) for _, _, c in sets]
    best, best_b = -np.inf, np.zeros(n_classes)
    for combo in itertools.product(values, repeat=len(classes)):
        b = np.zeros(n_classes)
        b[list(classes)] = combo
        score = float(np.mean([_score(z + b, y, c, weight) for (z, y, _), c in zip(sets, cols, strict=True)]))
        if score > best + 1e-9:
            best, best_b = score, b
    return np.round(best_b, 3)
