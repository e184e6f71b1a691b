"""Weighted ensembles composed at the ONNX level, members of different input sizes, on real FER+ faces."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training extra is not installed: pip install -e '.[train]'")
onnx = pytest.importorskip("onnx")

from affectlens.classify import get_model  # noqa: E402
from affectlens.classify.card import card_path  # noqa: E402
from affectlens.classify.onnx import softmax  # noqa: E402
from affectlens.datasets import load_dataset  # noqa: E402
from affectlens.errors import AffectlensError  # noqa: E402
from affectlens.labels import EMOTIONS  # noqa: E402
from affectlens.train.compose import compose_ensemble, compose_joint, member_head, parse_member  # noqa: E402
from tests.conftest import cli  # noqa: E402
from tests.train.conftest import random_model  # noqa: E402

FLOAT = "affect-cnn-x2-v1"


@pytest.fixture(scope="module")
def faces(ferplus):
    return load_dataset(f"ferplus:{ferplus}", "valid").images[:96]


@pytest.fixture(scope="module")
def large_faces(rafdb):
    """RAF-DB's 100 px faces: their 96 px crops pooled 2x2 are their 48 px crops (resized by area)."""
    return load_dataset(f"rafdb:{rafdb}", "valid").images[:96]


@pytest.fixture(scope="module")
def model96(tmp_path_factory):
    return random_model(tmp_path_factory.mktemp("m96"), 96)


def probs(model, images):
    clf = get_model(str(model))
    return clf.predict(clf.preprocess.crop_images(images))


def test_an_ensemble_of_one_model_twice_is_that_model(tmp_path, faces):
    out = compose_ensemble([(FLOAT, 1.0), (FLOAT, 3.0)], tmp_path / "twice.onnx")
    np.testing.assert_allclose(probs(out, faces), probs(FLOAT, faces), atol=1e-5)


def test_members_of_different_sizes_read_their_own_crops(tmp_path, faces, large_faces, model96):
    # a 96 px host pools the 48 px member's crop from its own: exact for faces larger than 96 px
    out = compose_ensemble([(str(model96), 0.6), (FLOAT, 0.4)], tmp_path / "host96.onnx")
    card = json.loads(card_path(out).read_text())
    assert card["preprocess"]["size"] == 96 and "0.60 x m96" in card["architecture"]
    want = 0.6 * probs(model96, large_faces) + 0.4 * probs(FLOAT, large_faces)  # each member on its own crops
    got = probs(out, large_faces)
    assert np.abs(got - want).max() < 0.03 and (got.argmax(1) == want.argmax(1)).mean() > 0.97
    # a 48 px host enlarges the 96 px member's crop bilinearly, as the crop maker enlarges FER+'s 48 px faces
    out = compose_ensemble([(FLOAT, 0.4), (str(model96), 0.6)], tmp_path / "host48.onnx")
    want = 0.6 * probs(model96, faces) + 0.4 * probs(FLOAT, faces)
    got = probs(out, faces)
    assert np.abs(got - want).max() < 0.03 and (got.argmax(1) == want.argmax(1)).mean() > 0.97


def test_sizes_that_do_not_divide_resample_as_opencv_does(tmp_path, large_faces):
    # the shipped default's case: a 112 px backbone host, a 48 px member (ratio 2.33): OpenCV's area
    # resampling as a matrix on each axis, checked against cv2.resize by the composer's parity
    model112 = random_model(tmp_path, 112)
    out = compose_ensemble([(str(model112), 0.6), (FLOAT, 0.4)], tmp_path / "host112.onnx")
    card = json.loads(card_path(out).read_text())
    assert card["preprocess"]["size"] == 112 and card["metrics"]["onnx_parity_max_abs_diff"] < 1e-5
    want = 0.6 * probs(model112, large_faces) + 0.4 * probs(FLOAT, large_faces)  # each member on its own crops
    got = probs(out, large_faces)  # (RAF-DB's 100 px faces: enlarged to 112, then shrunk: a little softer)
    assert np.abs(got - want).mean() < 0.005 and (got.argmax(1) == want.argmax(1)).mean() > 0.9  # 0.0016, 0.95


