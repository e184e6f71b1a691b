"""The classifier's own entry points take face images in the formats users have, or refuse them clearly."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.classify import get_model
from affectlens.errors import AffectlensError
from affectlens.sources import load_image


@pytest.fixture(scope="module")
def clf():
    return get_model().prepare(device="cpu", threads=2)


def test_face_images_in_any_common_format_read_alike(clf, media):
    """Floats in 0-1 read 'neutral' (0.07 happiness) where the uint8 image reads 0.999; one image given alone was
    taken for as many images as it has rows."""
    face = load_image(media / "expressions" / "happy.jpg")
    h = clf.labels.index("happiness")
    want = clf.predict_images([face])[0, h]
    assert want > 0.9
    for variant in (face / 255.0, (face / 255.0).astype(np.float32), face.mean(2).astype(np.uint8), face):
        got = clf.predict_images(variant if variant is face else [variant])
        assert got.shape == (1, len(clf.labels)) and abs(got[0, h] - want) < 0.05


def test_crops_that_are_not_the_cards_are_one_clear_error(clf):
    size = clf.preprocess.size
    shapes = [((2, size, size), np.float32), ((2, size, size, 3), np.uint8), ((2, 48, 48), np.uint8)]
    for bad in (np.zeros(shape, dtype) for shape, dtype in shapes):
        with pytest.raises(AffectlensError, match="crop_images"):
            clf.predict(bad)
