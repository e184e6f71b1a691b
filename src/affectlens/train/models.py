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


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., nn.Module]
    input_size: int
    color: str
    description: str


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
        ModelSpec("resnet_se", ResNetSE, 48, "gray", "narrow ResNet-18 with squeeze-excitation"),
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
