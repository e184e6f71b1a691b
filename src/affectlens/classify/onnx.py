"""Expression inference over ONNX Runtime: ``get_model(name)`` then ``prepare()``, as in insightface."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from affectlens.classify.card import ModelCard
from affectlens.errors import AffectlensError
from affectlens.runtime import int8_without_saturation, providers_for, session

log = logging.getLogger(__name__)

__all__ = ["ExpressionClassifier", "providers_for", "softmax"]


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
            self.session = session(self.path, threads, device=device)
            self._check_card()
            on_cpu = self.session.get_providers()[0] == "CPUExecutionProvider"
            if on_cpu and self.full_range_int8 and not int8_without_saturation():
                log.warning(
                    "%s is int8 with full 8-bit weights, which this CPU (no VNNI or AMX) reads inexactly "
                    "(FER+ test 0.815 instead of 0.845 for such a default): re-quantise it with "
                    "`affectlens quantize` (7-bit weights) or use its float model",
                    self.card.name,
                )
        return self

    def _check_card(self) -> None:
        """The card must name one label (and one offset) per output of the graph: a wrong card would give
        plausible, wrong figures."""
        width = self.session.get_outputs()[0].shape[-1]
        bias = self.card.class_bias or []
        if isinstance(width, int) and (width != len(self.labels) or (bias and len(bias) != width)):
            self.session = None
            raise AffectlensError(
                f"{self.path}: the graph gives {width} outputs, its card names {len(self.labels)} labels"
                + (f" and {len(bias)} class offsets" if bias else "")
                + ": the card does not belong to this model"
            )

    @property
    def full_range_int8(self) -> bool:
        """Quantised with full 8-bit weights (``affectlens quantize --full-range``, or before 7-bit weights)."""
        training = self.card.training or {}
        return bool(training.get("quantized_from")) and training.get("weight_bits", 8) == 8

    def logits(self, crops: np.ndarray, batch_size: int = 256, bias: bool = True) -> np.ndarray:
        """uint8 crops (N, S, S[, 3]) prepared by the card's preprocessing → logits (N, K): the graph's
        outputs plus the card's ``class_bias`` (per-class decision offsets; ``bias=False``: without)."""
        self.prepare()
        assert self.session is not None
        self._check_crops(crops)
        out = []
        for i in range(0, len(crops), batch_size):
            x = self.preprocess.normalize(crops[i : i + batch_size])
            out.append(self.session.run(None, {self.card.input_name: x})[0])
        z = np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)
        if bias and self.card.class_bias and self.card.output != "probs":
            z = z + np.asarray(self.card.class_bias, np.float32)
        return z

    def _check_crops(self, crops: np.ndarray) -> None:
        """Crops as :meth:`Preprocess.crop_images` makes them, or one clear error (floats in 0-1 read as near-black
        faces, an RGB crop for a gray model failed inside ONNX Runtime)."""
        pre = self.preprocess
        want = (pre.size, pre.size) + (() if pre.channels == 1 else (3,))
        if not isinstance(crops, np.ndarray) or crops.dtype != np.uint8 or crops.shape[1:] != want:
            got = f"{crops.dtype} {crops.shape}" if isinstance(crops, np.ndarray) else type(crops).__name__
            raise AffectlensError(
                f"{self.card.name} takes uint8 crops of shape (N, {', '.join(map(str, want))}), got {got}: "
                "make them with .preprocess.crop_images(images) or call predict_images(images)"
            )

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
