import numpy as np
import pytest

from affectlens.evaluate.metrics import classification_report, confusion_matrix, expected_calibration_error


def test_known_confusion_and_f1():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.eye(3)[[0, 0, 1, 1, 1, 0]]
    cm = confusion_matrix(y, p.argmax(1), 3)
    assert cm.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    rep = classification_report(y, p, ["a", "b", "c"])
    assert rep["accuracy"] == pytest.approx(4 / 6)
    assert rep["per_class"]["a"]["precision"] == pytest.approx(2 / 3)
    assert rep["per_class"]["a"]["recall"] == pytest.approx(2 / 3)
    assert rep["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert rep["per_class"]["c"]["f1"] == 0.0
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)


def test_ece_perfectly_calibrated_and_overconfident():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 20000)
    y_hat = rng.uniform(size=conf.size) < conf  # right with probability = confidence
    probs = np.stack([conf, 1 - conf], 1)
    y = np.where(y_hat, 0, 1)
    assert expected_calibration_error(probs, y) < 0.02
    over = np.stack([np.full(1000, 0.99), np.full(1000, 0.01)], 1)
    y = np.r_[np.zeros(600, int), np.ones(400, int)]
    assert expected_calibration_error(over, y) == pytest.approx(0.39, abs=1e-6)


def test_macro_f1_counts_a_class_predicted_but_absent_from_the_truth():
    # class c has no support but one face is predicted c: its F1 is 0 and counts (scikit-learn's macro average
    # over the labels seen); it was left out, 0.833 instead of 0.556
    y = np.array([0, 0, 1, 1])
    p = np.eye(3)[[0, 2, 1, 1]]
    rep = classification_report(y, p, ["a", "b", "c"])
    assert rep["per_class"]["c"]["f1"] == 0.0 and rep["per_class"]["c"]["support"] == 0
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    # a class neither in the truth nor predicted still stays out
    rep = classification_report(y, np.eye(3)[[0, 0, 1, 1]], ["a", "b", "c"])
    assert rep["macro_f1"] == 1.0
