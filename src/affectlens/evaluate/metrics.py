"""Classification metrics in NumPy: accuracy, macro-F1, per-class P/R/F1, confusion, ECE."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """``cm[i, j]`` = number of class-``i`` samples predicted as ``j``."""
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def per_class(cm: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict[str, dict[str, float]]:
    tp = np.diag(cm).astype(float)
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    }


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins (Guo et al., 2017)."""
    conf = probs.max(1)
    correct = (probs.argmax(1) == y_true).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def classification_report(y_true: np.ndarray, probs: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict:
    """Every figure `affectlens eval` reports, for probabilities over ``classes``."""
    k = len(classes)
    y_pred = probs.argmax(1)
    cm = confusion_matrix(y_true, y_pred, k)
    pc = per_class(cm, classes)
    # the usual macro average (scikit-learn's over the labels seen): every class in the truth or the predictions,
    # so a class predicted but absent from the truth counts with F1 0 instead of being left out
    predicted = cm.sum(0)
    present = [c for i, c in enumerate(classes) if pc[c]["support"] > 0 or predicted[i] > 0]
    nll = -np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, None)).mean() if len(y_true) else 0.0
    return {
        "n": len(y_true),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean([pc[c]["f1"] for c in present])) if present else 0.0,
        "nll": float(nll),
        "ece": expected_calibration_error(probs, y_true) if len(y_true) else 0.0,
        "per_class": pc,
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
    }
