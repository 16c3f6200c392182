"""Feature masks (CVPR'15 Sec. 4.1–4.2, ``opts.neigh`` / ``opts.filterGroup`` of
deep-goggle ``invert_nn.m``): keep only a centred n×n window of neurons and/or the first
or second half of the channels (the two filter groups of CaffeNet)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from preimage.representations.errors import PreimageError


def feature_mask(shape: tuple[int, ...], neigh: int | None = None, filter_group: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """A (1, C, H, W) 0/1 mask for features of ``shape`` (…, C, H, W).

    ``neigh``: side of the centred window (as MATLAB's ``ceil((H − n + 1) / 2)``, 1-based);
    ``filter_group``: 1 keeps channels [0, C/2), 2 keeps [C/2, C) (``vl_colsubset``).
    """
    c, h, w = shape[-3:]
    mask = torch.zeros(1, c, h, w, device=device, dtype=dtype)
    cs = slice(None)
    if filter_group is not None:
        if filter_group not in (1, 2):
            raise PreimageError(f"filter_group must be 1 or 2 (first or second half of the channels), got {filter_group}")
        half = round(c / 2)
        cs = slice(0, half) if filter_group == 1 else slice(c - half, c)
    ny = h if neigh is None else min(int(neigh), h)
    nx = w if neigh is None else min(int(neigh), w)
    if ny < 1 or nx < 1:
        raise PreimageError(f"neigh must be a positive window size, got {neigh}")
    y0 = math.ceil((h - ny + 1) / 2) - 1  # MATLAB 1-based → 0-based
    x0 = math.ceil((w - nx + 1) / 2) - 1
    mask[:, cs, y0 : y0 + ny, x0 : x0 + nx] = 1
    return mask
