"""Augmentation on whole batches as tensors: one call per batch, no per-image Python loop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from affectlens.faces.preprocess import GRAY_WEIGHTS


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
    # photometric: faces unlike FER+ (webcams, phone photos, ads) differ in light, focus and compression
    brightness: float = 0.25  # add U(-b, b) to the [0, 1] image
    contrast: float = 0.3  # scale around the mean by U(1 - c, 1 + c)
    gamma: float = 0.3  # x ** exp(U(-g, g))
    blur_p: float = 0.15  # Gaussian blur, sigma U(0.3, 1.2) px at 48 px (scaled to the input size)
    resample_p: float = 0.15  # down to U(0.35, 0.8) of the size and back up (low-resolution faces)
    jpeg_p: float = 0.15  # JPEG round trip at quality U(15, 60)
    color_jitter: float = 0.15  # RGB input only: per-channel gain U(1 - j, 1 + j)
    gray_p: float = 0.1  # RGB input only: turn the face gray


def random_affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip, rotate, scale and shift every image of ``x`` (B, C, H, W) with its own parameters;
    returns the images and which of them were mirrored (B,) bool."""
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
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False), flip < 0


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


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (hi - lo) + lo


def _subset(n: int, p: float, gen: torch.Generator) -> torch.Tensor:
    return torch.nonzero(torch.rand(n, generator=gen) < p).flatten()


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(int(math.ceil(2.5 * sigma)), 1)
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=x.dtype) ** 2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.device)
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG round trip of each image of a [0, 1] batch (B, C, H, W) at its own quality."""
    u8 = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(u8)
    for i, (im, q) in enumerate(zip(u8, quality.tolist(), strict=True)):
        _, buf = cv2.imencode(".jpg", np.ascontiguousarray(im), [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        out[i] = dec.reshape(im.shape)
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255.0


def photometric(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Light, focus, resolution, compression and colour changes of a [0, 1] batch (B, C, H, W)."""
    b, c, h, _ = x.shape
    x = x.clone()
    if c == 3 and cfg.color_jitter > 0:
        x = x * _uniform(b * 3, 1 - cfg.color_jitter, 1 + cfg.color_jitter, gen).view(b, 3, 1, 1).to(x)
    if c == 3 and cfg.gray_p > 0:
        idx = _subset(b, cfg.gray_p, gen)
        gray = (x[idx] * torch.tensor(GRAY_WEIGHTS, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x[idx] = gray.expand(-1, 3, -1, -1)
    if cfg.contrast > 0:
        mean = x.mean((1, 2, 3), keepdim=True)
        x = (x - mean) * _uniform(b, 1 - cfg.contrast, 1 + cfg.contrast, gen).view(b, 1, 1, 1).to(x) + mean
    if cfg.brightness > 0:
        x = x + _uniform(b, -cfg.brightness, cfg.brightness, gen).view(b, 1, 1, 1).to(x)
    x = x.clamp(0, 1)
    if cfg.gamma > 0:
        x = x.pow(torch.exp(_uniform(b, -cfg.gamma, cfg.gamma, gen)).view(b, 1, 1, 1).to(x))
    if cfg.blur_p > 0 and len(idx := _subset(b, cfg.blur_p, gen)):
        x[idx] = _gaussian_blur(x[idx], float(_uniform(1, 0.3, 1.2, gen)) * h / 48)
    if cfg.resample_p > 0 and len(idx := _subset(b, cfg.resample_p, gen)):
        small = max(int(h * float(_uniform(1, 0.35, 0.8, gen))), 8)
        down = F.interpolate(x[idx], size=(small, small), mode="area")
        x[idx] = F.interpolate(down, size=x.shape[2:], mode="bilinear", align_corners=False)
    if cfg.jpeg_p > 0 and len(idx := _subset(b, cfg.jpeg_p, gen)):
        x[idx] = _jpeg(x[idx], _uniform(len(idx), 15, 60, gen))
    return x.clamp(0, 1)


def augment(
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: AugmentConfig,
    gen: torch.Generator,
    y_mirrored: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Geometric augmentation, erasing and mixing of a normalised batch (photometric comes first,
    on the [0, 1] image: :func:`photometric`).

    ``y_mirrored`` (optional, like ``y``) holds the targets of the mirror images: a row the flip
    mirrors takes those (a face's shape is not symmetric; its expression label is).
    """
    x, flipped = random_affine(x, cfg, gen)
    if y_mirrored is not None:
        y = torch.where(flipped[:, None].to(y.device), y_mirrored, y)
    if cfg.erase_p > 0:
        x = random_erase(x, cfg, gen)
    return mix(x, y, cfg, gen)
