"""Initial images (deep-goggle ``invert_nn.m``): x ~ N(0, 1) rescaled to Euclidean norm
x0_sigma, the average norm of a mean-subtracted natural image (27098.1 on the 0–255
scale, ``experiments/x0_sigma.mat``). Each batch item gets its own draw."""

from __future__ import annotations

import torch
from torch import Tensor

X0_SIGMA = 27098.11571533  # 0–255 units; multiply by convention.units_per_255


def random_init(shape: tuple[int, ...], x0_sigma: float = X0_SIGMA, seed: int | None = 0,
                device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """(B, C, H, W) Gaussian noise, each item scaled to norm ``x0_sigma``; seeded, CPU-drawn."""
    g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    x = x / x.flatten(1).norm(dim=1).reshape(-1, *([1] * (x.dim() - 1))) * x0_sigma
    return x.to(device=device, dtype=dtype)
