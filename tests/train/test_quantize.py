"""Int8 static quantisation: calibration on several datasets, the head left in float, through the CLI."""

import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="the training extra is not installed: pip install -e '.[train]'")
onnx = pytest.importorskip("onnx")

from affectlens.classify import get_model  # noqa: E402
from affectlens.classify.card import card_path  # noqa: E402
from affectlens.datasets import load_dataset  # noqa: E402
from affectlens.train.compose import compose_joint, member_head  # noqa: E402
from tests.conftest import cli  # noqa: E402
from tests.train.conftest import random_model  # noqa: E402


@pytest.fixture(scope="module")
def joint(tmp_path_factory):
    """Two random members under one joint head (their own heads side by side): a graph ending Concat → Gemm."""
    folder = tmp_path_factory.mktemp("joint")
    members = [random_model(folder, 112), random_model(folder, 64)]
    heads = [member_head(onnx.load(str(m)).graph)[1:] for m in members]
    w = np.hstack([w for w, _ in heads])
    return compose_joint([str(m) for m in members], w, sum(b for _, b in heads), folder / "joint.onnx")


def test_quantise_on_two_datasets_keeping_the_head_in_float(tmp_path, joint, ferplus, rafdb):
    out = tmp_path / "joint-int8.onnx"
    r = cli(
        "quantize", str(joint), "--out", str(out), "--faces", "64",
        "--calibrate-on", f"ferplus:{ferplus}@valid", "--calibrate-on", f"rafdb:{rafdb}@valid",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    card = json.loads(card_path(out).read_text())
    cal = card["training"]["calibration"]
    assert cal["data"] == "ferplus_valid + rafdb_valid" and cal["n"] == 64
    assert card["training"]["kept_float"] == ["Gemm:logits", "Concat:joint_features"]
    ops = {n.name: n.op_type for n in onnx.load(str(out)).graph.node}
    assert ops["Gemm:logits"] == "Gemm" and "QuantizeLinear" in ops.values()  # the rest is int8
    inputs = {i for n in onnx.load(str(out)).graph.node if n.name == "Gemm:logits" for i in n.input}
    assert "joint_w" in inputs  # the head's own float weights, not a dequantised copy
    faces = load_dataset(f"rafdb:{rafdb}", "valid").images[:128]
    f, q = get_model(str(joint)), get_model(str(out))
    pf, pq = f.predict_images(faces), q.predict_images(faces)
    assert (pf.argmax(1) == pq.argmax(1)).mean() > 0.9 and np.abs(pf - pq).mean() < 0.02


def test_the_int8_card_does_not_claim_the_float_graphs_calibration(tmp_path):
    # the float card's calibration block (fitted_on, nll_after, ece_after) was copied as the int8 graph's own
    from affectlens.classify.card import ModelCard
    from affectlens.datasets import FaceDataset
    from affectlens.train.quantize import quantize_classifier

    path = random_model(tmp_path, 48)
    card = ModelCard.load(card_path(path))
    card.calibration = {"fitted_on": "ferplus_valid", "n": 3000, "nll_after": 0.5, "ece_after": 0.02}
    card.save(card_path(path))
    faces = np.random.default_rng(0).integers(0, 256, (32, 48, 48), dtype=np.uint8)
    ds = FaceDataset("faces", "train", faces, np.zeros(32, np.int64))
    q = quantize_classifier(get_model(str(path)), ds, tmp_path / "int8.onnx", n=32)
    saved = json.loads(card_path(q.path).read_text())
    assert saved["temperature"] == card.temperature  # the float graph's, until --temperature-on refits it
    assert "fitted_on" not in saved["calibration"] and "ece_after" not in saved["calibration"]
    assert saved["calibration"]["fitted_on_float_graph"]["fitted_on"] == "ferplus_valid"


def test_a_wrong_out_or_an_int8_model_is_refused_before_any_work(tmp_path):
    """quantize on an int8 model exited 0 and wrote a graph ONNX Runtime cannot load; --out the model itself
    replaced the float model; --out a folder wrote folder/int8.onnx with its card beside the folder."""
    path = random_model(tmp_path, 48)
    data = f"imagefolder:{tmp_path / 'none'}"  # never read: the checks come first
    for out, why in ((path, "is the model being quantised"), (tmp_path, "give the .onnx file"),
                     (tmp_path / "q", "give the .onnx file")):  # fmt: skip
        r = cli("quantize", path, "--out", out, "--calibrate-on", data)
        assert r.returncode == 1 and why in r.stderr, r.stderr[-500:]
    r = cli("quantize", "affect-cnn-x2-v1-int8", "--out", tmp_path / "z.onnx", "--calibrate-on", data)
    assert r.returncode == 1 and "already quantised" in r.stderr, r.stderr[-500:]
    assert path.is_file() and not (tmp_path / "z.onnx").exists()
