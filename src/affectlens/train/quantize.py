"""Int8 static quantisation of an expression model: the same card, a quarter of the arithmetic.

ONNX Runtime's static quantiser (QDQ format, per-channel int8 weights, int8 activations) is fed
``n`` preprocessed faces of a calibration set to fix the activation ranges; the quantised graph
keeps the float model's input, output and card (preprocessing, labels), its softmax temperature
is fitted again on held-out faces (quantisation shifts the logits a little), and its accuracy is
measured into its card beside the float model's, so the loss is a figure, not a guess.

A build step (needs the ``onnx`` package of the ``[train]`` extra); the result runs anywhere
ONNX Runtime does. Measured in ``benchmarks/model-runs.md``.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np

from affectlens.classify.card import card_path
from affectlens.classify.onnx import ExpressionClassifier
from affectlens.datasets.base import FaceDataset


def _reader(clf: ExpressionClassifier, crops: np.ndarray, batch: int = 64):
    """A calibration data reader: batches of normalised crops under the model's input name."""
    from onnxruntime.quantization import CalibrationDataReader

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            name, pre = clf.card.input_name, clf.preprocess
            self.batches = iter([{name: pre.normalize(crops[i : i + batch])} for i in range(0, len(crops), batch)])

        def get_next(self):
            return next(self.batches, None)

    return Faces()


def quantize_classifier(
    clf: ExpressionClassifier, calibration: FaceDataset, out: str | Path, n: int = 1024, seed: int = 0
) -> ExpressionClassifier:
    """Write ``out`` (.onnx) and its card: ``clf`` quantised to int8 on ``n`` faces of ``calibration``."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(calibration), size=min(n, len(calibration)), replace=False)
    crops = clf.preprocess.crop_images(calibration.images[np.sort(pick)])
    reader = _reader(clf, crops)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(clf.path), str(prepared))
        quantize_static(
            str(prepared),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
    card = copy.deepcopy(clf.card)
    card.name = f"{clf.card.name}-int8"
    card.description = (
        f"{clf.card.name} quantised to int8 (ONNX Runtime static quantisation, QDQ, per-channel weights) "
        f"on {len(crops)} faces of {calibration.name} {calibration.split}. " + (clf.card.description or "")
    ).strip()
    card.training = {
        "quantized_from": clf.card.name,
        "calibration": {"data": f"{calibration.name}_{calibration.split}", "n": len(crops), "seed": seed},
        "float_training": clf.card.training,
    }
    card.metrics = {f"float_{k}": v for k, v in clf.card.metrics.items() if not k.startswith("float_")}
    card.speed = {}
    card.save(card_path(out))
    return ExpressionClassifier(out, card)
