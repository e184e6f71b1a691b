"""Does a learned fusion of ensemble members beat their weighted average? (stacking, measured)

    python benchmarks/stack_members.py MEMBER.onnx MEMBER2.onnx [--weights 0.6 0.4] [--data ../shared/data]

A multinomial logistic regression on the members' calibrated log-probabilities (8 per member), fitted on
FER+ valid with an L2 penalty and optionally class-balanced (weights ∝ (1/frequency)^balance, for the rare
classes). Each setting is scored by 5-fold cross-validation on FER+ valid (what a choice may use) and,
refitted on all of valid, on FER+ test (printed, never used to choose), beside the members' weighted average.
Needs the [train] extra (PyTorch's L-BFGS).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from ensemble_search import probabilities

from affectlens.evaluate.metrics import classification_report


def fit(x: np.ndarray, y: np.ndarray, l2: float, balance: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights (F, k) and bias (k,) of the fusion, starting from the plain average of the members."""
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    counts = np.maximum(np.bincount(y, minlength=k), 1).astype(float)
    cw = torch.tensor((counts.sum() / counts / k) ** balance, dtype=torch.float32)
    members = x.shape[1] // k
    w = torch.tensor(np.tile(np.eye(k), (members, 1)) / members, dtype=torch.float32, requires_grad=True)
    b = torch.zeros(k, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt, weight=cw) + l2 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def figures(pred: np.ndarray, ds) -> dict:
    r = classification_report(ds.labels, np.eye(len(ds.classes))[pred], ds.classes)
    recalls = [round(v["recall"], 2) for v in r["per_class"].values()]
    return {"accuracy": round(r["accuracy"], 4), "macro_f1": round(r["macro_f1"], 4), "recalls": recalls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--weights", type=float, nargs="+", help="the weighted average to compare with")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = ap.parse_args()
    probs = probabilities(args.models, args.data)
    (pv, valid), (pt, test) = probs[("ferplus", "valid")], probs[("ferplus", "test")]
    k = len(valid.classes)

    def feats(p: np.ndarray) -> np.ndarray:
        return np.log(np.clip(p, 1e-7, 1)).transpose(1, 0, 2).reshape(p.shape[1], -1)

    xv, xt, yv = feats(pv), feats(pt), np.asarray(valid.labels)
    w = np.array(args.weights or [1 / len(args.models)] * len(args.models))
    avg = {
        "valid": figures(np.tensordot(w, pv, 1).argmax(1), valid),
        "test": figures(np.tensordot(w, pt, 1).argmax(1), test),
    }
    print(json.dumps({"fusion": f"weighted average {w.tolist()}", **avg}))
    folds = np.random.default_rng(0).integers(0, 5, len(yv))
    for l2 in (1e-4, 1e-3, 1e-2):
        for balance in (0.0, 0.5, 1.0):
            cv = np.zeros(len(yv), int)
            for f in range(5):
                wf, bf = fit(xv[folds != f], yv[folds != f], l2, balance, k)
                cv[folds == f] = (xv[folds == f] @ wf + bf).argmax(1)
            wa, ba = fit(xv, yv, l2, balance, k)
            row = {"fusion": f"logistic l2={l2} balance={balance}", "valid_cv": figures(cv, valid)}
            print(json.dumps(row | {"test": figures((xt @ wa + ba).argmax(1), test)}))


if __name__ == "__main__":
    main()
