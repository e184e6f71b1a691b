"""Choose ensemble weights for exported expression models by the issue's rule, then report test figures.

    python benchmarks/ensemble_search.py MODEL.onnx MODEL2.onnx [...] [--data ../shared/data] [--step 0.1]
        [--max-members 2]

Each model's calibrated probabilities (its card's temperature) are computed once on FER+ valid, FER+
test and our RAF-DB validation split; every weight vector on a simplex grid (``--step``) averages
them. The winner is chosen by the mean of FER+ valid and RAF-DB valid accuracy (never by test);
its FER+ test accuracy, macro-F1 and lowest class recall are printed beside each model alone.
Models may differ in input size and colour: each reads its own crops. ``--flip`` averages each
model's probabilities over the crop and its mirror image (test-time augmentation: twice the cost).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from affectlens.classify import get_model
from affectlens.datasets import load_dataset
from affectlens.evaluate.metrics import classification_report
from affectlens.evaluate.runner import restrict

SPLITS = (("ferplus", "valid"), ("ferplus", "test"), ("rafdb", "valid"))


def probabilities(models: list[str], data: Path, flip: bool = False) -> dict[tuple[str, str], tuple[np.ndarray, list]]:
    """(dataset, split) → (models x faces x classes probabilities, the dataset)."""
    paths = {"ferplus": data / "ferplus", "rafdb": data / "rafdb-basic"}
    classifiers = [get_model(m).prepare(threads=2) for m in models]
    out = {}
    for kind, split in SPLITS:
        ds = load_dataset(f"{kind}:{paths[kind]}", split)
        ps = []
        for c in classifiers:
            x = c.preprocess.crop_images(ds.images)  # N x H x W (gray) or N x H x W x 3
            p = c.predict(x)
            if flip:
                p = (p + c.predict(np.ascontiguousarray(x[:, :, ::-1]))) / 2
            ps.append(restrict(p, c.labels, ds.classes))
        out[(kind, split)] = (np.stack(ps), ds)
    return out


def weight_grid(n: int, step: float) -> list[np.ndarray]:
    k = round(1 / step)
    return [np.array(c) / k for c in itertools.product(range(k + 1), repeat=n) if sum(c) == k]


def figures(p: np.ndarray, ds) -> dict:
    r = classification_report(ds.labels, p, ds.classes)
    recalls = [v["recall"] for v in r["per_class"].values()]
    return {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "min_recall": min(recalls), "ece": r["ece"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--step", type=float, default=0.1)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--max-members", type=int, default=0, help="only ensembles of at most this many models (the speed budget)"
    )
    ap.add_argument("--flip", action="store_true", help="average each crop's and its mirror's probabilities")
    args = ap.parse_args()
    probs = probabilities(args.models, args.data, args.flip)

    def acc(w: np.ndarray, key: tuple[str, str]) -> float:
        p, ds = probs[key]
        return float((np.tensordot(w, p, 1).argmax(1) == np.asarray(ds.labels)).mean())

    scored = [
        ((acc(w, ("ferplus", "valid")) + acc(w, ("rafdb", "valid"))) / 2, w)
        for w in weight_grid(len(args.models), args.step)
        if not args.max_members or np.count_nonzero(w) <= args.max_members
    ]
    scored.sort(key=lambda t: -t[0])
    rows = []
    for i, m in enumerate(args.models):
        w = np.eye(len(args.models))[i]
        rows.append({"weights": w.tolist(), "model": Path(m).name})
    rows.append({"weights": scored[0][1].tolist(), "model": "chosen on valid"})
    for row in rows:
        w = np.array(row["weights"])
        p, ds = probs[("ferplus", "test")]
        row |= {
            "ferplus_valid": round(acc(w, ("ferplus", "valid")), 4),
            "rafdb_valid": round(acc(w, ("rafdb", "valid")), 4),
            "ferplus_test": {k: round(v, 4) for k, v in figures(np.tensordot(w, p, 1), ds).items()},
        }
        print(json.dumps(row))
    print("top 5 by mean valid:", [(round(s, 4), w.round(2).tolist()) for s, w in scored[:5]])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
