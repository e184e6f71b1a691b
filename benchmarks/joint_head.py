"""One softmax layer over the members' pooled features (a joint cRT head), against their weighted average.

    python benchmarks/joint_head.py fr112c-crt.onnx t1ft.onnx [--weights 0.6 0.4] [--betas 0 0.5 1] [--l2 1e-3 1e-2]
    python benchmarks/joint_head.py fr128o.onnx t1ft48.onnx --betas 0 --l2 5e-3 --write joint.onnx
    python benchmarks/joint_head.py fr128o.onnx t1ft48.onnx t2.onnx --weights 0.4 0.3 0.3 --betas 0 0.25

Where ``benchmarks/stack_members.py`` fits a combiner on the members' *probabilities*, this refits one
linear head on the concatenation of their frozen pooled features (each an exported model whose last node
is its Gemm head, as ``rebalance_head.py`` needs), on FER+ train + RAF-DB train (vote distributions,
RAF-DB rows over their own 7 classes), class weights ∝ n_c^-beta, pulled by ``l2`` toward the members'
log-linear pool (the members' heads scaled by weight / temperature, in standardised feature units), by
``rebalance_head.fit_head``.
Temperature and rare-class offsets are fitted on valid as for the shipped model; choice by the mean of
FER+ valid and RAF-DB valid, FER+ test printed beside it. ``--write`` composes the members and the
(last) fitted head into one graph (``affectlens.train.compose.compose_joint``) with its card: the
temperature fitted here, no offsets (the shipping script fits them on the final, quantised graph).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
from rebalance_head import SPLITS, fit_head, offsets, scores, temperature

from affectlens.classify import get_model
from affectlens.classify.onnx import softmax
from affectlens.datasets import load_dataset
from affectlens.labels import EMOTIONS
from affectlens.train.compose import compose_joint, feature_session, member_input

SCORED = (("ferplus", "valid"), ("ferplus", "test"), ("rafdb", "valid"))


def member_features(paths: list[Path], data: Path) -> list[tuple[dict, tuple[np.ndarray, np.ndarray], float]]:
    """Per member: pooled features of every split, its head (K, D), (K,) and its temperature. Every member
    reads the first member's (the host's) crops resized to its own size, as it does inside the joint graph."""
    clfs = [get_model(str(p)) for p in paths]
    host = clfs[0].card.preprocess
    sessions = [feature_session(p) for p in paths]
    roots = {"ferplus": data / "ferplus", "rafdb": data / "rafdb-basic"}
    feats: list[dict] = [{} for _ in paths]
    for kind, split in SPLITS:
        ds = load_dataset(f"{kind}:{roots[kind]}", split)
        crops = host.crop_images(ds.images)
        parts: list[list[np.ndarray]] = [[] for _ in paths]
        for i in range(0, len(crops), 256):
            x01 = crops[i : i + 256].astype(np.float32) / 255
            for j, (clf, (sess, _)) in enumerate(zip(clfs, sessions, strict=True)):
                x = member_input(clf, host, x01)
                parts[j].append(sess.run(None, {clf.card.input_name: x})[1].reshape(len(x), -1))
        for j in range(len(paths)):
            feats[j][(kind, split)] = (np.concatenate(parts[j]), ds)
        print(f"features of {kind} {split} ({len(ds)} faces)", flush=True)
    return [(f, s[1], c.card.temperature) for f, s, c in zip(feats, sessions, clfs, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("members", type=Path, nargs="+", help="two or more exported members, the host's first")
    ap.add_argument("--weights", type=float, nargs="+", help="their weights in the pool (default: 0.6 / 0.4 or equal)")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument("--l2", type=float, nargs="+", default=[1e-3, 1e-2])
    ap.add_argument("--write", type=Path, help="compose the members with the (last) fitted head into this .onnx")
    ap.add_argument("--name", help="the written model's name (default: the file's stem)")
    args = ap.parse_args()
    if len(args.members) < 2:
        ap.error("give two or more members")
    if args.weights is None:
        n = len(args.members)
        args.weights = [0.6, 0.4] if n == 2 else [1 / n] * n
    if len(args.weights) != len(args.members):
        ap.error(f"{len(args.members)} members but {len(args.weights)} weights")
    parts = member_features(args.members, args.data)
    cat = {key: (np.concatenate([p[0][key][0] for p in parts], 1), parts[0][0][key][1]) for key in parts[0][0]}
    train = [cat[("ferplus", "train")], cat[("rafdb", "train")]]
    x = np.concatenate([t[0] for t in train]).astype(np.float32)
    mu, sd = x.mean(0), x.std(0) + 1e-3
    y = np.concatenate([t[1].soft_targets() for t in train]).astype(np.float32)
    mask = np.concatenate([np.tile([c in t[1].classes for c in EMOTIONS], (len(t[1]), 1)) for t in train])
    counts = y.sum(0)
    # the start (and the L2 anchor): the members' log-linear pool, in standardised units
    scaled = [(a * w / t, a * b / t) for a, (_, (w, b), t) in zip(args.weights, parts, strict=True)]
    w0 = (np.concatenate([w for w, _ in scaled], 1) * sd).astype(np.float32)
    b0 = (sum(b for _, b in scaled) + np.concatenate([w for w, _ in scaled], 1) @ mu).astype(np.float32)
    xs = ((x - mu) / sd).astype(np.float32)
    for beta in args.betas:
        cw = (counts / counts.sum()) ** -beta
        cw = (cw / (cw * counts).sum() * counts.sum()).astype(np.float32)
        for l2 in args.l2:
            w, b = fit_head(xs, y, mask, w0, b0, cw, l2)
            w, b = w / sd, b - (w / sd) @ mu
            t = temperature(cat[("ferplus", "valid")][0] @ w.T + b, cat[("ferplus", "valid")][1])
            pair = {k: (softmax(cat[k][0] @ w.T + b, t), cat[k][1]) for k in SCORED}
            bias = offsets(pair)
            r = {k: scores(softmax(np.log(p + 1e-12) + bias), ds) for k, (p, ds) in pair.items()}
            v, te, raf = r[SCORED[0]], r[SCORED[1]], r[SCORED[2]]
            print(
                f"beta {beta} l2 {l2} T {t:.2f} offsets {bias[5:].round(2).tolist()} | valid {v['acc']} F1 "
                f"{v['macro_f1']} | RAF-DB {raf['acc']} | mean {(v['acc'] + raf['acc']) / 2:.4f} | test {te['acc']} "
                f"F1 {te['macro_f1']} min {te['min_recall']} contempt {te['recall']['contempt']}",
                flush=True,
            )
    if args.write:
        out = compose_joint([str(p) for p in args.members], w, b, args.write, name=args.name)
        clf = get_model(str(out))
        clf.card.temperature = t
        clf.card.training["head"] = {
            "method": f"one softmax layer on the members' frozen pooled features (standardised), FER+ train + "
            f"RAF-DB train vote distributions (RAF-DB rows over their own 7 classes), class weights ∝ n_c^-{beta}, "
            f"L2 {l2} toward the members' heads pooled log-linearly ({' / '.join(map(str, args.weights))}), "
            "L-BFGS; temperature fitted on FER+ valid",
            "command": "python " + shlex.join(sys.argv),
        }
        clf.card.save(out.with_suffix(".json"))
        print(
            f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and its card, parity "
            f"{clf.card.metrics['onnx_parity_max_abs_diff']:.1e}"
        )


if __name__ == "__main__":
    main()
