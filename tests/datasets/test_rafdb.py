import numpy as np
import pytest

from affectlens.datasets import load_dataset
from affectlens.errors import AffectlensError


def test_train_valid_split_is_disjoint_and_stable(rafdb):
    tr = load_dataset(f"rafdb:{rafdb}", "train")
    va = load_dataset(f"rafdb:{rafdb}", "valid")
    assert len(tr) + len(va) == 12271
    assert 0.08 < len(va) / 12271 < 0.12
    assert not set(tr.files) & set(va.files)
    assert tr.images.shape[1:] == (100, 100, 3)
    assert "contempt" not in tr.classes and len(tr.classes) == 7
    # label codes: 4 is happiness, the largest class of RAF-DB
    assert tr.classes[np.bincount(tr.labels).argmax()] == "happiness"


def test_missing_test_split_is_explained(rafdb):
    with pytest.raises(AffectlensError, match="split 'test' is missing"):
        load_dataset(f"rafdb:{rafdb}", "test")


def test_wrong_layout(tmp_path):
    with pytest.raises(AffectlensError, match="list_patition_label.txt"):
        load_dataset(f"rafdb:{tmp_path}", "train")
