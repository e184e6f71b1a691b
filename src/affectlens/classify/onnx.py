"""Expression inference over ONNX Runtime: ``get_model(name)`` then ``prepare()``, as in insightface."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from affectlens.classify.card import ModelCard
from affectlens.errors import AffectlensError


def providers_for(device: str = "auto") -> list[str]:
    """ONNX Runtime providers: CUDA first when present (and asked for), then the CPU."""
    available = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise AffectlensError(
            "device 'cuda' asked for, but onnxruntime has no CUDA provider here (pip install onnxruntime-gpu)"
        )
    return ["CPUExecutionProvider"]


def softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = z / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ExpressionClassifier:
    """An ONNX expression model plus its card. Call :meth:`prepare` once, then :meth:`predict`."""

    def __init__(self, onnx_path: str | Path, card: ModelCard):
        self.path = Path(onnx_path)
        self.card = card
        self.preprocess = card.preprocess
        self.labels = tuple(card.labels)
        self.session: ort.InferenceSession | None = None

    def __repr__(self) -> str:
        return f"ExpressionClassifier({self.card.name!r}, {self.path})"

    def prepare(self, device: str = "auto", threads: int | None = None) -> ExpressionClassifier:
        """Create the ONNX Runtime session (idempotent)."""
        if self.session is None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads or os.cpu_count() or 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            try:
                self.session = ort.InferenceSession(str(self.path), opts, providers=providers_for(device))
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise AffectlensError(f"cannot load model {self.path}: {exc}") from None
        return self

    def logits(self, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 crops (N, S, S[, 3]) prepared by the card's preprocessing → raw outputs (N, K)."""
        self.prepare()
        assert self.session is not None
        out = []
        for i in range(0, len(crops), batch_size):
            x = self.preprocess.normalize(crops[i : i + batch_size])
            out.append(self.session.run(None, {self.card.input_name: x})[0])
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def predict(self, crops: np.ndarray, batch_size: int = 256, calibrated: bool = True) -> np.ndarray:
        """Class probabilities (N, K) for uint8 face crops, temperature-scaled when ``calibrated``."""
        z = self.logits(crops, batch_size)
        if self.card.output == "probs":
            return z.astype(np.float32)
        t = self.card.temperature if calibrated else 1.0
        return softmax(z.astype(np.float32), t)

    def predict_images(self, images, batch_size: int = 256) -> np.ndarray:
        """Face images of any size (already face crops) → probabilities, via the card's preprocessing."""
        return self.predict(self.preprocess.crop_images(images), batch_size)
