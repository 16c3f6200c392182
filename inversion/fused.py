"""The engine's per-step work beyond Φ in one pass per array, on the CPU.

The compiled module ``_kernels`` (``inversion/_kernels.c``, built by ``pip install``; plain C,
no torch headers, one thread) does, each in one pass:

- :func:`tv2_alpha6`: the closed forms of TV² (:mod:`preimage.priors.tv`, β = 2, CVPR'15 Eq. 6)
  and the α⁶ norm (:mod:`preimage.priors.alpha`, α = 6, uncoupled, Eq. 5) added into Φ's image
  gradient together with its deferred per-item factor (eager: 8–10 passes);
- :func:`residual`: the feature match's residual Φ − Φ₀ and its per-item squared norm
  (eager: two passes over the feature map). Used only when torch itself runs on one thread:
  on more, torch's two threaded passes over a large map beat one pass on one thread;
- :func:`momentum`, :func:`adagrad_momentum`: the optimisers' updates (eager: three and six).

Each returns None (and does nothing) where it does not apply: no compiled module, another
device or dtype, non-contiguous or aliased tensors. The caller then takes the eager path, which
computes the same (tests compare both with each other and with autograd in float64). Set
``PREIMAGE_EAGER=1`` to force the eager path (benchmarks compare the two in one run).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from preimage.priors.alpha import AlphaNormPrior
from preimage.priors.tv import TVPrior

try:
    from preimage.inversion import _kernels
except ImportError:  # built without a C compiler: the eager path is used
    _kernels = None

_FLOATS = (torch.float32, torch.float64)


def eager_forced() -> bool:
    """Whether ``PREIMAGE_EAGER`` asks for the eager PyTorch path instead of the kernels."""
    return os.environ.get("PREIMAGE_EAGER", "") not in ("", "0")


def available() -> bool:
    """Whether the compiled kernels are importable and not turned off by ``PREIMAGE_EAGER``."""
    return _kernels is not None and not eager_forced()


def _applies(*ts: Tensor) -> bool:
    """CPU, one float dtype, contiguous, no two tensors sharing memory, kernels available."""
    if not available():
        return False
    t0 = ts[0]
    return (t0.device.type == "cpu" and t0.dtype in _FLOATS
            and all(t.device == t0.device and t.dtype == t0.dtype and t.is_contiguous() for t in ts)
            and len({t.data_ptr() for t in ts}) == len(ts))


def _np(t: Tensor) -> np.ndarray:
    return t.detach().numpy()


def kind(energy: object) -> str | None:
    """``"tv"`` for TV² (β = 2; coupling changes nothing), ``"alpha"`` for the uncoupled α⁶
    norm, None for any other energy (which the kernels do not compute)."""
    if type(energy) is TVPrior and energy.beta == 2.0:
        return "tv"
    if type(energy) is AlphaNormPrior and energy.alpha == 6.0 and not energy.coupled:
        return "alpha"
    return None


def tv2_alpha6(x: Tensor, out: Tensor, tv: float | None, alpha: float | None,
               scale: Tensor | float | None = None) -> tuple[Tensor | None, Tensor | None] | None:
    """``out ← scale_b·out + tv·∂TV²/∂x + alpha·∂N₆/∂x`` in place; returns (TV²(x), N₆(x)) per
    item (None for a term given as None), or None (nothing done) where the kernel does not apply.

    ``x``, ``out``: (B, C, H, W) of one float dtype on the CPU; ``scale``: None, a number, or a
    (B,) tensor (Φ's deferred per-item factor).
    """
    if (tv is None and alpha is None) or x.dim() != 4 or out.shape != x.shape or not _applies(x, out):
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
    _kernels.tv2_alpha6(_np(x), _np(out), s, values, *x.shape, x.element_size(), tv is not None,
                        alpha is not None, 2.0 * (tv or 0.0), 6.0 * (alpha or 0.0))
    v = torch.from_numpy(values).to(x.dtype)
    return (v[:, 0] if tv is not None else None), (v[:, 1] if alpha is not None else None)


def residual(phi: Tensor, phi0: Tensor, any_threads: bool = False) -> tuple[Tensor, Tensor] | None:
    """(r = Φ − Φ₀, ‖r_b‖² per item) in one pass, or None where the kernel does not apply or,
    unless ``any_threads``, torch runs on more than one thread. ``phi0`` has the batch of
    ``phi`` or batch 1 (one target for every item)."""
    if (not any_threads and torch.get_num_threads() > 1) or phi.dim() < 1 or phi0.shape[1:] != phi.shape[1:] or phi0.shape[0] not in (1, phi.shape[0]) \
            or not _applies(phi, phi0):
        return None
    r = torch.empty_like(phi, memory_format=torch.contiguous_format)
    b = phi.shape[0]
    values = np.zeros(b)
    _kernels.residual(_np(phi), _np(phi0), _np(r), values, b, phi[0].numel() if b else 0, phi0.shape[0],
                      phi.element_size())
    return r, torch.from_numpy(values).to(phi.dtype)


def momentum(x: Tensor, v: Tensor, g: Tensor, mu: float, c: float) -> bool:
    """``v ← μ·v + c·g; x ← x + v`` in one pass; False (nothing done) where it does not apply."""
    if not (x.shape == v.shape == g.shape and _applies(x, v, g)):
        return False
    _kernels.momentum(_np(x), _np(v), _np(g), x.numel(), x.element_size(), mu, c)
    return True


def adagrad_momentum(x: Tensor, v: Tensor, q: Tensor, g: Tensor, mu: float, inv_lr: float) -> bool:
    """``q ← μ·q + g²; v ← μ·v − g/(√q + 1/lr); x ← x + v`` in one pass; False where it does not apply."""
    if not (x.shape == v.shape == q.shape == g.shape and _applies(x, v, q, g)):
        return False
    _kernels.adagrad_momentum(_np(x), _np(v), _np(q), _np(g), x.numel(), x.element_size(), mu, inv_lr)
    return True
