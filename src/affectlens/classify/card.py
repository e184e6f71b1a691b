"""Model cards: everything needed to use an ONNX expression model, stored as JSON beside it.

The analysis pipeline, the evaluator and the benchmark read preprocessing from the card and
never from constants of their own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from affectlens.errors import AffectlensError
from affectlens.faces.preprocess import Preprocess


@dataclass
class ModelCard:
    name: str
    labels: list[str]
    preprocess: Preprocess
    architecture: str = ""
    input_name: str = "input"
    output: str = "logits"  # "logits" (softmax applied by us) or "probs"
    temperature: float = 1.0
    class_bias: list[float] = field(default_factory=list)  # added to the logits before the temperature (none: [])
    licence: str = ""
    description: str = ""
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    speed: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["preprocess"] = self.preprocess.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelCard:
        d = dict(d)
        pre = Preprocess.from_dict(d.pop("preprocess"))
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(preprocess=pre, **known)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        if not path.is_file():
            raise AffectlensError(f"model card {path} not found (every .onnx model needs its .json card beside it)")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AffectlensError(f"model card {path} is not valid: {exc}") from None


def card_path(onnx_path: str | Path) -> Path:
    return Path(onnx_path).with_suffix(".json")


def onnx_out(path: str | Path) -> Path:
    """``path`` as a model file to write: an .onnx file (not a folder), its card going beside it (:func:`card_path`)."""
    path = Path(path)
    if path.suffix != ".onnx" or path.is_dir():
        raise AffectlensError(f"--out {path}: give the .onnx file to write (its card goes beside it as .json)")
    return path
