"""A tiny CPU train → export → eval round trip on real FER+ faces, through the real CLI."""

import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="the training extra is not installed: pip install -e '.[train]'")

from tests.conftest import cli


def tiny_train(out, ferplus, epochs: int, *extra: str):
    """Train affect_cnn for a few epochs on 512 real FER+ faces."""
    return cli(
        "train",
        "--out",
        out,
        "--model",
        "affect_cnn",
        "--dataset",
        f"ferplus:{ferplus}",
        "--valid",
        f"ferplus:{ferplus}",
        "--epochs",
        str(epochs),
        "--limit",
        "512",
        "--batch-size",
        "64",
        "--lr",
        "0.05",
        *extra,
        check=True,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, ferplus):
    out = tmp_path_factory.mktemp("run")
    tiny_train(out, ferplus, 2)
    return out


def test_train_writes_checkpoints_and_curves(run_dir):
    assert (run_dir / "last.pt").is_file() and (run_dir / "best.pt").is_file()
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,train_accuracy,lr,valid_loss,valid_accuracy,valid_macro_f1")
    assert len(rows) == 3
    run = json.loads((run_dir / "run.json").read_text())
    assert run["n_train"] == 512 and run["config"]["model"] == "affect_cnn"


def test_resume_continues_from_last_epoch(run_dir, ferplus):
    tiny_train(run_dir, ferplus, 3, "--resume")
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


