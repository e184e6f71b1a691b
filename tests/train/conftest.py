"""Fixtures of the training tests: a few hundred real FER+ faces as an image folder, small random models."""

import csv
import shutil

import numpy as np
import pytest

from affectlens.classify.card import ModelCard, card_path
from affectlens.faces.preprocess import Preprocess
from affectlens.labels import EMOTIONS


@pytest.fixture(scope="session")
def faces(tmp_path_factory, ferplus):
    """240 real FER+ training faces as an ImageFolder (class-named folders)."""
    root = tmp_path_factory.mktemp("faces")
    with open(ferplus / "FER2013Train" / "label.csv") as fh:
        for n, r in enumerate(csv.reader(fh)):
            if n == 240:
                break
            label = EMOTIONS[int(np.argmax(list(map(int, r[2:10]))))]
            (root / label).mkdir(exist_ok=True)
            shutil.copy(ferplus / "FER2013Train" / r[0], root / label / r[0])
    return f"imagefolder:{root}"


def random_model(folder, size: int, color: str = "gray"):
    """A small random CNN on ``size`` px crops of 0-255 pixels (the faceres convention), exported with a card."""
    import torch

    torch.manual_seed(0)
    chans = 3 if color == "rgb" else 1
    net = torch.nn.Sequential(
        torch.nn.Conv2d(chans, 8, 5, 4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, len(EMOTIONS)),
    ).eval()
    with torch.no_grad():
        net[0].weight.mul_(1 / 255)
    path = folder / f"m{size}{color}.onnx"
    torch.onnx.export(
        net,
        (torch.zeros(2, chans, size, size),),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    pre = Preprocess(size=size, color=color, mean=0.0, std=1 / 255)
    card = ModelCard(name=f"m{size}{color}", labels=list(EMOTIONS), preprocess=pre, temperature=0.5, licence="test")
    card.save(card_path(path))
    return path
