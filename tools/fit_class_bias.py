"""Fit a shipped expression model's per-class decision offsets on validation data, into its card (run once).

    python tools/fit_class_bias.py affect-cnn-x2-v1-int8 affect-cnn-x2-v1 [--data ../shared/data]

For each model: its logits (without any offsets) on FER+ valid and our RAF-DB validation split;
``evaluate.calibration.fit_class_bias`` chooses the offsets that maximise the mean over both sets of
accuracy + 0.5 · macro-F1 (never the test split), with offsets only on the rare classes (under 5 % of
FER+ valid: disgust, fear, contempt; an offset on every class was measured too, see
``benchmarks/model-runs.md``: it lost accuracy on test); the temperature is fitted again on FER+ valid with
the offsets applied; then FER+ test, FER+ valid and RAF-DB valid are measured into the card, beside
the figures it had (``before_class_bias``). The model file itself is unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlens.classify import get_model  # noqa: E402
from affectlens.classify.card import card_path  # noqa: E402
from affectlens.datasets import load_dataset  # noqa: E402
from affectlens.errors import AffectlensError  # noqa: E402
from affectlens.evaluate.calibration import fit_class_bias  # noqa: E402
from affectlens.train.export import calibrate_card, measure_into_card  # noqa: E402

WEIGHT = 0.5  # macro-F1's weight beside accuracy in the objective
RARE = 0.05  # classes under this share of FER+ valid get an offset (disgust, fear, contempt); the rest keep 0


def main() -> None:
    try:
        fit(_args())
    except AffectlensError as exc:  # an unknown model, missing data: one line, exit 1
        sys.exit(f"error: {exc}")


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="run from the repository root")
    ap.add_argument(
        "--max-offset", type=float, default=1.0, help="offsets tried: 0 to this, step 0.1 (a fit at the edge: raise it)"
    )
    ap.add_argument(
        "--bias-from",
        help="take the offsets from this model's card instead of fitting them (a float model beside its int8 "
        "twin: the same decisions, so the two differ only by quantisation)",
    )
    return ap.parse_args()


def _offsets(clf, name: str, args: argparse.Namespace, fer_valid, raf_valid) -> tuple[np.ndarray, dict]:
    """The model's offsets and how they were chosen: copied from ``--bias-from``, or fitted on valid."""
    if args.bias_from:
        bias = np.round(np.asarray(get_model(args.bias_from).card.class_bias, np.float64), 3)
        if len(bias) != len(clf.labels):
            raise AffectlensError(f"{args.bias_from} has no offsets for {name}'s {len(clf.labels)} classes to copy")
        return bias, {
            "copied_from": args.bias_from,
            "command": f"python tools/fit_class_bias.py {name} --bias-from {args.bias_from}",
        }
    sets = []
    for ds in (fer_valid, raf_valid):
        z = clf.logits(clf.preprocess.crop_images(ds.images), bias=False)
        sets.append((z, ds.labels, [clf.labels.index(c) for c in ds.classes]))
    share = np.bincount(fer_valid.labels, minlength=len(fer_valid.classes)) / len(fer_valid)
    rare = [clf.labels.index(c) for c, f in zip(fer_valid.classes, share, strict=True) if f < RARE]
    values = np.round(np.arange(0.0, args.max_offset + 1e-9, 0.1), 3)
    bias = fit_class_bias(sets, len(clf.labels), rare, weight=WEIGHT, values=values)
    return bias, {
        "fitted_on": ["ferplus_valid", "rafdb_valid"],
        "objective": f"mean over the sets of accuracy + {WEIGHT} x macro-F1; offsets 0-{args.max_offset:g} "
        f"(step 0.1) on the classes under {RARE:.0%} of FER+ valid, every combination",
        "command": f"python tools/fit_class_bias.py {name}"
        + (f" --max-offset {args.max_offset:g}" if args.max_offset != 1.0 else ""),
    }


def fit(args: argparse.Namespace) -> None:
    specs = {
        "ferplus": f"ferplus:{args.data / 'ferplus'}",
        "rafdb": f"rafdb:{args.data / 'rafdb-basic'}",
    }
    fer_valid = load_dataset(specs["ferplus"], "valid")
    raf_valid = load_dataset(specs["rafdb"], "valid")
    fer_test = load_dataset(specs["ferplus"], "test")
    for name in args.models:
        clf = get_model(name).prepare(threads=2)
        bias, record = _offsets(clf, name, args, fer_valid, raf_valid)
        before = {k: v for k, v in clf.card.metrics.items() if k in ("ferplus_test", "ferplus_valid", "rafdb_valid")}
        clf.card.class_bias = [float(x) for x in bias]
        calibrate_card(clf, fer_valid)
        clf.card.calibration |= {"class_bias": record}
        for ds, spec in ((fer_test, specs["ferplus"]), (fer_valid, specs["ferplus"]), (raf_valid, specs["rafdb"])):
            rep = measure_into_card(clf, ds, spec)
            clf.card.metrics[f"{ds.name}_{ds.split}"]["command"] = (
                f"affectlens eval --model {name} --dataset {spec} --split {ds.split}"
            )
            print(f"{name} {ds.name} {ds.split}: accuracy {rep['accuracy']:.4f} macro-F1 {rep['macro_f1']:.3f}")
        clf.card.metrics["before_class_bias"] = before
        clf.card.save(card_path(clf.path))
        print(f"{name}: class_bias {dict(zip(clf.labels, clf.card.class_bias, strict=True))}, "
              f"temperature {clf.card.temperature:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
