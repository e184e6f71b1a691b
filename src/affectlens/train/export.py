"""Export a checkpoint to ONNX with its model card, and check ONNX and PyTorch agree."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from affectlens.classify.card import ModelCard, card_path
from affectlens.labels import EMOTIONS
from affectlens.train.loop import load_checkpoint, to_input

LICENCES = {
    "ferplus": "FER+ labels MIT (Microsoft); FER2013 images: ICML 2013 challenge data, research use",
    "fer2013": "FER2013: ICML 2013 representation-learning challenge data, research use",
    "rafdb": "RAF-DB: non-commercial research use only",
    "imagefolder": "user-supplied images: see their own terms",
}


def export_onnx(
    checkpoint: str | Path,
    onnx_path: str | Path,
    name: str | None = None,
    crop_scale: float | None = None,
    opset: int = 17,
) -> Path:
    """Write ``onnx_path`` and its ``.json`` card from a training checkpoint; return the path."""
    model, cfg, pre, ck = load_checkpoint(checkpoint)
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
    parity = check_parity(model, onnx_path, pre)
    run_json = Path(checkpoint).parent / "run.json"
    run = json.loads(run_json.read_text()) if run_json.is_file() else {}
    kinds = sorted({s.split(":", 1)[0] for s in cfg.train})
    history = ck.get("history", [])
    card = ModelCard(
        name=name or onnx_path.stem,
        labels=list(EMOTIONS),
        preprocess=pre,
        architecture=cfg.model,
        licence="; ".join(LICENCES.get(k, k) for k in kinds),
        training={
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
        },
        metrics={"onnx_parity_max_abs_diff": parity},
    )
    card.save(card_path(onnx_path))
    return onnx_path


@torch.no_grad()
def check_parity(model: torch.nn.Module, onnx_path: Path, pre, n: int = 64, seed: int = 0) -> float:
    """Largest |probability difference| between PyTorch (fp32) and ONNX Runtime on random crops."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    shape = (n, pre.size, pre.size) if pre.color == "gray" else (n, pre.size, pre.size, 3)
    crops = rng.integers(0, 256, shape, dtype=np.uint8)
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
