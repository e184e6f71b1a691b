"""Int8 static quantisation of an expression model: the same card, a quarter of the arithmetic.

ONNX Runtime's static quantiser (QDQ format, per-channel int8 weights, int8 activations) is fed
``n`` preprocessed faces of a calibration set to fix the activation ranges; the quantised graph
keeps the float model's input, output and card (preprocessing, labels, softmax temperature: ``affectlens
quantize --temperature-on`` fits it again on held-out faces, as quantisation shifts the logits a little),
and its accuracy is measured into its card beside the float model's, so the loss is a figure, not a guess.

Weights use 7 of their 8 bits (``reduce_range``) so that the model reads the same on every x86 CPU.
Without VNNI (AVX2-only CPUs, the speed goals' machines) ONNX Runtime multiplies uint8 activations
by int8 weights with ``VPMADDUBSW``, which adds pairs of products into int16 and saturates when
both are near full range; with VNNI or AMX it does not. Measured with full-range weights (the
default model, FER+ test): 0.845 on a Xeon with AMX, 0.815 on the same Xeon with AVX-512 and AMX
hidden (``benchmarks/avx2only``); with 7-bit weights 0.844 on both (the float graph 0.846, the same
offsets; FER+ valid and RAF-DB valid equal to the float graph's).

A build step (needs the ``onnx`` package of the ``[train]`` extra); the result runs anywhere
ONNX Runtime does. Measured in ``benchmarks/model-runs.md``.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from affectlens.classify.card import card_path, onnx_out
from affectlens.classify.onnx import ExpressionClassifier
from affectlens.datasets.base import FaceDataset
from affectlens.errors import AffectlensError


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


def float_head(path: Path) -> list[str]:
    """Names of the nodes of the graph at ``path`` to leave in float: its head, when it ends in one (a
    ``Gemm`` giving the output), and a ``Concat`` feeding it (unnamed ones are named and the graph
    rewritten). A few thousand multiply-adds of the whole, and the layer int8 hurts most: QDQ gives a
    Concat's inputs one scale, which crushes the smaller-ranged member's features in a joint head
    (measured: RAF-DB valid 0.8635 float, 0.8530 int8, 0.8595 int8 with the head in float)."""
    import onnx

    from affectlens.train.compose import name_nodes

    model = onnx.load(str(path))
    by_output = {o: n for n in model.graph.node for o in n.output}
    head = by_output.get(model.graph.output[0].name)
    if head is None or head.op_type != "Gemm":
        return []
    before = by_output.get(head.input[0])
    keep = [head] + ([before] if before is not None and before.op_type == "Concat" else [])
    if not all(n.name for n in keep):
        name_nodes(keep)
        onnx.save(model, str(path))
    return [n.name for n in keep]


def calibration_crops(clf: ExpressionClassifier, sets: list[FaceDataset], n: int, seed: int = 0) -> np.ndarray:
    """Up to ``n`` faces drawn at random, in equal shares from each of ``sets`` (a set smaller than its share
    gives all it has), as the model's crops."""
    rng = np.random.default_rng(seed)
    shares = [n // len(sets) + (i < n % len(sets)) for i in range(len(sets))]
    parts = []
    for ds, k in zip(sets, shares, strict=True):
        pick = np.sort(rng.choice(len(ds), size=min(k, len(ds)), replace=False))
        parts.append(clf.preprocess.crop_images([ds.images[i] for i in pick]))
    return np.concatenate(parts)


def check_out(clf: ExpressionClassifier, out: str | Path) -> Path:
    """``out`` as a new .onnx file that is not the model itself; an int8 model is refused (quantised twice, its
    graph cannot be loaded). Checked before any work."""
    import onnx

    out = onnx_out(out)
    if out.resolve() == Path(clf.path).resolve():
        raise AffectlensError(f"--out {out} is the model being quantised: write the int8 model beside it")
    graph = onnx.load(str(clf.path), load_external_data=False).graph
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "QLinearConv") for n in graph.node):
        raise AffectlensError(f"{clf.card.name} is already quantised: quantise its float model")
    return out


def quantize_classifier(
    clf: ExpressionClassifier,
    calibration: FaceDataset | Sequence[FaceDataset],
    out: str | Path,
    n: int = 1024,
    seed: int = 0,
    reduce_range: bool = True,
) -> ExpressionClassifier:
    """Write ``out`` (.onnx) and its card: ``clf`` quantised to int8 on ``n`` faces of ``calibration`` (one
    set, or several in equal shares: faces of every kind the model will see, so no activation range is
    fixed by one dataset alone). ``reduce_range=False`` keeps full 8-bit weights: only for CPUs with
    VNNI or AMX (see the module's notes)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    sets = [calibration] if isinstance(calibration, FaceDataset) else list(calibration)
    out = check_out(clf, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    crops = calibration_crops(clf, sets, n, seed)
    data = " + ".join(f"{ds.name}_{ds.split}" for ds in sets)
    described = " + ".join(f"{ds.name} {ds.split}" for ds in sets)
    reader = _reader(clf, crops)
    with tempfile.TemporaryDirectory() as tmp:
        prepared, written = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(clf.path), str(prepared))
        keep = float_head(prepared)
        quantize_static(
            str(prepared),
            str(written),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            reduce_range=reduce_range,
            nodes_to_exclude=keep,
        )
        shutil.move(written, out)  # at ``out`` only once whole: a failed run leaves no half-written graph there
    card = copy.deepcopy(clf.card)
    card.name = f"{clf.card.name}-int8"
    card.description = (
        f"{clf.card.name} quantised to int8 (ONNX Runtime static quantisation, QDQ, per-channel "
        f"{'7-bit ' if reduce_range else ''}weights) "
        f"on {len(crops)} faces of {described}. " + (clf.card.description or "")
    ).strip()
    card.training = {
        "quantized_from": clf.card.name,
        "calibration": {"data": data, "n": len(crops), "seed": seed},
        "weight_bits": 7 if reduce_range else 8,
        "kept_float": keep,
        "float_training": clf.card.training,
    }
    card.metrics = {f"float_{k}": v for k, v in clf.card.metrics.items() if not k.startswith("float_")}
    # the temperature is the float graph's until `--temperature-on` refits it on this graph: its fit (NLL and ECE
    # after, the faces) describes the float graph's logits, so it is kept under that name, not as this graph's
    card.calibration = (
        {
            "fitted_on_float_graph": clf.card.calibration,
            "note": f"the temperature of {clf.card.name}, fitted on its float logits; not refitted on this graph",
        }
        if clf.card.calibration
        else {}
    )
    card.speed = {}
    card.save(card_path(out))
    return ExpressionClassifier(out, card)
