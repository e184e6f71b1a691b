"""Face shape as an auxiliary target, on real faces: mesh → pose-free PCA coefficients → a trained head."""

import csv
import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="the training extra is not installed: pip install -e '.[train]'")

import torch

from affectlens.datasets import load_dataset
from affectlens.train.augment import AugmentConfig, augment
from affectlens.train.shape import mesh_points, pose_free
from tests.conftest import cli


@pytest.fixture(scope="module")
def shape_file(tmp_path_factory, faces):
    out = tmp_path_factory.mktemp("shape") / "shape.npz"
    r = cli("shape-targets", "--out", out, "--dataset", faces, "--components", "8", "--no-progress", check=True)
    assert "train with --shape" in r.stdout
    return out


def test_shape_targets_of_real_faces(shape_file):
    data = np.load(shape_file)
    meta = json.loads(str(data["meta"]))
    assert data["coeffs"].shape == data["mirror"].shape == (240, 8) and data["coeffs"].dtype == np.float16
    assert meta["mesh_found"] > 0.85  # FER+'s 48 px faces: the mesh finds ~94 %
    found = data["coeffs"][data["ok"]].astype(np.float64)
    assert np.all(np.abs(found.mean(0)) < 0.3) and np.all((found.std(0) > 0.7) & (found.std(0) < 1.3))
    # a mirror image is a different face shape, not a copy: some components change sign under the flip
    corr = [np.corrcoef(found[:, j], data["mirror"][data["ok"]][:, j].astype(np.float64))[0, 1] for j in range(8)]
    assert min(corr) < -0.3 and max(corr) > 0.7


def test_pose_free_shapes_ignore_rotation_scale_and_position(ferplus):
    images = load_dataset(f"ferplus:{ferplus}", "test").images[:8]
    pts, presence = mesh_points(images)
    assert presence.min() > 0.0 and pts.shape == (8, 468, 3)
    a = np.radians(20.0)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])  # a yaw
    moved = pts @ turn.T * 2.5 + np.array([30.0, -12.0, 4.0])
    assert np.abs(pose_free(moved) - pose_free(pts)).max() < 1e-4
    assert np.abs(pose_free(pts[::-1]) - pose_free(pts)).max() > 0.01  # different faces differ


def test_a_flip_takes_the_mirror_images_targets():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 48, 48)
    y, y_mirrored = torch.zeros(16, 3), torch.ones(16, 3)
    cfg = AugmentConfig(flip=1.0, erase_p=0.0)
    assert torch.equal(augment(x, y, cfg, gen, y_mirrored)[1], y_mirrored)
    cfg = AugmentConfig(flip=0.0, erase_p=0.0)
    assert torch.equal(augment(x, y, cfg, gen, y_mirrored)[1], y)


def test_train_with_the_shape_head(tmp_path, faces, shape_file):
    common = ("--out", tmp_path / "run", "--dataset", faces, "--shape", shape_file, "--batch-size", "32")
    common += ("--lr", "0.01", "--valid", "none", "--no-progress")
    cli("train", *common, "--epochs", "2", check=True)
    with open(tmp_path / "run" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[1]["train_shape_loss"]) < float(rows[0]["train_shape_loss"])  # the head learns
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["shape_head"]["weight"].shape[0] == 8
    assert not any("shape" in k for k in ck["weights"])  # the exported weights are the classifier's alone
    cli("train", *common, "--epochs", "3", "--resume", check=True)  # the head's weights come back too
    with open(tmp_path / "run" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and float(rows[2]["train_shape_loss"]) < float(rows[0]["train_shape_loss"])


def test_a_shape_file_for_other_faces_is_refused(tmp_path, shape_file, ferplus):
    r = cli(
        "train", "--out", tmp_path / "run", "--dataset", f"ferplus:{ferplus}", "--limit", "64",
        "--shape", shape_file, "--epochs", "1", "--valid", "none", "--no-progress",
    )  # fmt: skip
    assert r.returncode != 0 and "made for other training faces" in r.stderr
