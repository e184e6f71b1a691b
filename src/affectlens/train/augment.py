"""Augmentation on whole batches as tensors: one call per batch, no per-image Python loop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5
    rotate_deg: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    translate: float = 0.1
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_p: float = 0.5


def random_affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Flip, rotate, scale and shift every image of ``x`` (B, C, H, W) with its own parameters."""
    b = x.shape[0]
    dev = x.device
    angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(cfg.rotate_deg)
    scale = torch.empty(b).uniform_(cfg.scale[0], cfg.scale[1], generator=gen)
    tx, ty = (torch.rand(2, b, generator=gen) * 2 - 1) * cfg.translate * 2
    flip = torch.where(torch.rand(b, generator=gen) < cfg.flip, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1).to(
        dev, x.dtype
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_erase(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Blank one random rectangle (filled with noise) in a random subset of the batch."""
    b, _, h, w = x.shape
    area = torch.empty(b).uniform_(*cfg.erase_area, generator=gen) * h * w
    aspect = torch.exp(torch.empty(b).uniform_(math.log(0.3), math.log(3.3), generator=gen))
    eh = (area * aspect).sqrt().clamp(1, h).long()
    ew = (area / aspect).sqrt().clamp(1, w).long()
    y0 = (torch.rand(b, generator=gen) * (h - eh + 1).float()).long()
    x0 = (torch.rand(b, generator=gen) * (w - ew + 1).float()).long()
    on = torch.rand(b, generator=gen) < cfg.erase_p
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    mask = (
        (
            (ys >= y0.view(b, 1, 1))
            & (ys < (y0 + eh).view(b, 1, 1))
            & (xs >= x0.view(b, 1, 1))
            & (xs < (x0 + ew).view(b, 1, 1))
            & on.view(b, 1, 1)
        )
        .unsqueeze(1)
        .to(x.device)
    )
    noise = torch.randn(x.shape, generator=gen).to(x.device, x.dtype)
    return torch.where(mask, noise, x)


def mix(
    x: torch.Tensor, y: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or CutMix a batch (with soft targets ``y``), each with probability ``mix_p``."""
    use_mixup, use_cutmix = cfg.mixup_alpha > 0, cfg.cutmix_alpha > 0
    if not (use_mixup or use_cutmix) or torch.rand(1, generator=gen).item() > cfg.mix_p:
        return x, y
    perm = torch.randperm(x.shape[0], generator=gen)
    cut = use_cutmix and (not use_mixup or torch.rand(1, generator=gen).item() < 0.5)
    alpha = cfg.cutmix_alpha if cut else cfg.mixup_alpha
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    if not cut:
        return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]
    _, _, h, w = x.shape
    rh, rw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = int(torch.randint(h, (1,), generator=gen)), int(torch.randint(w, (1,), generator=gen))
    y0, y1 = max(cy - rh // 2, 0), min(cy + rh // 2, h)
    x0, x1 = max(cx - rw // 2, 0), min(cx + rw // 2, w)
    x = x.clone()
    x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return x, lam * y + (1 - lam) * y[perm]


def augment(
    x: torch.Tensor, y: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    x = random_affine(x, cfg, gen)
    if cfg.erase_p > 0:
        x = random_erase(x, cfg, gen)
    return mix(x, y, cfg, gen)