def test_an_rgb_host_gives_gray_members_gray_crops(tmp_path, large_faces):
    # an RGB backbone beside the gray 48 px members: the graph turns the host's colour crops gray
    rgb112 = random_model(tmp_path, 112, "rgb")
    out = compose_ensemble([(str(rgb112), 0.6), (FLOAT, 0.4)], tmp_path / "rgb.onnx")
    card = json.loads(card_path(out).read_text())
    assert card["preprocess"]["color"] == "rgb" and card["metrics"]["onnx_parity_max_abs_diff"] < 1e-5
    want = 0.6 * probs(rgb112, large_faces) + 0.4 * probs(FLOAT, large_faces)  # each member on its own crops
    got = probs(out, large_faces)
    assert np.abs(got - want).mean() < 0.005 and (got.argmax(1) == want.argmax(1)).mean() > 0.9
    with pytest.raises(AffectlensError, match="put it first"):  # a gray host has no colour to give
        compose_ensemble([(FLOAT, 0.4), (str(rgb112), 0.6)], tmp_path / "gray-host.onnx")


def test_the_cli_composes_calibrates_and_measures(tmp_path, ferplus, model96):
    out = tmp_path / "cli.onnx"
    r = cli("compose", f"{model96}=1", f"{FLOAT}=3", "--out", str(out), "--calibrate", f"ferplus:{ferplus}@valid")
    assert r.returncode == 0, r.stderr
    card = json.loads(card_path(out).read_text())
    assert card["calibration"]["fitted_on"] == "ferplus_valid" and "affectlens compose" in card["training"]["command"]
    assert [m["weight"] for m in card["training"]["members"]] == [0.25, 0.75]


def test_bad_members_are_clear_errors(tmp_path, model96):
    assert parse_member("a.onnx=0.3") == ("a.onnx", 0.3) and parse_member(FLOAT) == (FLOAT, 1.0)
    for bad in ("a.onnx=x", "a.onnx=0"):
        with pytest.raises(AffectlensError):
            parse_member(bad)
    with pytest.raises(AffectlensError, match="at least two"):
        compose_ensemble([(FLOAT, 1.0)], tmp_path / "one.onnx")
    r = cli("compose", FLOAT, "no-such-model", "--out", str(tmp_path / "x.onnx"))
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_a_joint_head_reads_the_members_pooled_features(tmp_path, large_faces, model96):
    # one linear layer over both members' features: given one member's own head and zeros for the other,
    # the graph is that member (the host exactly; a resized member as on its own crops)
    model112 = random_model(tmp_path, 112)
    heads = [member_head(onnx.load(str(m)).graph)[1:] for m in (model112, model96)]
    (w1, b1), (w2, b2) = heads
    assert w1.shape == w2.shape == (len(EMOTIONS), 8)
    out = compose_joint([str(model112), str(model96)], np.hstack([w1, 0 * w2]), b1, tmp_path / "j1.onnx")
    card = json.loads(card_path(out).read_text())
    assert card["preprocess"]["size"] == 112 and card["metrics"]["onnx_parity_max_abs_diff"] < 1e-4
    assert card["architecture"].startswith("one linear head over") and "8-d" in card["architecture"]
    np.testing.assert_allclose(logits(out, large_faces), logits(model112, large_faces), atol=1e-4)
    out = compose_joint([str(model112), str(model96)], np.hstack([0 * w1, w2]), b2, tmp_path / "j2.onnx")
    got, want = softmax(logits(out, large_faces)), softmax(logits(model96, large_faces))
    assert np.abs(got - want).mean() < 0.01 and (got.argmax(1) == want.argmax(1)).mean() > 0.9


def test_a_joint_head_of_the_wrong_shape_or_members_without_a_head_are_errors(tmp_path, model96):
    w, b = member_head(onnx.load(str(model96)).graph)[1:]
    with pytest.raises(AffectlensError, match="must be"):
        compose_joint([str(model96), str(model96)], w, b, tmp_path / "bad.onnx")
    with pytest.raises(AffectlensError, match="not a Gemm head"):  # an ensemble ends in its mixture's Log
        compose_joint([str(model96), FLOAT], np.zeros((len(EMOTIONS), 16)), b, tmp_path / "bad.onnx")


def logits(model, images):
    clf = get_model(str(model))
    return clf.logits(clf.preprocess.crop_images(images), bias=False)
