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