def test_resuming_with_another_model_or_optimiser_is_one_line(run_dir, ferplus, tmp_path):
    """--resume with another --model was a state_dict RuntimeError of hundreds of lines, another --optimizer a
    KeyError: 'step'; the run's folder is left as it was."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = (copy / "metrics.csv").read_bytes()
    for option, said in ((("--model", "resnet_se"), "--model 'affect_cnn' (now 'resnet_se')"),
                         (("--optimizer", "adamw"), "--optimizer 'sgd' (now 'adamw')")):  # fmt: skip
        r = cli("train", "--out", copy, "--dataset", f"ferplus:{ferplus}", "--valid", f"ferplus:{ferplus}",
                "--epochs", "3", "--limit", "512", "--resume", *option)  # fmt: skip
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1 and said in lines[0], r.stderr[-800:]
    assert (copy / "metrics.csv").read_bytes() == before
    # the same crop said another way (affect_cnn's own 48 px gray) is the same run: it resumes
    cli("train", "--out", copy, "--dataset", f"ferplus:{ferplus}", "--valid", f"ferplus:{ferplus}", "--epochs", "3",
        "--limit", "512", "--batch-size", "64", "--lr", "0.05", "--resume", "--input-size", "48", "--color", "gray",
        check=True)  # fmt: skip


def test_export_parity_and_eval(run_dir, ferplus, tmp_path):
    onnx = tmp_path / "tiny.onnx"
    proc = cli("export", run_dir / "best.pt", "--out", onnx, "--eval", f"ferplus:{ferplus}@valid", check=True)
    assert "max |Δp|" in proc.stdout
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["metrics"]["onnx_parity_max_abs_diff"] < 1e-4
    assert card["preprocess"]["size"] == 48 and card["preprocess"]["color"] == "gray"
    assert card["training"]["history"] and "affectlens train" in card["training"]["command"]
    assert card["metrics"]["ferplus_valid"]["n"] > 3000

    out = tmp_path / "eval"
    proc = cli(
        "eval",
        "--model",
        onnx,
        "--dataset",
        f"ferplus:{ferplus}",
        "--split",
        "valid",
        "--json",
        "--out",
        out,
        check=True,
    )
    rep = json.loads(proc.stdout)
    assert rep["accuracy"] == pytest.approx(card["metrics"]["ferplus_valid"]["accuracy"])
    for f in ("confusion_matrix.png", "misclassified.png", "learning_curves.png", "metrics.json"):
        assert (out / f).stat().st_size > 1000, f


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (("--tta", "flop"), "--tta flop: none | flip"),  # (a ValueError traceback)
        (("--crop-scale", "-1"), "--crop-scale -1.0: the crop's size over the detector box, in [0.5, 3]"),  # (written)
        (("--out", "noext"), "--out {tmp}/noext: give the .onnx file to write"),  # (written, then not found)
    ],
)
def test_export_options_out_of_range_are_one_line_and_write_nothing(run_dir, tmp_path, option, said):
    args = ["export", run_dir / "best.pt", "--out", tmp_path / "m.onnx", *option]
    if option[0] == "--out":
        args = ["export", run_dir / "best.pt", "--out", tmp_path / option[1]]
    r = cli(*args)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[0].startswith("error: " + said.format(tmp=tmp_path))
    assert not list(tmp_path.iterdir())


def test_eval_accepts_a_checkpoint(run_dir, ferplus):
    proc = cli(
        "eval",
        "--model",
        run_dir / "best.pt",
        "--dataset",
        f"ferplus:{ferplus}",
        "--split",
        "valid",
        "--json",
        check=True,
    )
    assert json.loads(proc.stdout)["n"] > 3000


def test_onnx_matches_pytorch_on_real_faces(run_dir, ferplus):
    import torch

    from affectlens.classify import get_model
    from affectlens.datasets import load_dataset
    from affectlens.errors import AffectlensError
    from affectlens.train.export import export_temporary
    from affectlens.train.loop import load_checkpoint, predict

    model, _, pre, _ = load_checkpoint(run_dir / "best.pt")
    crops = load_dataset(f"ferplus:{ferplus}", "valid").images[:256]
    ref = predict(model, crops, pre, bf16=False)
    got = get_model(export_temporary(run_dir / "best.pt")).predict(crops)
    # inference never imports the training code: a checkpoint must be exported first
    with pytest.raises(AffectlensError, match="export it first"):
        get_model(run_dir / "best.pt")
    assert np.abs(ref - got).max() < 1e-4
    assert torch.get_num_threads() >= 1


def test_unknown_architecture(tmp_path, ferplus):
    proc = cli(
        "train",
        "--out",
        tmp_path,
        "--model",
        "resnet9000",
        "--dataset",
        f"ferplus:{ferplus}",
        "--limit",
        "64",
        "--epochs",
        "1",
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: unknown model 'resnet9000'")


def test_two_datasets_share_labels_and_preprocessing(ferplus, rafdb):
    from affectlens.datasets import load_dataset
    from affectlens.labels import EMOTIONS
    from affectlens.train.loop import TrainConfig, prepare

    pre = TrainConfig(model="affect_cnn").preprocess()
    fer = load_dataset(f"ferplus:{ferplus}", "valid")
    raf = load_dataset(f"rafdb:{rafdb}", "valid")
    x, t, y, m = prepare([fer, raf], pre)
    assert x.shape == (len(fer) + len(raf), 48, 48) and x.dtype == np.uint8
    assert t.shape == (len(x), len(EMOTIONS))
    # RAF-DB's labels land on the same class indices as FER+'s ("happiness" is 1 in both)
    raf_names = [raf.classes[i] for i in raf.labels]
    assert [EMOTIONS[i] for i in y[len(fer) :]] == raf_names
    assert (t[len(fer) :].argmax(1) == y[len(fer) :]).all()
    # FER+ rows are trained over all 8 classes, RAF-DB rows over their own 7 (nothing about contempt)
    assert m[: len(fer)].all()
    assert not m[len(fer) :, EMOTIONS.index("contempt")].any() and m[len(fer) :].sum(1).tolist() == [7] * len(raf)


def test_timm_architectures_need_their_extra():
    from affectlens.errors import AffectlensError
    from affectlens.train.models import create_model

    try:
        import timm  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(AffectlensError, match="affectlens\\[timm\\]|training extra"):
            create_model("mobilenetv3")
    else:
        import torch

        assert create_model("mobilenetv3").eval()(torch.zeros(1, 3, 96, 96)).shape == (1, 8)


def test_color_overrides_the_architectures_colour_mode(tmp_path, ferplus, rafdb):
    # a gray architecture trained on RGB crops (FER+'s gray faces as three equal channels, RAF-DB in
    # colour): three input channels from training through the exported graph and its card; with the cosine
    # schedule and AdamW of the shipped recipe
    import torch

    from affectlens.train.loop import TrainConfig, load_checkpoint

    with pytest.raises(Exception, match="gray or rgb"):
        TrainConfig(model="affect_cnn", color="hsv").preprocess()
    out = tmp_path / "rgb"
    cli("train", "--out", out, "--model", "affect_cnn", "--color", "rgb", "--dataset", f"ferplus:{ferplus}",
        "--dataset", f"rafdb:{rafdb}", "--valid", f"rafdb:{rafdb}", "--epochs", "1", "--limit", "256",
        "--batch-size", "64", "--schedule", "cosine", "--optimizer", "adamw", "--lr", "1e-3", check=True)  # fmt: skip
    # (the cosine schedule, every shipped model's, put NumPy floats in the optimizer's state: once checkpoints were
    # read with weights_only, export refused every such run; the checkpoint holds plain data only)
    torch.load(out / "best.pt", weights_only=True)
    model, cfg, pre, _ = load_checkpoint(out / "best.pt")
    assert cfg.color == "rgb" and pre.color == "rgb" and model.features[0].in_channels == 3
    onnx = tmp_path / "rgb.onnx"
    cli("export", out / "best.pt", "--out", onnx, check=True)
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["preprocess"]["color"] == "rgb" and card["metrics"]["onnx_parity_max_abs_diff"] < 1e-4


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, media, monkeypatch):
    """The batch order and augmentations of the epochs after a crash are those the run would have drawn."""
    import shutil

    import torch

    import affectlens.train.loop as loop

    data = tmp_path / "faces"
    for name in ("happy", "sad", "angry", "surprised"):
        (data / name).mkdir(parents=True)
        for k in range(3):
            shutil.copy(media / "expressions" / f"{name}.jpg", data / name / f"{k}.jpg")
    cfg = loop.TrainConfig(model="affect_cnn_slim", train=[f"imagefolder:{data}"], valid=None, epochs=3,
                           batch_size=4, lr=0.01, precision="fp32", seed=0, ema=0.0)  # fmt: skip
    monkeypatch.setenv("AFFECTLENS_CACHE", str(tmp_path / "cache"))
    loop.train(cfg, tmp_path / "whole", progress=False)
    first = loop._Trainer.checkpoint

    def crash_after_epoch_1(self, epoch, row):
        first(self, epoch, row)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop._Trainer, "checkpoint", crash_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        loop.train(cfg, tmp_path / "resumed", progress=False)
    monkeypatch.setattr(loop._Trainer, "checkpoint", first)
    loop.train(cfg, tmp_path / "resumed", resume=True, progress=False)
    a, b = (torch.load(tmp_path / d / "last.pt", weights_only=False)["model"] for d in ("whole", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
