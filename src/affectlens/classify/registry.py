"""Expression models by name: the ones shipped in the package, or any ``.onnx`` with its card.

Inference never imports the training code: a PyTorch checkpoint (``.pt`` from ``affectlens train``)
is exported first (``affectlens export``, or on the fly by the CLI's ``--model run/best.pt``), so
every model is run by ONNX Runtime the same way.
"""

from __future__ import annotations

from pathlib import Path

from affectlens.classify.card import ModelCard, card_path
from affectlens.classify.onnx import ExpressionClassifier
from affectlens.errors import AffectlensError

WEIGHTS = Path(__file__).parent / "weights"
DEFAULT_MODEL = "affect-ens-v4-int8"


def builtin_models() -> list[str]:
    return sorted(p.stem for p in WEIGHTS.glob("*.onnx") if card_path(p).is_file())


def model_id(name_or_path: str | Path | None = None) -> str:
    """What a study records as its model: a shipped name as is, an ``.onnx`` file by its absolute path
    (``None``: today's default, by name, so that a later release's default does not change the study)."""
    clf = get_model(name_or_path)
    return clf.path.stem if clf.path.parent == WEIGHTS else str(clf.path.resolve())


def get_model(name_or_path: str | Path | None = None) -> ExpressionClassifier:
    """Resolve a shipped model name, an ``.onnx`` path or a ``.pt`` checkpoint to a classifier."""
    name = str(name_or_path or DEFAULT_MODEL)
    path = Path(name)
    if path.suffix == ".onnx":
        if not path.is_file():
            raise AffectlensError(f"model file {path} not found")
        return ExpressionClassifier(path, ModelCard.load(card_path(path)))
    if path.suffix in (".pt", ".pth"):
        raise AffectlensError(
            f"{path} is a training checkpoint: export it first (affectlens export {path} --out model.onnx) "
            "and give the .onnx file (`affectlens analyze` and `eval` also export a checkpoint on the fly)"
        )
    file = WEIGHTS / f"{name}.onnx"
    if file.is_file():
        return ExpressionClassifier(file, ModelCard.load(card_path(file)))
    known = ", ".join(builtin_models()) or "none shipped"
    raise AffectlensError(f"unknown model {name!r}: give a shipped name ({known}), an .onnx file or a .pt checkpoint")
