"""Temperature scaling (Guo et al., 2017): one scalar T so that softmax(z / T) means what it says.

Fitted on held-out logits by minimising the negative log-likelihood over a log-spaced grid refined
by golden-section search (a one-dimensional convex problem: no optimiser library needed).
"""

from __future__ import annotations

import numpy as np

from affectlens.classify.onnx import softmax
from affectlens.evaluate.metrics import expected_calibration_error


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
