"""TV^β energy (Mahendran & Vedaldi, CVPR 2015, Eq. 6; IJCV 2016, Eq. 10).

    TV^β(x) = Σ_{c,u,v} ((x_{c,u,v+1} − x_{c,u,v})² + (x_{c,u+1,v} − x_{c,u,v})²)^{β/2}

with replicated borders (the last difference along each axis is zero), exactly as
``tv()`` in the authors' deep-goggle ``invert_nn.m``. With ``coupled=True`` the squared
differences are summed over channels inside the power (IJCV'16: the norm of the
colour-vector difference), otherwise each channel is its own field (CVPR'15 code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Below this, s^{β/2} is treated as flat (β < 2 has an infinite slope at 0); the
# reference code clamps the weight the same way (max(v, 1e-5)).
_EPS = 1e-20


def _diffs(z: Tensor) -> tuple[Tensor, Tensor]:
    """Forward differences along W and H, zero at the last column / row. (B, C, H, W) each."""
    d1 = F.pad(z[..., :, 1:] - z[..., :, :-1], (0, 1, 0, 0))
    d2 = F.pad(z[..., 1:, :] - z[..., :-1, :], (0, 0, 0, 1))
    return d1, d2


def _squared(d1: Tensor, d2: Tensor, coupled: bool) -> Tensor:
    s = d1 * d1 + d2 * d2
    return s.sum(1, keepdim=True) if coupled else s


def tv_beta(z: Tensor, beta: float = 2.0, coupled: bool = False) -> Tensor:
    """TV^β energy of each batch item: (B, C, H, W) → (B,)."""
    if z.dim() != 4:
        raise ValueError(f"tv_beta expects (B, C, H, W), got {tuple(z.shape)}")
    s = _squared(*_diffs(z), coupled)
    v = s if beta == 2 else s.clamp_min(_EPS).pow(beta / 2)
    return v.flatten(1).sum(1)


def tv_beta_grad(z: Tensor, beta: float = 2.0, coupled: bool = False) -> Tensor:
    """Closed-form ∂TV^β/∂z, same shape as ``z``.

    With a = β s^{β/2−1} d (s the squared gradient magnitude), ∂/∂z_p = a_{p−e} − a_p
    summed over the two axes (a_{p−e} = 0 on the first column / row).
    """
    d1, d2 = _diffs(z)
    s = _squared(d1, d2, coupled)
    w = torch.full_like(s, beta) if beta == 2 else beta * s.clamp_min(_EPS).pow(beta / 2 - 1) * (s > _EPS)
    a1, a2 = w * d1, w * d2
    g = -a1 - a2
    g[..., :, 1:] += a1[..., :, :-1]
    g[..., 1:, :] += a2[..., :-1, :]
    return g


def tv_beta_value_and_grad(z: Tensor, beta: float = 2.0, coupled: bool = False) -> tuple[Tensor, Tensor]:
    """(energy (B,), gradient) sharing one computation of the differences (the engine's fast path)."""
    if beta == 2:  # quadratic: coupling changes nothing; unpadded differences, in-place gradient
        e1 = z[..., :, 1:] - z[..., :, :-1]
        e2 = z[..., 1:, :] - z[..., :-1, :]
        value = (e1 * e1).flatten(1).sum(1) + (e2 * e2).flatten(1).sum(1)
        g = torch.zeros_like(z)
        g[..., :, :-1] = e1
        g[..., :, 1:] -= e1
        g[..., :-1, :] += e2
        g[..., 1:, :] -= e2
        return value, g.mul_(-2.0)
    d1, d2 = _diffs(z)
    s = _squared(d1, d2, coupled)
    if beta == 2:
        value = s.flatten(1).sum(1)
        a1, a2 = 2.0 * d1, 2.0 * d2
    else:
        sc = s.clamp_min(_EPS)
        value = sc.pow(beta / 2).flatten(1).sum(1)
        w = beta * sc.pow(beta / 2 - 1) * (s > _EPS)
        a1, a2 = w * d1, w * d2
    g = -(a1 + a2)
    g[..., :, 1:] += a1[..., :, :-1]
    g[..., 1:, :] += a2[..., :-1, :]
    return value, g


def _sq_norms(a: Tensor) -> Tensor:
    """Per-item Σ a² of a contiguous (B, …) tensor: one read, no temporary."""
    return torch.linalg.vector_norm(a.view(a.shape[0], -1), dim=1).square_()


def tv2_accumulate(z: Tensor, out: Tensor, alpha: float, work: tuple[Tensor, Tensor]) -> Tensor:
    """TV² (β = 2; coupling changes nothing) in place: ``out += alpha·∂TV²/∂z``, returns TV²(z) (B,).

    ``work`` holds the unpadded differences, (B, C, H, W−1) and (B, C, H−1, W), reused
    across calls: two subtractions, two norms and four in-place updates of ``out``
    (∂/∂z_p = 2(d_{p−e} − d_p) along each axis), no allocation of image size.
    """
    e1, e2 = work
    torch.sub(z[..., :, 1:], z[..., :, :-1], out=e1)
    torch.sub(z[..., 1:, :], z[..., :-1, :], out=e2)
    value = _sq_norms(e1).add_(_sq_norms(e2))
    c = 2.0 * alpha
    out[..., :, :-1].sub_(e1, alpha=c)
    out[..., :, 1:].add_(e1, alpha=c)
    out[..., :-1, :].sub_(e2, alpha=c)
    out[..., 1:, :].add_(e2, alpha=c)
    return value


class TVPrior(nn.Module):
    """TV^β as an energy module: ``forward(z) -> Tensor[B]``; ``grad(z)`` in closed form."""

    def __init__(self, beta: float = 2.0, coupled: bool = False) -> None:
        super().__init__()
        self.beta = float(beta)
        self.coupled = bool(coupled)
        self._work: dict[tuple, tuple[Tensor, Tensor]] = {}  # accumulate_grad's buffers, per shape

    def forward(self, z: Tensor) -> Tensor:
        return tv_beta(z, self.beta, self.coupled)

    def grad(self, z: Tensor) -> Tensor:
        return tv_beta_grad(z, self.beta, self.coupled)

    def value_and_grad(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return tv_beta_value_and_grad(z, self.beta, self.coupled)

    def accumulate_grad(self, z: Tensor, out: Tensor, alpha: float = 1.0) -> Tensor:
        """``out += alpha·∂TV^β/∂z`` in place; returns TV^β(z) (B,) (the engine's path)."""
        if self.beta != 2 or z.dim() != 4 or not z.is_contiguous():
            value, g = tv_beta_value_and_grad(z, self.beta, self.coupled)
            out.add_(g, alpha=alpha)
            return value
        b, c, h, w = z.shape
        key = (b, c, h, w, z.dtype, z.device)
        if key not in self._work:
            self._work.clear()
            self._work[key] = (z.new_empty(b, c, h, w - 1), z.new_empty(b, c, h - 1, w))
        return tv2_accumulate(z, out, alpha, self._work[key])

    def extra_repr(self) -> str:
        return f"beta={self.beta}, coupled={self.coupled}"
