"""Side-by-side model comparison: accuracy, macro-F1, per-class recall, speed and size.

Our models (shipped names, ``.onnx`` files, ``.pt`` checkpoints) run in-process on ONNX Runtime.
Peers run in their own environments (``benchmarks/peers/``) through a file protocol: we write
the faces to an ``.npz``, the peer's Python writes probabilities and timings back.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.classify import get_model
from affectlens.datasets import FaceDataset
from affectlens.errors import AffectlensError
from affectlens.evaluate.metrics import classification_report

PEERS_DIR = Path(__file__).resolve().parents[3] / "benchmarks" / "peers"


@dataclass
class BenchRow:
    model: str
    dataset: str
    n: int
    accuracy: float
    macro_f1: float
    recall: dict[str, float]
    faces_per_s: float
    batch1_ms: float
    size_mb: float
    runtime: str
    notes: list[str] = field(default_factory=list)


def _score(probs: np.ndarray, labels: list[str], ds: FaceDataset) -> dict:
    """Metrics over the dataset's classes; dataset classes the model lacks count as errors."""
    cols = np.zeros((len(probs), len(ds.classes)), np.float32)
    for j, c in enumerate(ds.classes):
        if c in labels:
            cols[:, j] = probs[:, labels.index(c)]
    # a model without some class never predicts it: mark such rows' argmax as impossible
    cols[cols.sum(1) == 0] = 1.0 / len(ds.classes)
    return classification_report(ds.labels, cols / cols.sum(1, keepdims=True), ds.classes)


def bench_ours(name: str, ds: FaceDataset, threads: int, latency_runs: int = 200) -> BenchRow:
    clf = get_model(name).prepare(device="cpu", threads=threads)
    crops = clf.preprocess.crop_images(ds.images)
    clf.predict(crops[:256])  # warm-up
    t = time.perf_counter()
    probs = clf.predict(crops, batch_size=256)
    dt = time.perf_counter() - t
    one = crops[:1]
    for _ in range(10):
        clf.predict(one)
    times = []
    for i in range(latency_runs):
        t0 = time.perf_counter()
        clf.predict(crops[i % len(crops) : i % len(crops) + 1])
        times.append(time.perf_counter() - t0)
    labels = list(clf.labels)
    rep = _score(probs, labels, ds)
    notes = [] if set(ds.classes) <= set(labels) else [f"lacks {sorted(set(ds.classes) - set(labels))}"]
    return BenchRow(
        model=clf.card.name,
        dataset=f"{ds.name}:{ds.split}",
        n=rep["n"],
        accuracy=rep["accuracy"],
        macro_f1=rep["macro_f1"],
        recall={c: m["recall"] for c, m in rep["per_class"].items()},
        faces_per_s=len(crops) / dt,
        batch1_ms=float(np.median(times) * 1000),
        size_mb=clf.path.stat().st_size / 1e6,
        runtime="onnxruntime " + __import__("onnxruntime").__version__,
        notes=notes,
    )


def bench_peer(peer: str, python: str, ds: FaceDataset, threads: int) -> BenchRow:
    """Run ``benchmarks/peers/<peer>_predict.py`` with the peer's own Python on ``ds``."""
    script = PEERS_DIR / f"{peer}_predict.py"
    if not script.is_file():
        raise AffectlensError(f"no peer runner {script}; see benchmarks/peers/README.md")
    if not Path(python).is_file():
        raise AffectlensError(f"peer {peer}: python {python} not found; run benchmarks/peers/setup.sh {peer}")
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, images=ds.images)
        proc = subprocess.run(
            [python, str(script), str(inp), str(out), "--threads", str(threads)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise AffectlensError(f"peer {peer} failed: {proc.stderr.strip().splitlines()[-1:]}")
        with np.load(out, allow_pickle=False) as z:
            res = {k: z[k] for k in z.files}
    labels = [str(x) for x in res["labels"]]
    rep = _score(res["probs"].astype(np.float32), labels, ds)
    notes = []
    if missing := sorted(set(ds.classes) - set(labels)):
        notes.append(f"has no {', '.join(missing)}: those faces count as errors")
    if int(res.get("no_detection", 0)):
        notes.append(f"{int(res['no_detection'])} faces without a detection")
    return BenchRow(
        model=str(res.get("name", peer)),
        dataset=f"{ds.name}:{ds.split}",
        n=rep["n"],
        accuracy=rep["accuracy"],
        macro_f1=rep["macro_f1"],
        recall={c: m["recall"] for c, m in rep["per_class"].items()},
        faces_per_s=len(ds) / float(res["seconds"]),
        batch1_ms=float(res["batch1_ms"]),
        size_mb=float(res["model_bytes"]) / 1e6,
        runtime=str(res.get("runtime", "")),
        notes=notes,
    )


def markdown_table(rows: list[BenchRow]) -> str:
    classes = list(dict.fromkeys(c for r in rows for c in r.recall))
    short = {c: c[:4] for c in classes}
    head = [
        "model",
        "data",
        "n",
        "accuracy",
        "macro-F1",
        *[f"R {short[c]}" for c in classes],
        "faces/s (batch)",
        "ms (batch 1)",
        "MB",
        "runtime",
        "notes",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.model, r.dataset, str(r.n), f"{r.accuracy:.4f}", f"{r.macro_f1:.4f}"]
        cells += [f"{r.recall[c]:.2f}" if c in r.recall else "" for c in classes]
        cells += [f"{r.faces_per_s:.0f}", f"{r.batch1_ms:.2f}", f"{r.size_mb:.1f}", r.runtime, "; ".join(r.notes)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
