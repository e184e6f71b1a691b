"""Figures for `affectlens eval --out`: confusion matrix, misclassified gallery, learning curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_confusion(cm: np.ndarray, classes: list[str], path: Path, title: str = "") -> None:
    cm = np.asarray(cm, float)
    norm = cm / np.clip(cm.sum(1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(classes), 0.8 + 0.8 * len(classes)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (row-normalised; counts below)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_gallery(
    crops: np.ndarray, y_true: np.ndarray, probs: np.ndarray, classes: list[str], path: Path, n: int = 48
) -> int:
    """The ``n`` most confidently wrong predictions, each titled true → predicted (confidence)."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:n]
    if len(wrong) == 0:
        return 0
    cols = 8
    rows = int(np.ceil(len(wrong) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.9))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, i in zip(np.atleast_1d(axes).ravel(), wrong, strict=False):
        ax.imshow(crops[i], cmap="gray" if crops.ndim == 3 else None)
        ax.set_title(f"{classes[y_true[i]]}\n→ {classes[pred[i]]} {probs[i, pred[i]]:.2f}", fontsize=7)
    fig.suptitle("most confident mistakes (true → predicted, confidence)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return len(wrong)


def plot_learning_curves(history: list[dict], path: Path) -> bool:
    if not history:
        return False
    ep = [r["epoch"] for r in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(ep, [r["train_loss"] for r in history], label="train")
    if "valid_loss" in history[0]:
        a.plot(ep, [r["valid_loss"] for r in history], label="valid")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    b.plot(ep, [r["train_accuracy"] for r in history], label="train (augmented)")
    if "valid_accuracy" in history[0]:
        b.plot(ep, [r["valid_accuracy"] for r in history], label="valid")
        b.plot(ep, [r["valid_macro_f1"] for r in history], label="valid macro-F1", ls="--")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
