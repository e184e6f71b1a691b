"""A weight-space average ("model soup") of faceres models fine-tuned from the same pretrained start.

    python benchmarks/soup.py INGREDIENT [INGREDIENT ...] --out runs/soup-x/best.pt [--weights 0.5 0.5]
        [--faces 8192] [--no-repair] [--data ../shared/data]

An ingredient is a training checkpoint (``runs/X/best.pt``, its EMA weights) or an exported single-model
graph (``member.onnx`` with its card, e.g. one split out of a shipped ensemble by ``tools/split_ensemble.py``).
Models fine-tuned from one pretrained start often share a basin of the loss, so the average of their
weights reads as well as each alone or better, at one model's cost (Wortsman et al., 2022).

Every ingredient is first brought to its *folded* form (each conv with its batch-norm folded in: the
form a graph holds), and those are averaged. Averaging shrinks the spread of each channel's output
(the ingredients' features are not aligned unit for unit), which a deep network compounds; REPAIR
(Jordan et al., 2022) restores it: each conv of the soup gets a batch-norm whose scale and shift are
the ingredients' averaged per-channel output std and mean, measured on ``--faces`` training faces
(FER+ and RAF-DB, no augmentation), its statistics measured on the same faces. ``--no-repair`` keeps
the plain average. The output is a checkpoint ``affectlens export`` takes (architecture ``faceres_gdc``:
a plain ``faceres`` is one with a zero pooling delta).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from affectlens.datasets import load_dataset
from affectlens.faces.preprocess import Preprocess
from affectlens.train.faceres import FaceResNet
from affectlens.train.loop import load_checkpoint, to_input

LAYERS = list(dict(FaceResNet(pretrained=False).features.named_children()))  # conv1, conv_dw_1, conv_pw_1, ...


@dataclass
class Folded:
    """One faceres model with every batch-norm folded into its conv: weights, biases, head, pooling delta."""

    convs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    head: tuple[torch.Tensor, torch.Tensor]
    delta: torch.Tensor
    pre: Preprocess
    config: dict


def from_checkpoint(path: Path) -> Folded:
    model, cfg, pre, _ = load_checkpoint(path)
    if cfg.model not in ("faceres", "faceres_gdc"):
        raise SystemExit(f"{path} is a {cfg.model}: soups here are of faceres models")
    convs = {}
    for name, blk in model.features.named_children():
        bn = blk.bn
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        convs[name] = (blk.conv.weight * s.view(-1, 1, 1, 1), bn.bias - bn.running_mean * s)
    delta = model.pool_delta if model.pool_delta is not None else torch.zeros(1, 1024, 4, 4)
    lin = model.head[1]
    return Folded(convs, (lin.weight, lin.bias), delta.detach().clone(), pre, cfg.to_dict())


def from_onnx(path: Path) -> Folded:
    m = onnx.load(path)
    init = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    conv_nodes = [n for n in m.graph.node if n.op_type == "Conv"]
    if len(conv_nodes) != len(LAYERS):
        raise SystemExit(f"{path}: {len(conv_nodes)} convs, a faceres graph has {len(LAYERS)}")
    convs = {name: (init[n.input[1]], init[n.input[2]]) for name, n in zip(LAYERS, conv_nodes, strict=True)}
    gemm = next(n for n in m.graph.node if n.op_type == "Gemm")
    pool = [init[i] for n in m.graph.node if n.op_type == "Mul" for i in n.input if i in init and init[i].ndim == 4]
    delta = pool[0] - 1 / 16 if pool else torch.zeros(1, 1024, 4, 4)
    card = json.loads(path.with_suffix(".json").read_text())
    training = card.get("training", {})
    while "config" not in training and "training" in training:
        training = training["training"]
    return Folded(
        convs,
        (init[gemm.input[1]], init[gemm.input[2]]),
        delta,
        Preprocess.from_dict(card["preprocess"]),
        training["config"],
    )


def load(path: Path) -> Folded:
    return from_onnx(path) if path.suffix == ".onnx" else from_checkpoint(path)


def build(f: Folded, gamma: dict | None = None, beta: dict | None = None) -> FaceResNet:
    """A FaceResNet computing ``f`` (identity batch-norms carrying the biases), or, given ``gamma``/``beta``
    per layer, one whose batch-norms rescale each conv's output to those per-channel std and mean."""
    model = FaceResNet(in_chans=f.pre.channels, pretrained=False, pool="gdc")
    with torch.no_grad():
        for name, blk in model.features.named_children():
            w, b = f.convs[name]
            blk.conv.weight.copy_(w)
            bn = blk.bn
            if gamma is None:
                bn.weight.fill_(1.0)
                bn.bias.copy_(b)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            else:
                bn.weight.copy_(gamma[name])
                bn.bias.copy_(beta[name])
        model.head[1].weight.copy_(f.head[0])
        model.head[1].bias.copy_(f.head[1])
        model.pool_delta.copy_(f.delta)
    return model.eval()


