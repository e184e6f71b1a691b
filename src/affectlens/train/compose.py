"""Weighted ensembles of exported expression models, composed as one ONNX graph.

Members may differ in input size, normalisation and colour (a 96 px face backbone beside 48 px CNNs,
an RGB host beside gray members): the ensemble reads the crops of its first member (the "host"
preprocessing) and adapts them for each other member inside the graph: gray from an RGB host's
crops, the affine change of normalisation, then an average pool by the
integer size ratio (a 96 px crop pooled 2x2 is a 48 px crop resized by area), a bilinear
enlargement (a 48 px crop enlarged 2x as the crop maker enlarges small faces), or, for any other
ratio (112 px and 48 px), OpenCV's area or bilinear resampling written as a matrix on each axis.
Each member's logits get its card's ``class_bias`` and temperature, become probabilities, are
weighted and summed; the graph outputs the log of that mixture, so the card's own temperature
(fitted by ``--calibrate``) applies on top as for any model.

A joint head (:func:`compose_joint`) is the other way to join members: their own heads are dropped and
one linear layer, fitted on their frozen pooled features, reads the concatenation of those features.

A build step (needs the ``onnx`` package of the ``[train]`` extra); the result runs anywhere ONNX
Runtime does and is a model like any other (``eval``, ``quantize``, ``analyze --model``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from affectlens.classify.card import ModelCard, card_path
from affectlens.errors import AffectlensError
from affectlens.faces.preprocess import GRAY_WEIGHTS
from affectlens.train.parity import require_parity


def parse_member(spec: str) -> tuple[str, float]:
    """``MODEL[=WEIGHT]`` → (model, weight); the weight defaults to 1 (normalised over members)."""
    if "=" not in spec:
        return spec, 1.0
    model, _, weight = spec.rpartition("=")
    try:
        w = float(weight)
    except ValueError:
        raise AffectlensError(f"member {spec!r}: the weight after '=' must be a number") from None
    if w <= 0:
        raise AffectlensError(f"member {spec!r}: the weight must be > 0")
    return model, w


def _adapter(onnx, helper, i: int, host, pre, x: str, out: str) -> tuple[list, list]:
    """Nodes (and initialisers) turning the host's normalised crops ``x`` into member ``i``'s input ``out``."""
    inits, nodes = [], []
    if pre.color != host.color:
        if (host.color, pre.color) != ("rgb", "gray"):
            raise AffectlensError(f"a {pre.color} member cannot read a {host.color} host's crops: put it first")
        # gray = R, G, B weighted by GRAY_WEIGHTS (OpenCV's); they sum to 1, so the gray of normalised pixels
        # is the normalised gray and the affine change below applies unchanged
        inits.append(helper.make_tensor(f"m{i}_gray_w", onnx.TensorProto.FLOAT, [1, 3, 1, 1], list(GRAY_WEIGHTS)))
        nodes.append(helper.make_node("Conv", [x, f"m{i}_gray_w"], [f"m{i}_gray"]))
        x = f"m{i}_gray"
    big, small = max(host.size, pre.size), min(host.size, pre.size)
    scale = host.std / pre.std
    shift = (host.mean - pre.mean) / pre.std
    inits += [
        helper.make_tensor(f"m{i}_scale", onnx.TensorProto.FLOAT, [], [scale]),
        helper.make_tensor(f"m{i}_shift", onnx.TensorProto.FLOAT, [], [shift]),
    ]
    nodes += [
        helper.make_node("Mul", [x, f"m{i}_scale"], [f"m{i}_scaled"]),
        helper.make_node("Add", [f"m{i}_scaled", f"m{i}_shift"], [out if host.size == pre.size else f"m{i}_norm"]),
    ]
    if big % small:  # any other ratio: OpenCV's resampling as a matrix on each axis
        a = _resampling_matrix(host.size, pre.size)
        inits += [
            helper.make_tensor(f"m{i}_rows", onnx.TensorProto.FLOAT, list(a.shape), a.ravel().tolist()),
            helper.make_tensor(f"m{i}_cols", onnx.TensorProto.FLOAT, list(a.T.shape), a.T.ravel().tolist()),
        ]
        nodes += [
            helper.make_node("MatMul", [f"m{i}_rows", f"m{i}_norm"], [f"m{i}_rowwise"]),
            helper.make_node("MatMul", [f"m{i}_rowwise", f"m{i}_cols"], [out]),
        ]
    elif host.size > pre.size:  # a larger crop pooled by area
        k = host.size // pre.size
        nodes.append(helper.make_node("AveragePool", [f"m{i}_norm"], [out], kernel_shape=[k, k], strides=[k, k]))
    elif host.size < pre.size:  # a smaller crop enlarged as the crop maker does (bilinear, pixel centres)
        k = float(pre.size // host.size)
        inits.append(helper.make_tensor(f"m{i}_scales", onnx.TensorProto.FLOAT, [4], [1.0, 1.0, k, k]))
        nodes.append(
            helper.make_node(
                "Resize",
                [f"m{i}_norm", "", f"m{i}_scales"],
                [out],
                mode="linear",
                coordinate_transformation_mode="half_pixel",
            )
        )
    return nodes, inits


def _resampling_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) matrix ``A`` with ``A @ X @ A.T`` = ``cv2.resize(X, (dst, dst))`` for a (src, src) image:
    by area when shrinking (``INTER_AREA``), bilinear when enlarging, as the crop maker does. Both are
    separable and linear, so resizing the identity along one axis gives the matrix."""
    import cv2

    interp = cv2.INTER_AREA if dst < src else cv2.INTER_LINEAR
    return cv2.resize(np.eye(src, dtype=np.float32), (src, dst), interpolation=interp)


