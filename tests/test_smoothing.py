"""EmaSmoother on constructed faces with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.smoothing import EmaSmoother
from affectlens.types import Faces


def _faces(ids, probs) -> Faces:
    n = len(ids)
    return Faces(np.zeros((n, 4)), np.ones(n), track_ids=np.asarray(ids), probs=np.asarray(probs, np.float32))


def test_ema_per_id_and_never_mixing_ids():
    sm = EmaSmoother(alpha=0.5)
    sm.update(_faces([1, 2], [[1.0, 0.0], [0.0, 1.0]]), 0, 0.0)
    f = sm.update(_faces([1, 2], [[0.0, 1.0], [0.0, 1.0]]), 1, 0.1)
    np.testing.assert_allclose(f.smoothed, [[0.5, 0.5], [0.0, 1.0]])
    f = sm.update(_faces([2, 1], [[1.0, 0.0], [0.0, 1.0]]), 2, 0.2)  # order changes, ids do not
    np.testing.assert_allclose(f.smoothed, [[0.5, 0.5], [0.25, 0.75]])


def test_a_long_gap_starts_afresh_and_unconfirmed_faces_pass_through():
    sm = EmaSmoother(alpha=0.5, reset_after_s=2.0)
    sm.update(_faces([1], [[1.0, 0.0]]), 0, 0.0)
    f = sm.update(_faces([1, -1], [[0.0, 1.0], [0.3, 0.7]]), 100, 5.0)
    np.testing.assert_allclose(f.smoothed, [[0.0, 1.0], [0.3, 0.7]])


def test_alpha_one_is_no_smoothing_and_bad_alpha_is_refused():
    sm = EmaSmoother(alpha=1.0)
    sm.update(_faces([1], [[1.0, 0.0]]), 0, 0.0)
    assert sm.update(_faces([1], [[0.0, 1.0]]), 1, 0.1).smoothed.tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError):
        EmaSmoother(alpha=0.0)
