"""Fixtures of the training tests: a few hundred real FER+ faces as an image folder."""

import csv
import shutil

import numpy as np
import pytest

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
