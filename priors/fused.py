"""TV² and α⁶ value and gradient in one pass over the image (the engine's fast path on CPU).

The closed forms of :mod:`preimage.priors.tv` (β = 2, CVPR'15 Eq. 6) and
:mod:`preimage.priors.alpha` (α = 6, uncoupled, Eq. 5) together with the per-item factor of
Φ's gradient, computed by the C kernel ``_imageterms`` (built with the package; plain C, no
torch headers) in one read of the image and one read-modify-write of the gradient, where the
eager path makes 8–10 passes. The values are the same to rounding (tests compare both with
autograd in float64). Where the kernel does not apply (no compiled module, another device or
dtype, a non-contiguous tensor) :func:`accumulate` returns None and the caller takes the eager
path. Set ``PREIMAGE_EAGER=1`` to force the eager path (for benchmarks and comparisons).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from preimage.priors.alpha import AlphaNormPrior
from preimage.priors.tv import TVPrior

try:
    from preimage.priors import _imageterms as _kernel
except ImportError:  # built without a C compiler: the eager path is used
    _kernel = None


def eager_forced() -> bool:
    """Whether ``PREIMAGE_EAGER`` asks for the eager PyTorch path instead of compiled kernels."""
    return os.environ.get("PREIMAGE_EAGER", "") not in ("", "0")


def available() -> bool:
    """Whether the compiled kernel is importable and not disabled by ``PREIMAGE_EAGER``."""
    return _kernel is not None and not eager_forced()


def kind(energy: object) -> str | None:
    """``"tv"`` for TV² (β = 2; coupling changes nothing), ``"alpha"`` for the uncoupled α⁶
    norm, None for any other energy (which the kernel does not compute)."""
    if type(energy) is TVPrior and energy.beta == 2.0:
        return "tv"
    if type(energy) is AlphaNormPrior and energy.alpha == 6.0 and not energy.coupled:
        return "alpha"
    return None


def accumulate(x: Tensor, out: Tensor, tv: float | None, alpha: float | None,
               scale: Tensor | float | None = None) -> tuple[Tensor | None, Tensor | None] | None:
    """``out ← scale_b·out + tv·∂TV²/∂x + alpha·∂N₆/∂x`` in place; returns (TV²(x), N₆(x)) per
    item (None for a term given as None), or None (nothing done) where the kernel does not apply.

    ``x`` and ``out``: (B, C, H, W), same float dtype, contiguous, on the CPU, not aliased;
    ``scale``: None, a number, or a (B,) / (B, 1, 1, 1) tensor (the deferred per-item factor
    of Φ's gradient).
    """
    if not available() or (tv is None and alpha is None):
        return None
    if (x.device.type != "cpu" or x.dim() != 4 or x.dtype not in (torch.float32, torch.float64)
            or out.shape != x.shape or out.dtype != x.dtype or out.device != x.device
            or not x.is_contiguous() or not out.is_contiguous() or out.data_ptr() == x.data_ptr()
            or x.shape[2] < 1 or x.shape[3] < 1):
        return None
    b = x.shape[0]
    if isinstance(scale, Tensor) and scale.numel() == 1:
        scale = float(scale)
    if isinstance(scale, Tensor):
        if scale.numel() != b:
            return None
        s = scale.detach().reshape(b).to(device="cpu", dtype=x.dtype).contiguous().numpy()
    elif scale is None or float(scale) == 1.0:
        s = None
    else:
        s = np.full(b, float(scale), dtype=np.float32 if x.dtype == torch.float32 else np.float64)
    values = np.zeros((b, 2))
    _kernel.tv2_alpha6(x.detach().numpy(), out.detach().numpy(), s, values, *x.shape, x.element_size(),
                       tv is not None, alpha is not None, 2.0 * (tv or 0.0), 6.0 * (alpha or 0.0))
    v = torch.from_numpy(values).to(x.dtype)
    return (v[:, 0] if tv is not None else None), (v[:, 1] if alpha is not None else None)
