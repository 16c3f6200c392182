"""Inverse modules: one learned inverse per forward operation, Φₖ → Φₖ₋₁.

Two block types (the thesis' modular inverters, Sec. on inverse networks):

- ``transposed``: transposed convolution → ReLU → convolution, the thesis' best block
  (Dosovitskiy & Brox 2016 use the same up-convolution decoder).
- ``upsample``: nearest-neighbour upsampling → convolution → ReLU → convolution
  (Odena, Dumoulin & Olah 2016, "Deconvolution and checkerboard artifacts"): resizing
  before the convolution avoids the transposed convolution's checkerboard.

A stage whose stride exceeds 2 (HOG's 8-pixel cells, CaffeNet's stride-4 conv1) is
upsampled in ×2 steps, each followed by a ReLU. The output is brought to the exact
size the forward operation took as input (:func:`fit_size`), which is never simply
stride × output (no padding, ceil-mode pooling).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

BLOCKS = ("transposed", "upsample")


def fit_size(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Crop, replicate-pad (by less than a quarter of the side) or, failing that,
    bilinearly resize ``x`` to spatial ``size``."""
    h, w = x.shape[-2:]
    th, tw = size
    if (h, w) == (th, tw):
        return x
    if th <= h and tw <= w:
        return x[..., :th, :tw]
    if th - h <= max(1, h // 4) and tw - w <= max(1, w // 4):
        x = x[..., : min(h, th), : min(w, tw)]
        return F.pad(x, (0, tw - x.shape[-1], 0, th - x.shape[-2]), mode="replicate")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def up_factors(stride: int) -> list[int]:
    """×2 steps for a power-of-two stride, else one step of the whole stride (1: none)."""
    if stride <= 1:
        return []
    n = math.log2(stride)
    return [2] * int(n) if n == int(n) else [stride]


class InverseBlock(nn.Module):
    """Φₖ (B, c_in, h, w) → Φₖ₋₁ (B, c_out, H, W) with H ≈ stride · h.

    ``width``: channels of the hidden maps. ``depth``: 3×3 convolutions (each with a ReLU)
    at the input's resolution before the up-steps, so every output pixel sees ``depth`` more
    cells of context on each side (HOG's cells are normalised over 2×2-cell blocks; 0 keeps
    the plain block). The output is linear (the target may be a pre-ReLU map or the image in
    input units).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, width: int, kind: str = "transposed",
                 depth: int = 0) -> None:
        super().__init__()
        if kind not in BLOCKS:
            raise ValueError(f"unknown block {kind!r}; use one of {', '.join(BLOCKS)}")
        if depth < 0:
            raise ValueError(f"depth must be 0 or more, not {depth}")
        self.c_in, self.c_out, self.stride, self.width, self.kind = c_in, c_out, stride, width, kind
        self.depth = depth
        factors = up_factors(stride)
        pre: list[nn.Module] = []
        c = c_in
        for _ in range(depth):
            pre += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
            c = width
        self.pre = nn.Sequential(*pre)
        layers: list[nn.Module] = []
        if kind == "transposed":
            for s in factors or [1]:
                k, p = (3, 1) if s == 1 else (2 * s, s // 2)
                layers += [nn.ConvTranspose2d(c, width, k, stride=s, padding=p), nn.ReLU()]
                c = width
        else:
            for _ in factors:  # the resize itself happens in forward (exact sizes)
                layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
                c = width
            if not factors:
                layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
        self.body = nn.ModuleList(layers)
        self.head = nn.Conv2d(width, c_out, 3, padding=1)
        self.factors = factors

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """``size``: the exact (H, W) of Φₖ₋₁."""
        x = self.pre(x)
        if self.kind == "transposed":
            for m in self.body:
                x = m(x)
        else:
            steps = [m for m in self.body if isinstance(m, nn.Conv2d)]
            h, w = x.shape[-2:]
            for i, conv in enumerate(steps):
                if self.factors:
                    last = i == len(steps) - 1
                    h, w = (size if last else (h * self.factors[i], w * self.factors[i]))
                    x = F.interpolate(x, size=(h, w), mode="nearest")
                x = F.relu(conv(x))
        return self.head(fit_size(x, size))

    def extra_repr(self) -> str:
        depth = f", depth {self.depth}" if self.depth else ""
        return f"{self.kind}: {self.c_in} → {self.c_out}, stride {self.stride}, width {self.width}{depth}"
