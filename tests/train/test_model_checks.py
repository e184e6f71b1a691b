"""What export, compose, eval and a checkpoint given as --model refuse: NaN weights, members made for other
crops, files that are no checkpoint; and the temporary ONNX a checkpoint is read through is not left behind."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch", reason="the training extra is not installed: pip install -e '.[train]'")

from affectlens.classify.card import ModelCard, card_path
from affectlens.errors import AffectlensError
from tests.conftest import cli
from tests.train.conftest import random_model


def checkpoint(path, nan: bool = False, train: str = "imagefolder:faces"):
    """A checkpoint as `affectlens train` writes it (untrained affect_cnn_slim weights, "trained" on ``train``),
    NaN in its head if asked."""
    import torch

    from affectlens.train.loop import TrainConfig
    from affectlens.train.models import create_model

    cfg = TrainConfig(model="affect_cnn_slim", train=[train], valid=None)
    pre = cfg.preprocess()
    torch.manual_seed(0)
    weights = create_model(cfg.model, in_chans=pre.channels).eval().state_dict()
    if nan:
        last = [k for k in weights if k.endswith("weight")][-1]
        weights[last][0, 0] = float("nan")
    path.parent.mkdir(parents=True, exist_ok=True)
    ck = {"weights": weights, "config": cfg.to_dict(), "preprocess": pre.to_dict(), "history": [], "best": {}}
    torch.save(ck, path)
    return path


def with_nan(src, dst):
    """A copy of the exported model ``src`` (and its card) with one NaN weight."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(src))
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t).copy()
        if a.ndim == 4:  # the first conv's weight
            a.flat[0] = np.nan
            t.CopyFrom(numpy_helper.from_array(a, t.name))
            break
    onnx.save(m, str(dst))
    shutil.copy(card_path(src), card_path(dst))
    return dst


def test_a_checkpoint_with_nan_weights_is_not_exported(tmp_path):
    # NaN > 1e-4 is False: the parity check let NaN weights through and export said "max |Δp| = nan"
    ck = checkpoint(tmp_path / "run" / "best.pt", nan=True)
    r = cli("export", ck, "--out", tmp_path / "nan.onnx")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "not finite" in r.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "nan.onnx").exists() and not (tmp_path / "nan.json").exists()
    good = checkpoint(tmp_path / "ok" / "best.pt")
    cli("export", good, "--out", tmp_path / "ok.onnx", check=True)
    assert json.loads((tmp_path / "ok.json").read_text())["metrics"]["onnx_parity_max_abs_diff"] < 1e-4


def test_eval_refuses_a_model_that_gives_nan(tmp_path):
    # argmax of NaN rows is 0: the model scored the share of class 0, and ECE came out NaN (invalid JSON)
    from affectlens.classify import get_model
    from affectlens.datasets import FaceDataset
    from affectlens.evaluate.runner import evaluate

    bad = with_nan(random_model(tmp_path, 48), tmp_path / "nan.onnx")
    images = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    ds = FaceDataset("faces", "test", images, np.arange(8) % 7, classes=tuple(get_model(bad).labels[:7]))
    with pytest.raises(AffectlensError, match="not finite"):
        evaluate(get_model(bad), ds)
    rep, _ = evaluate(get_model(random_model(tmp_path, 48)), ds)
    json.dumps(rep, allow_nan=False)  # what eval --json prints: strict JSON


def test_compose_refuses_a_member_that_gives_nan(tmp_path):
    from affectlens.train.compose import compose_ensemble

    good = random_model(tmp_path, 48)
    bad = with_nan(good, tmp_path / "nan.onnx")
    with pytest.raises(AffectlensError, match="not finite"):
        compose_ensemble([(str(good), 1.0), (str(bad), 1.0)], tmp_path / "mix.onnx")
    assert not (tmp_path / "mix.onnx").exists() and not (tmp_path / "mix.json").exists()