def _head(onnx, helper, i: int, card: ModelCard, logits: str, weight: float) -> tuple[list, list]:
    """Nodes turning member ``i``'s logits into ``weight · softmax((logits + bias) / T)``."""
    bias = np.asarray(card.class_bias or np.zeros(len(card.labels)), np.float32)
    inits = [
        helper.make_tensor(f"m{i}_bias", onnx.TensorProto.FLOAT, [len(bias)], bias.tolist()),
        helper.make_tensor(f"m{i}_temp", onnx.TensorProto.FLOAT, [], [card.temperature]),
        helper.make_tensor(f"m{i}_weight", onnx.TensorProto.FLOAT, [], [weight]),
    ]
    nodes = [
        helper.make_node("Add", [logits, f"m{i}_bias"], [f"m{i}_biased"]),
        helper.make_node("Div", [f"m{i}_biased", f"m{i}_temp"], [f"m{i}_tempered"]),
        helper.make_node("Softmax", [f"m{i}_tempered"], [f"m{i}_probs"], axis=1),
        helper.make_node("Mul", [f"m{i}_probs", f"m{i}_weight"], [f"m{i}_weighted"]),
    ]
    return nodes, inits


def _host(clfs):
    """The ensemble's preprocessing: the first member's. Members must agree on how the face is cut from the
    frame (``crop_scale``, ``align``): the graph adapts crop size, colour and normalisation, never the crop's
    extent, so a member made for another crop would read faces it was not trained on, and its card's figures
    would no longer hold."""
    host = clfs[0].card.preprocess
    for c in clfs[1:]:
        pre = c.card.preprocess
        for what in ("crop_scale", "align"):
            if getattr(pre, what) != getattr(host, what):
                raise AffectlensError(
                    f"members cut faces differently: {clfs[0].path} has {what}={getattr(host, what)}, {c.path} "
                    f"has {what}={getattr(pre, what)}; compose models made for the same crop"
                )
    return host


def _embed(clfs, host) -> tuple[list, list, dict[str, int], int, list]:
    """Every member's graph, prefixed ``m{i}_`` and fed from the host's crops (``input``): nodes,
    initialisers, opsets, IR version and the prefixed member graphs (for their outputs)."""
    import onnx
    from onnx import compose, helper

    nodes, inits, graphs = [], [], []
    opsets: dict[str, int] = {"": 13}
    ir = onnx.IR_VERSION
    for i, clf in enumerate(clfs):
        if clf.card.output != "logits":
            raise AffectlensError(f"{clf.path}: only members that output logits can be composed")
        if clf.labels != clfs[0].labels:
            raise AffectlensError(f"members need the same classes: {clf.path} has {clf.labels}")
        m = compose.add_prefix(onnx.load(str(clf.path)), f"m{i}_")
        ir = min(ir, m.ir_version)
        for o in m.opset_import:
            domain = "" if o.domain == "ai.onnx" else o.domain
            opsets[domain] = max(opsets.get(domain, 0), o.version)
        n, ini = _adapter(onnx, helper, i, host, clf.card.preprocess, "input", m.graph.input[0].name)
        nodes += n + list(m.graph.node)
        inits += ini + list(m.graph.initializer)
        graphs.append(m.graph)
    return nodes, inits, opsets, ir, graphs


def name_nodes(nodes) -> None:
    """Name every unnamed node after its operator and first output (``Gemm:logits``), so that tools can
    address it (quantisation's excluded nodes); named nodes keep their names."""
    for n in nodes:
        n.name = n.name or f"{n.op_type}:{n.output[0]}"