@torch.no_grad()
def conv_stats(model: FaceResNet, crops: np.ndarray, pre: Preprocess, batch: int = 256) -> dict[str, tuple]:
    """Per layer: the per-channel mean and std of the conv's output (before its ReLU6) over ``crops``."""
    sums: dict[str, list] = {}

    def hook(name):
        def fn(_m, _i, out):
            x = out.float().transpose(0, 1).reshape(out.shape[1], -1)
            s = sums.setdefault(name, [0.0, 0.0, 0])
            s[0] = s[0] + x.sum(1)
            s[1] = s[1] + (x * x).sum(1)
            s[2] += x.shape[1]

        return fn

    handles = [blk.bn.register_forward_hook(hook(n)) for n, blk in model.features.named_children()]
    for i in range(0, len(crops), batch):
        model(to_input(torch.from_numpy(crops[i : i + batch]), pre))
    for h in handles:
        h.remove()
    out = {}
    for name, (s1, s2, n) in sums.items():
        mean = s1 / n
        out[name] = (mean, torch.sqrt((s2 / n - mean * mean).clamp_min(1e-8)))
    return out


@torch.no_grad()
def measure_bn(model: FaceResNet, crops: np.ndarray, pre: Preprocess, batch: int = 256) -> None:
    """Batch-norm running statistics measured on ``crops`` (a cumulative average over the batches)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for i in range(0, len(crops), batch):
        model(to_input(torch.from_numpy(crops[i : i + batch]), pre))
    model.eval()


def training_faces(pre: Preprocess, data: Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` training faces (FER+ and RAF-DB train, a fixed random draw), cropped as ``pre`` says."""
    rng = np.random.default_rng(seed)
    sets = [
        load_dataset(f"{kind}:{data / folder}", "train")
        for kind, folder in (("ferplus", "ferplus"), ("rafdb", "rafdb-basic"))
    ]
    total = sum(len(s) for s in sets)
    pick = np.sort(rng.choice(total, min(n, total), replace=False))
    crops, start = [], 0
    for s in sets:
        idx = pick[(pick >= start) & (pick < start + len(s))] - start
        crops.append(pre.crop_images(s.images[idx]))
        start += len(s)
    return np.concatenate(crops)[rng.permutation(len(pick))]


def soup(parts: list[Folded], weights: list[float], crops: np.ndarray | None) -> FaceResNet:
    """The weighted average of ``parts``; with ``crops``, each conv's output spread restored (REPAIR)."""

    def avg(get):
        return sum(w * get(p) for p, w in zip(parts, weights, strict=True))

    mixed = Folded(
        {n: (avg(lambda p, n=n: p.convs[n][0]), avg(lambda p, n=n: p.convs[n][1])) for n in LAYERS},
        (avg(lambda p: p.head[0]), avg(lambda p: p.head[1])),
        avg(lambda p: p.delta),
        parts[0].pre,
        parts[0].config,
    )
    if crops is None:
        return build(mixed)
    stats = [conv_stats(build(p), crops, p.pre) for p in parts]
    gamma = {n: sum(w * s[n][1] for s, w in zip(stats, weights, strict=True)) for n in LAYERS}
    beta = {n: sum(w * s[n][0] for s, w in zip(stats, weights, strict=True)) for n in LAYERS}
    model = build(mixed, gamma, beta)
    measure_bn(model, crops, mixed.pre)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ingredients", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--weights", type=float, nargs="+")
    ap.add_argument("--faces", type=int, default=8192)
    ap.add_argument("--no-repair", action="store_true")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = ap.parse_args()
    weights = args.weights or [1 / len(args.ingredients)] * len(args.ingredients)
    if len(weights) != len(args.ingredients) or abs(sum(weights) - 1) > 1e-6:
        raise SystemExit("--weights: one per ingredient, summing to 1")
    parts = [load(p) for p in args.ingredients]
    if len({json.dumps(p.pre.to_dict(), sort_keys=True) for p in parts}) > 1:
        raise SystemExit("the ingredients differ in preprocessing")
    crops = None if args.no_repair else training_faces(parts[0].pre, args.data, args.faces)
    model = soup(parts, weights, crops)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    recipe = {"ingredients": [str(p) for p in args.ingredients], "weights": weights, "repair_faces": args.faces}
    torch.save(
        {
            "weights": model.state_dict(),
            "config": parts[0].config | {"model": "faceres_gdc"},
            "preprocess": parts[0].pre.to_dict(),
            "history": [],
            "best": None,
            "soup": recipe,
        },
        args.out,
    )
    command = " ".join(["python benchmarks/soup.py", *map(str, args.ingredients), f"--out {args.out}"])
    command += f" --weights {' '.join(map(str, weights))}" + (" --no-repair" if args.no_repair else "")
    (args.out.parent / "run.json").write_text(json.dumps({"command": command, "soup": recipe}, indent=2) + "\n")
    print(f"wrote {args.out} (weights {weights}, {'plain average' if args.no_repair else 'REPAIR'})")


if __name__ == "__main__":
    main()
