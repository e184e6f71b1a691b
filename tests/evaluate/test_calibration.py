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