def _save(nodes, inits, opsets, ir: int, host, n_labels: int, name: str, out: str | Path) -> Path:
    """One graph ``input`` (the host's crops) → ``logits``, checked and written to ``out``."""
    import onnx
    from onnx import helper

    name_nodes(nodes)
    shape = ["batch", host.channels, host.size, host.size]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["batch", n_labels])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()], producer_name="affectlens"
    )
    model.ir_version = ir
    onnx.checker.check_model(model)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def compose_ensemble(members: list[tuple[str, float]], out: str | Path, name: str | None = None) -> Path:
    """Write ``out`` (.onnx) and its card: the weighted mixture of ``members`` ((model, weight) pairs)."""
    import onnx
    from onnx import helper

    from affectlens.classify import get_model

    if len(members) < 2:
        raise AffectlensError("an ensemble needs at least two members")
    clfs = [get_model(m) for m, _ in members]
    total = sum(w for _, w in members)
    weights = [w / total for _, w in members]
    host = _host(clfs)
    nodes, inits, opsets, ir, graphs = _embed(clfs, host)
    mixture = []
    for i, (clf, g, w) in enumerate(zip(clfs, graphs, weights, strict=True)):
        n, ini = _head(onnx, helper, i, clf.card, g.output[0].name, w)
        nodes += n
        inits += ini
        mixture.append(f"m{i}_weighted")
    nodes += [helper.make_node("Sum", mixture, ["mixture"]), helper.make_node("Log", ["mixture"], ["logits"])]
    out = _save(nodes, inits, opsets, ir, host, len(clfs[0].labels), "ensemble", out)
    parts = [
        f"{w:.2f} x {c.card.name} ({c.card.architecture}, {c.card.preprocess.size} px)"
        for c, w in zip(clfs, weights, strict=True)
    ]
    card = _card(clfs, host, name or out.stem, "weighted ensemble: " + " + ".join(parts), weights)
    card.metrics["onnx_parity_max_abs_diff"] = require_parity(
        _parity(out, clfs, weights, host), out, "the composed graph and its members run one by one"
    )
    card.save(card_path(out))
    return out


def member_head(graph, source: str | Path | None = None) -> tuple[str, np.ndarray, np.ndarray]:
    """A model's last layer (``graph``: its GraphProto): the name of its input (the pooled features, (N, D))
    and its weight (K, D) and bias (K,). The graph must end in the plain ``Gemm`` head every exported model
    has (weight and bias stored in the graph, no ``transA``, ``alpha`` or ``beta``); ``source`` names it in
    errors."""
    import onnx

    where = source or graph.name
    head = graph.node[-1]
    if head.op_type != "Gemm" or head.output[0] != graph.output[0].name:
        raise AffectlensError(f"{where}: the last node is {head.op_type}, not a Gemm head")
    init = {t.name: t for t in graph.initializer}
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in head.attribute}
    plain = attrs.get("transA", 0) == 0 and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0
    if len(head.input) != 3 or not all(n in init for n in head.input[1:]) or not plain:
        raise AffectlensError(f"{where}: its Gemm head is not a plain layer with stored weight and bias")
    w, b = (onnx.numpy_helper.to_array(init[n]) for n in head.input[1:3])
    return head.input[0], (w if attrs.get("transB", 0) else w.T).astype(np.float32), b.astype(np.float32)


def compose_joint(
    members: list[str], weight: np.ndarray, bias: np.ndarray, out: str | Path, name: str | None = None
) -> Path:
    """Write ``out`` (.onnx) and its card: one linear head over the concatenated pooled features of
    ``members`` (their own heads dropped): ``logits = concat(f_0, f_1, …) @ weight.T + bias``.

    ``weight`` (K, ΣD) and ``bias`` (K,) are fitted elsewhere on the members' frozen features
    (``benchmarks/joint_head.py``); the card's temperature and offsets are the caller's to set.
    """
    import onnx
    from onnx import helper

    from affectlens.classify import get_model

    if len(members) < 2:
        raise AffectlensError("a joint head needs at least two members")
    clfs = [get_model(m) for m in members]
    host = _host(clfs)
    nodes, inits, opsets, ir, graphs = _embed(clfs, host)
    feats, dims = [], []
    for clf, g in zip(clfs, graphs, strict=True):  # each member's own head goes; its input (the features) stays
        head = g.node[-1]
        feature, w, _ = member_head(g, clf.path)
        nodes.remove(head)
        inits = [t for t in inits if t.name not in head.input[1:]]
        feats.append(feature)
        dims.append(w.shape[1])
    weight, bias = np.asarray(weight, np.float32), np.asarray(bias, np.float32)
    if weight.shape != (len(clfs[0].labels), sum(dims)) or bias.shape != (len(clfs[0].labels),):
        raise AffectlensError(
            f"the joint head must be ({len(clfs[0].labels)}, {sum(dims)}) and ({len(clfs[0].labels)},): "
            f"got {weight.shape} and {bias.shape}"
        )
    inits += [onnx.numpy_helper.from_array(weight, "joint_w"), onnx.numpy_helper.from_array(bias, "joint_b")]
    nodes += [
        helper.make_node("Concat", feats, ["joint_features"], axis=1),
        helper.make_node("Gemm", ["joint_features", "joint_w", "joint_b"], ["logits"], transB=1),
    ]
    out = _save(nodes, inits, opsets, ir, host, len(clfs[0].labels), "joint", out)
    parts = [
        f"{c.card.name} ({c.card.architecture}, {c.card.preprocess.size} px, {d}-d)"
        for c, d in zip(clfs, dims, strict=True)
    ]
    card = _card(
        clfs, host, name or out.stem, "one linear head over the concatenated pooled features of " + " + ".join(parts)
    )
    card.metrics["onnx_parity_max_abs_diff"] = require_parity(
        _joint_parity(out, clfs, host, weight, bias), out, "the joint graph and its head on the members' features"
    )
    card.save(card_path(out))
    return out


