"""Split one member out of an ensemble graph (``affectlens export A.pt B.pt`` or ``compose``) as a model.

    python tools/split_ensemble.py affect-cnn-x2-v1 --member 0 --out /tmp/m/t1ft.onnx [--data ../shared/data]

The member's logits (the ``Gemm`` of ``/members.N/head``, or ``mN_logits`` of a composed graph, whose
members keep any in-graph resampling to their own input size) become the new graph's output ``logits``;
its card is the ensemble's (preprocessing, labels, licence) with that member's training record, and
its softmax temperature is fitted on FER+ valid. Used to weigh the shipped pair's members one by one
in ``benchmarks/ensemble_search.py`` and ``affectlens compose`` when their checkpoints are gone.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import onnx
from onnx.utils import Extractor

from affectlens.classify import get_model
from affectlens.classify.card import card_path
from affectlens.datasets import load_dataset
from affectlens.errors import AffectlensError
from affectlens.train.export import calibrate_card


def split(model: str, member: int, out: Path, data: Path) -> Path:
    clf = get_model(model)
    graph = onnx.shape_inference.infer_shapes(onnx.load(str(clf.path)))  # the extractor needs value infos
    outputs = {o for n in graph.graph.node for o in n.output}
    # an exported ensemble names its members' logits by module path, a composed one by prefix
    names = (f"/members.{member}/head/head.3/Gemm_output_0", f"m{member}_logits")
    logits = next((n for n in names if n in outputs), None)
    if logits is None:
        raise AffectlensError(f"{clf.path.name} has no member {member} (none of {', '.join(names)})")
    part = Extractor(graph).extract_model([graph.graph.input[0].name], [logits])
    for n in part.graph.node:
        n.output[:] = ["logits" if o == logits else o for o in n.output]
    part.graph.output[0].name = "logits"
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(part, str(out))
    card = copy.deepcopy(clf.card)
    card.name, card.metrics, card.speed, card.class_bias = out.stem, {}, {}, []
    card.architecture = f"member {member} of {clf.card.name}"
    members = clf.card.training.get("members", [])
    card.training = members[member] if member < len(members) else {"split_from": clf.card.name}
    card.save(card_path(out))
    part_clf = get_model(str(out))
    calibrate_card(part_clf, load_dataset(f"ferplus:{data / 'ferplus'}", "valid"))
    part_clf.card.save(card_path(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="shipped ensemble name or .onnx file")
    ap.add_argument("--member", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = ap.parse_args()
    try:
        path = split(args.model, args.member, args.out, args.data)
    except AffectlensError as exc:
        sys.exit(f"error: {exc}")
    print(f"wrote {path} (temperature {get_model(str(path)).card.temperature:.3f})")


if __name__ == "__main__":
    main()