@pytest.mark.parametrize(("field", "value"), [("crop_scale", 1.5), ("align", False)])
def test_compose_refuses_members_that_cut_faces_differently(tmp_path, field, value):
    # the first member's crop was the ensemble's: the other's crop_scale or align was dropped without a word
    from affectlens.train.compose import compose_ensemble

    first = random_model(tmp_path, 48)
    other = tmp_path / "other.onnx"
    shutil.copy(first, other)
    card = json.loads(card_path(first).read_text())
    card["preprocess"][field] = value
    card_path(other).write_text(json.dumps(card))
    assert ModelCard.load(card_path(other)).preprocess != ModelCard.load(card_path(first)).preprocess
    for members in ([first, other], [other, first]):
        with pytest.raises(AffectlensError, match=f"cut faces differently.*{field}"):
            compose_ensemble([(str(m), 1.0) for m in members], tmp_path / "mix.onnx")
        assert not (tmp_path / "mix.onnx").exists()


def test_a_checkpoint_read_as_a_model_leaves_no_temporary_file(tmp_path):
    # each eval/analyze/benchmark-models/teach of a .pt left a folder with its ONNX (MBs) in /tmp
    ck = checkpoint(tmp_path / "run" / "best.pt")
    code = "import sys; from affectlens.cli.common import resolve_model; print(resolve_model(sys.argv[1]))"
    out = subprocess.run([sys.executable, "-c", code, str(ck)], capture_output=True, text=True, check=True)
    written = out.stdout.strip()
    assert written.endswith(".onnx") and "affectlens-" in written
    assert not os.path.exists(os.path.dirname(written))


class _RunsCode:
    """Pickled, it calls ``os.mkdir(marker)`` when unpickled: what a pickle may do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.mark.parametrize("kind", ["junk", "dict", "code"])
def test_a_file_that_is_no_checkpoint_is_one_line_and_runs_no_code(tmp_path, rafdb, kind):
    import torch

    path, marker = tmp_path / f"{kind}.pt", tmp_path / "pickle-ran"
    if kind == "junk":
        path.write_bytes(b"not a checkpoint\n")
    elif kind == "dict":
        torch.save({"weights": {}}, path)
    else:
        ck = {"weights": {}, "config": {"model": _RunsCode(marker)}, "preprocess": {}}
        torch.save(ck, path)
    r = cli("eval", "--model", path, "--dataset", f"rafdb:{rafdb}", "--split", "valid", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith(f"error: {path}: not a checkpoint written by `affectlens train`")
    assert not marker.exists()


def test_train_refuses_to_validate_on_its_training_images(tmp_path, faces):
    # an ImageFolder without split folders gave the same images for train and valid: best.pt was picked on them
    r = cli("train", "--out", tmp_path / "run", "--dataset", faces, "--valid", faces, "--epochs", "1", "--limit", "16",
            "--batch-size", "8", "--no-progress")  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "the validation set" in r.stderr and "reads the same images as the training set" in r.stderr
    assert not (tmp_path / "run" / "best.pt").exists()


@pytest.mark.parametrize("option", ["--calibrate", "--eval"])
def test_export_refuses_to_calibrate_or_measure_on_the_training_images(tmp_path, faces, option):
    # export --calibrate imagefolder:X wrote a temperature fitted on the training faces into the card
    ck = checkpoint(tmp_path / "run" / "best.pt", train=faces)
    r = cli("export", ck, "--out", tmp_path / "m.onnx", option, faces)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{option} {faces}@" in r.stderr and "reads the same images as the training set" in r.stderr


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (("--epochs", "0"), "--epochs 0: at least 1"),  # (a ZeroDivisionError traceback)
        (("--batch-size", "0"), "--batch-size 0: at least 1"),
        (("--lr", "-1"), "--lr -1.0: a positive learning rate"),
        (("--optimizer", "adam"), "--optimizer adam: choose one of sgd, adamw"),  # (ran AdamW)
        (("--schedule", "step"), "--schedule step: choose one of onecycle, cosine"),  # (ran cosine)
        (("--precision", "fp16"), "--precision fp16: choose one of auto, bf16, fp32"),  # (ran auto)
        (("--limit", "-5"), "--limit -5: at least 0"),  # (trained on all but 5 faces)
        (("--label-smoothing", "2"), "--label-smoothing 2.0: in [0, 1)"),
    ],
)
def test_train_options_out_of_range_or_misspelt_are_one_line_before_any_work(tmp_path, option, said):
    r = cli("train", "--out", tmp_path / "r", "--dataset", f"imagefolder:{tmp_path / 'none'}", "--valid", "none",
            *option)  # fmt: skip
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [f"error: {said}"], r.stderr[-500:]
    assert not (tmp_path / "r").exists()