def _random_crops(host, n: int = 32) -> np.ndarray:
    """``n`` random host-size crops in 0-1, (N, H, W) gray or (N, H, W, 3) RGB."""
    shape = (n, host.size, host.size) + ((3,) if host.color == "rgb" else ())
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8).astype(np.float32) / 255


def _nchw(x: np.ndarray) -> np.ndarray:
    return x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)


def member_input(clf, host, x01: np.ndarray) -> np.ndarray:
    """Host crops ``x01`` as member ``clf`` reads them outside the graph: resized to its own size by area
    (exactly the 2x2 pool of the graph for a smaller member) or bilinearly (a larger one), normalised."""
    import cv2

    pre = clf.card.preprocess
    xm = x01 if pre.color == host.color else x01 @ np.asarray(GRAY_WEIGHTS, np.float32)
    interp = cv2.INTER_AREA if pre.size < host.size else cv2.INTER_LINEAR
    xm = np.stack([cv2.resize(c, (pre.size, pre.size), interpolation=interp) for c in xm])
    return _nchw((xm - pre.mean) / pre.std)


def _parity(path: Path, clfs, weights: list[float], host) -> float:
    """Largest |probability difference| between the composed graph and its members run one by one, in
    float, on random host-size crops."""
    import onnxruntime as ort

    from affectlens.classify.onnx import softmax

    x01 = _random_crops(host)
    want = 0
    for clf, w in zip(clfs, weights, strict=True):
        sess = ort.InferenceSession(str(clf.path), providers=["CPUExecutionProvider"])
        z = sess.run(None, {clf.card.input_name: member_input(clf, host, x01)})[0]
        want = want + w * softmax(z + np.asarray(clf.card.class_bias or 0, np.float32), clf.card.temperature)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = np.exp(sess.run(None, {"input": _nchw((x01 - host.mean) / host.std)})[0])
    return float(np.abs(got - want).max())


def feature_session(path: str | Path, threads: int = 2):
    """An ONNX Runtime session on an exported model whose outputs are (logits, pooled features), and
    the model's head weight (K, D) and bias (K,): for fitting heads on frozen features."""
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(path))
    feature, w, b = member_head(m.graph, path)
    m.graph.output.append(onnx.helper.make_tensor_value_info(feature, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess, (w, b)


def _joint_parity(path: Path, clfs, host, weight: np.ndarray, bias: np.ndarray) -> float:
    """Largest |logit difference| between the joint graph and its head applied to the members' pooled
    features, each member run alone on the random host crops resized as it reads them."""
    import onnxruntime as ort

    x01 = _random_crops(host)
    feats = []
    for clf in clfs:
        sess, _ = feature_session(clf.path)
        feats.append(sess.run(None, {clf.card.input_name: member_input(clf, host, x01)})[1].reshape(len(x01), -1))
    want = np.concatenate(feats, 1) @ weight.T + bias
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": _nchw((x01 - host.mean) / host.std)})[0]
    return float(np.abs(got - want).max())


def _card(clfs, host, name: str, architecture: str, weights: list[float] | None = None) -> ModelCard:
    """The composed model's card: the host's preprocessing, the members' licences and training records
    (with their ensemble ``weights``, where they have them)."""
    licences = sorted({lic for c in clfs for lic in c.card.licence.split("; ") if lic})
    members = []
    for i, c in enumerate(clfs):
        weight = {} if weights is None else {"weight": round(weights[i], 4)}
        members.append(
            {"model": c.card.name} | weight | {"temperature": c.card.temperature, "training": c.card.training}
        )
    return ModelCard(
        name=name,
        labels=list(clfs[0].labels),
        preprocess=replace(host),
        architecture=architecture,
        licence="; ".join(licences),
        training={"members": members},
    )
