"""Temperature scaling recovers a known temperature and lowers calibration error."""

import numpy as np

from affectlens.classify.onnx import softmax
from affectlens.evaluate.calibration import calibration_summary, fit_temperature


def test_recovers_the_temperature_that_generated_the_labels():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (20000, 8))
    true_t = 2.5  # labels drawn from softmax(z / 2.5): the raw logits are over-confident
    p = softmax(z, true_t)
    y = np.array([rng.choice(8, p=row) for row in p])
    t = fit_temperature(z, y)
    assert abs(t - true_t) < 0.15
    s = calibration_summary(z, y, t)
    assert s["ece_after"] < s["ece_before"] and s["nll_after"] < s["nll_before"]


def test_class_offsets_recover_a_rare_class_the_logits_under_predict():
    from affectlens.evaluate.calibration import fit_class_bias

    rng = np.random.default_rng(0)
    y = rng.choice(3, size=6000, p=[0.6, 0.35, 0.05])
    z = np.eye(3)[y] * 2.0 + rng.normal(0, 0.8, (6000, 3))
    z[:, 2] -= 1.5  # the model under-predicts its rare class 2
    b = fit_class_bias([(z, y, [0, 1, 2])], 3, classes=[2])
    assert b[0] == b[1] == 0 and 0.7 <= b[2] <= 1.0  # only the rare class moves, most of the way back
    recall = lambda bias: ((z + bias).argmax(1)[y == 2] == 2).mean()  # noqa: E731
    assert recall(b) > recall(np.zeros(3)) + 0.2
