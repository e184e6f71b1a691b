"""The distillation path on CPU, tiny and real: teachers → committed soft targets → student."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the training extra is not installed: pip install -e '.[train]'")

from affectlens.labels import EMOTIONS
from tests.conftest import cli


def _train(out, faces, seed: int, *extra: str):
    common = ("--epochs", "1", "--batch-size", "32", "--valid", "none", "--no-progress")
    return cli("train", "--out", out, "--dataset", faces, "--seed", str(seed), *common, *extra, check=True)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, faces):
    """One teacher (seed 0, 1 epoch) and its soft targets at the default size, trained once for the module (each
    training is a subprocess of several seconds); a test that alters the targets copies them first."""
    root = tmp_path_factory.mktemp("teacher")
    _train(root / "t", faces, 0)
    targets = root / "teachers.npz"
    cli("teach", "--out", targets, "--teacher", root / "t" / "last.pt", "--dataset", faces, check=True)
    return root / "t" / "last.pt", targets


def test_teach_then_distill(tmp_path, faces, teacher):
    _train(tmp_path / "t1", faces, 1)
    targets = tmp_path / "teachers.npz"
    teachers = ["--teacher", str(teacher[0]), "--teacher", str(tmp_path / "t1" / "last.pt")]
    r = cli("teach", "--out", targets, *teachers, "--dataset", faces, check=True)
    assert "ensemble train accuracy" in r.stdout

    data = np.load(targets)
    meta = json.loads(str(data["meta"]))
    assert data["probs"].dtype == np.float16 and data["probs"].shape == (240, len(EMOTIONS))
    assert np.allclose(data["probs"].astype(np.float32).sum(1), 1, atol=1e-2)
    assert meta["n"] == 240 and len(meta["teachers"]) == 2 and meta["faces_sha256"]

    _train(tmp_path / "student", faces, 2, "--distill", str(targets))
    run = json.loads((tmp_path / "student" / "run.json").read_text())
    assert run["config"]["distill"] == str(targets)


def test_a_teacher_file_for_other_faces_is_refused(tmp_path, faces, teacher):
    targets = Path(shutil.copy(teacher[1], tmp_path / "teachers.npz"))
    data = dict(np.load(targets))
    meta = json.loads(str(data["meta"]))
    np.savez(targets, probs=data["probs"], meta=np.array(json.dumps(meta | {"faces_sha256": "0" * 16})))
    r = cli(
        "train", "--out", tmp_path / "s", "--dataset", faces, "--epochs", "1", "--valid", "none", "--distill", targets
    )
    assert r.returncode == 1 and "other training faces" in r.stderr


def test_teach_takes_the_students_input_size(tmp_path, faces, teacher):
    """Targets made for 48 px crops do not fit a 40 px student; `teach --input-size 40` does."""
    common = ("--teacher", teacher[0], "--dataset", faces)
    student = ("--dataset", faces, "--epochs", "1", "--batch-size", "32", "--valid", "none", "--input-size", "40")
    r = cli("train", "--out", tmp_path / "s1", *student, "--distill", teacher[1])
    assert r.returncode == 1 and "other training faces" in r.stderr
    sized = tmp_path / "sized.npz"
    cli("teach", "--out", sized, *common, "--input-size", "40", check=True)
    cli("train", "--out", tmp_path / "s2", *student, "--no-progress", "--distill", sized, check=True)


def test_a_negative_input_size_is_one_clear_error(tmp_path, faces):
    for verb in (("teach", "--teacher", tmp_path / "none.pt"), ("train",)):
        r = cli(*verb, "--out", tmp_path / "x", "--dataset", faces, "--input-size", "-3")
        assert r.returncode == 1 and r.stderr.strip().splitlines() == [
            "error: --input-size -3: a crop size in pixels, or 0 for the architecture's"
        ], r.stderr[-500:]


def test_hard_labels_keep_the_teachers_share(faces, teacher):
    """--hard-labels replaced the blended targets by one-hot labels after the teachers were blended in: a
    distillation run with it was a plain hard-label run."""
    from affectlens.faces.preprocess import Preprocess
    from affectlens.train.loop import TrainConfig, _load_data

    targets = teacher[1]
    cfg = TrainConfig(train=[faces], valid=None, soft_labels=False, distill=str(targets), distill_weight=0.7)
    data = _load_data(cfg, Preprocess(size=48, color="gray"))
    t = data.targets[:, : len(EMOTIONS)].numpy()
    teacher = np.load(targets)["probs"].astype(np.float32)
    onehot = np.eye(len(EMOTIONS), dtype=np.float32)[data.labels]
    np.testing.assert_allclose(t, 0.7 * teacher + 0.3 * onehot, atol=1e-3)


def test_class_priors_count_only_the_rows_that_can_be_the_class():
    """RAF-DB's 7-class rows are never contempt: counting them made contempt look rarer than it is."""
    from affectlens.train.loop import _class_counts, _log_prior

    labels = np.array([0] * 60 + [7] * 10 + [0] * 30)  # 70 FER+ rows (10 contempt), 30 RAF-DB rows
    masks = np.ones((100, len(EMOTIONS)), bool)
    masks[70:, EMOTIONS.index("contempt")] = False
    counts = _class_counts(labels, masks)
    assert counts[0] == 90 and counts[7] == 10 * 100 / 70  # contempt's share among the rows that can be it
    assert np.allclose(_log_prior(labels).numpy(), _log_prior(labels, np.ones_like(masks)).numpy())
