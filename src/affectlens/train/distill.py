"""Knowledge distillation targets: an ensemble of teachers' soft predictions on the training set.

``teach`` runs every teacher (a training checkpoint ``.pt`` or an exported ``.onnx`` with its card)
on the exact training faces that ``affectlens train --dataset …`` prepares (same datasets, same
order, the student's crop), averages their probabilities, with each face and its mirror image,
and saves them as a small compressed array file (float16, ~8 bytes per face) that is committed
and passed to ``affectlens train --distill FILE``. The file records which datasets, how many faces
and which teachers made it, and training refuses a file that does not match its training set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from affectlens.datasets import load_dataset
from affectlens.errors import AffectlensError
from affectlens.faces.preprocess import Preprocess
from affectlens.train.teachers import fingerprint


def training_faces(specs: list[str], split: str, pre: Preprocess) -> np.ndarray:
    """The uint8 training crops of ``specs`` in the order :func:`affectlens.train.loop.train` uses."""
    return np.concatenate([pre.crop_images(load_dataset(s, split).images) for s in specs])


CHUNK = 2048  # faces per progress step


def teacher_probs(teacher: str | Path, faces: list[np.ndarray], flip: bool = True, bar=None) -> np.ndarray:
    """Probabilities over the 8 classes of one teacher on the raw training images (its own crop); ``bar`` (a
    tqdm) advances by each face read (twice with ``flip``)."""
    import tempfile

    from affectlens.classify import get_model
    from affectlens.train.export import export_temporary

    if Path(teacher).suffix in (".pt", ".pth"):  # exported for the while it is read, then removed
        with tempfile.TemporaryDirectory(prefix="affectlens-") as tmp:
            clf = get_model(export_temporary(teacher, tmp)).prepare()
    else:
        clf = get_model(teacher)
    crops = clf.preprocess.crop_images(faces)

    def predict(x: np.ndarray) -> np.ndarray:
        parts = []
        for i in range(0, len(x), CHUNK):
            parts.append(clf.predict(np.ascontiguousarray(x[i : i + CHUNK])))
            if bar is not None:
                bar.update(len(parts[-1]))
        return np.concatenate(parts) if parts else np.zeros((0, len(clf.labels)), np.float32)

    p = predict(crops)
    if flip:
        p = 0.5 * (p + predict(crops[:, :, ::-1]))
    return p


def teach(
    teachers: list[str | Path],
    specs: list[str],
    out: str | Path,
    split: str = "train",
    student: Preprocess | None = None,
    flip: bool = True,
    progress: bool = False,
) -> dict:
    """Write the ensemble's mean probabilities on the training set to ``out`` (.npz); returns its metadata.
    ``progress``: a bar over every teacher's faces (minutes for FER+ and RAF-DB with several teachers)."""
    from tqdm import tqdm

    if not teachers:
        raise AffectlensError("teach needs at least one --teacher")
    sets = [load_dataset(s, split) for s in specs]
    images = [im for ds in sets for im in ds.images]
    per_teacher = []
    total = len(images) * len(teachers) * (2 if flip else 1)
    with tqdm(total=total, desc="teachers", unit="face", disable=not progress) as bar:
        for t in teachers:
            bar.set_postfix_str(Path(t).name)
            per_teacher.append(teacher_probs(t, images, flip=flip, bar=bar))
    probs = np.mean(per_teacher, axis=0).astype(np.float32)
    probs /= probs.sum(1, keepdims=True)
    labels = np.concatenate([ds.global_labels() for ds in sets])
    meta = {
        "datasets": list(specs),
        "split": split,
        "n": len(probs),
        "teachers": [str(t) for t in teachers],
        "flip": flip,
        "train_accuracy_of_ensemble": float((probs.argmax(1) == labels).mean()),
        "train_accuracy_per_teacher": [float((p.argmax(1) == labels).mean()) for p in per_teacher],
    }
    if student is not None:
        meta["faces_sha256"] = fingerprint(training_faces(specs, split, student))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, probs=probs.astype(np.float16), meta=np.array(json.dumps(meta)))
    return meta
