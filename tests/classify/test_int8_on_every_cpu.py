"""The shipped int8 classifiers read the same on every x86 CPU.

Without VNNI (AVX2-only CPUs) ONNX Runtime's int8 convolutions add pairs of uint8 x int8 products into
int16 and saturate on full-range weights; the shipped models use 7-bit weights (``affectlens quantize``'s
default), which cannot. With full-range weights the default model read 0.815 of FER+ test on AVX2
kernels against 0.845 with AMX. ``benchmarks/avx2only`` hides AVX-512 and AMX from CPUID to check it
on the machine at hand.
"""

import numpy as np
import pytest

from affectlens.classify import get_model
from affectlens.classify.registry import builtin_models
from affectlens.datasets import load_dataset
from tests.conftest import needs_avx2only, python_on_avx2

INT8 = [name for name in builtin_models() if name.endswith("-int8")]

_CHILD = """
import sys, numpy as np
from affectlens.classify import get_model
from affectlens.runtime import machine
faces = np.load(sys.argv[1])
np.savez(sys.argv[2], **{name: get_model(name).predict_images(faces) for name in sys.argv[3:]})
print(",".join(machine()["hidden_from_cpuid"]))
"""


@pytest.mark.parametrize("name", INT8)
def test_int8_weights_use_seven_bits(name):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    graph = onnx.load(str(get_model(name).path)).graph
    dequantised = {n.input[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    weights = [numpy_helper.to_array(t) for t in graph.initializer if t.name in dequantised and t.data_type == 3]
    assert weights, "no int8 weights"
    # symmetric 7-bit: |w| <= 64, so two products of a uint8 activation stay within int16 (2 x 255 x 64)
    assert all(np.abs(w.astype(np.int32)).max() <= 64 for w in weights)


@needs_avx2only
def test_int8_models_read_the_same_with_avx512_and_amx_hidden(ferplus, tmp_path):
    faces = load_dataset(f"ferplus:{ferplus}", "test").images[:96]
    np.save(tmp_path / "faces.npy", faces)
    child = python_on_avx2(_CHILD, tmp_path / "faces.npy", tmp_path / "out.npz", *INT8, check=True)
    assert child.stdout.strip().splitlines()[-1].startswith("AVX-512")  # the kernels were AVX2's
    avx2 = np.load(tmp_path / "out.npz")
    for name in INT8:
        native = get_model(name).predict_images(faces)
        assert np.abs(avx2[name] - native).max() < 1e-3, name


def test_a_full_range_int8_model_is_named_on_a_cpu_that_reads_it_inexactly(tmp_path, monkeypatch, caplog):
    import json

    import affectlens.classify.onnx as onnx_module
    from affectlens.classify.card import card_path

    monkeypatch.setattr(onnx_module, "int8_without_saturation", lambda: False)  # an AVX2-only CPU
    shipped = get_model()
    assert shipped.card.training["weight_bits"] == 7 and not shipped.full_range_int8
    old = tmp_path / "old-int8.onnx"  # as quantised before 7-bit weights: no weight_bits in its card
    old.write_bytes(shipped.path.read_bytes())
    card = json.loads(card_path(shipped.path).read_text())
    del card["training"]["weight_bits"]
    card_path(old).write_text(json.dumps(card))
    with caplog.at_level("WARNING", logger="affectlens.classify.onnx"):
        shipped.prepare()
        assert not caplog.records
        get_model(str(old)).prepare()
    assert len(caplog.records) == 1 and "affectlens quantize" in caplog.records[0].getMessage()
    monkeypatch.setattr(onnx_module, "int8_without_saturation", lambda: True)  # VNNI or AMX: nothing to say
    caplog.clear()
    with caplog.at_level("WARNING", logger="affectlens.classify.onnx"):
        get_model(str(old)).prepare()
    assert not caplog.records
