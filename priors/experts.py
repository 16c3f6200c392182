"""Energies that are sums of 1-D potentials of linear filter responses (products of experts).

    E(z) = Σ_patches Σ_i α_i ρ(w_iᵀ x̃),     x̃ = W (x − μ)  (whitening, :mod:`priors.whitening`)

Field of experts (Roth & Black 2005) and over-complete ICA (Hyvärinen 2005) differ only in
ρ. Filters w_i live in whitened space and are **renormalised to unit norm inside every
forward pass** (w / ‖w‖, so no step is needed after the optimiser; ``normalise=False``
keeps them free as in Roth & Black). α_i = softplus(a_i) > 0. At use, whitening and filters
fold into f_i = Wᵀ w_i, b_i = −f_iᵀμ, so E is one convolution y = f ⋆ z + b and

    ∂E/∂z = Σ_i f_i ⋆ᵀ (α_i ρ'(y_i))                         (conv-transpose)
    ΔE    = Σ_i α_i ‖f_i‖² Σ_patches ρ''(y_i)                 (exact Laplacian)
    ∂²E/∂z_d² = Σ_i (f_i ⊙ f_i) ⋆ᵀ (α_i ρ''(y_i))            (Hessian diagonal)

Feature-map variants (``variant``): ``full`` — each filter sees all C·p² coordinates of a
patch; ``channelwise`` — ``n_experts`` p × p filters per channel, whitened per channel
(a grouped convolution, C · n_experts experts); ``separable`` — w_i = u_i ⊗ v_i with a
channel vector u_i ∈ R^C and a spatial filter v_i ∈ R^{p²} (each unit norm), in the
full whitened space.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from preimage.priors.learned import PatchEnergy
from preimage.priors.whitening import Whitening
from preimage.representations.errors import PreimageError

VARIANTS = ("full", "channelwise", "separable")


def dct_filters(n: int, patch_size: int, channels: int) -> Tensor:
    """n unit-norm 2-D DCT-II basis patches without the DC one, cycling over channels: (n, C·p²).

    When n exceeds the C·(p² − 1) non-DC basis patches, every later filter is its cycle's basis
    patch mixed half-and-half with a fixed random direction (seeded, so the start is still
    deterministic): identical filters would get identical gradients and stay duplicates."""
    p = patch_size
    k = torch.arange(p, dtype=torch.float64)
    basis = torch.cos(math.pi * (k[None, :] + 0.5) * k[:, None] / p)         # (freq, pos)
    pairs = sorted(((a, b) for a in range(p) for b in range(p) if a or b), key=lambda t: (t[0] + t[1], t))
    out = torch.zeros(n, channels, p * p, dtype=torch.float64)
    for i in range(n):
        a, b = pairs[(i // channels) % max(len(pairs), 1)] if pairs else (0, 0)
        out[i, i % channels] = torch.outer(basis[a], basis[b]).flatten()
    out = F.normalize(out.flatten(1), dim=1)
    first_cycle = channels * max(len(pairs), 1)
    if n > first_cycle:
        g = torch.Generator().manual_seed(0)
        extra = F.normalize(torch.randn(n - first_cycle, out.shape[1], generator=g, dtype=torch.float64), dim=1)
        out[first_cycle:] = F.normalize(out[first_cycle:] + extra, dim=1)
    return out


def shift_add(cols: Tensor, channels: int, p: int, size: tuple[int, int], stride: int = 1,
              out_size: tuple[int, int] | None = None) -> Tensor:
    """col2im: (B, C·p², H'·W') columns of patches on an H' × W' grid of step ``stride`` →
    (B, C, H, W) (default H = (H'−1)·stride + p), overlaps summed, as p² strided in-place adds
    (same result as ``F.fold``, a few times faster for few channels)."""
    h, w = size
    hh, ww = out_size or ((h - 1) * stride + p, (w - 1) * stride + p)
    out = cols.new_zeros(cols.shape[0], channels, hh, ww)
    c = cols.view(cols.shape[0], channels, p, p, h, w)
    for i in range(p):
        for j in range(p):
            out[:, :, i:i + (h - 1) * stride + 1:stride, j:j + (w - 1) * stride + 1:stride] += c[:, :, i, j]
    return out


class LinearExpertEnergy(PatchEnergy):
    """Σ α_i ρ(w_iᵀ x̃) over patches; subclasses give ρ, ρ', ρ'' (:meth:`potential`)."""

    def __init__(self, channels: int, patch_size: int, n_experts: int, variant: str = "full",
                 whitening: str | None = "zca", whitening_tol: float = 1e-5, normalise: bool = True,
                 init: str = "random", remove_dc: bool = True) -> None:
        super().__init__(channels, patch_size)
        if variant not in VARIANTS:
            raise PreimageError(f"variant {variant!r} is not known; use one of {', '.join(VARIANTS)}")
        if init not in ("random", "dct"):
            raise PreimageError(f"init {init!r} is not known; use 'random' or 'dct'")
        self.n_experts, self.variant, self.normalise, self.init = int(n_experts), variant, bool(normalise), init
        c, p2 = self.channels, self.patch_size ** 2
        groups = c if variant == "channelwise" else 1
        self.whitening = Whitening(self.dim // groups, groups, whitening, whitening_tol, remove_dc)
        n = self.n_experts
        if variant == "separable":
            self.u = nn.Parameter(F.normalize(torch.randn(n, c), dim=1))
            v = dct_filters(n, self.patch_size, 1) if init == "dct" else F.normalize(torch.randn(n, p2), dim=1)
            self.v = nn.Parameter(v.float())
        else:
            d = self.dim // groups
            if init == "dct":
                w = dct_filters(n, self.patch_size, c // groups).reshape(1, n, d).repeat(groups, 1, 1)
            else:
                w = F.normalize(torch.randn(groups, n, d), dim=2)
            self.weight = nn.Parameter(w.float())
        self.alpha_raw = nn.Parameter(torch.full((groups * n,), math.log(math.e - 1.0)))  # α = softplus = 1

    # --- the potential -------------------------------------------------------------------
    @abstractmethod
    def potential(self, y: Tensor, order: int) -> Tensor:
        """ρ (order 0), ρ' (1) or ρ'' (2) applied elementwise."""

    # --- parameters ----------------------------------------------------------------------
    @property
    def alpha(self) -> Tensor:
        """Expert weights α_i > 0, (n_filters,)."""
        return F.softplus(self.alpha_raw)

    @property
    def n_filters(self) -> int:
        return self.alpha_raw.shape[0]

    def whitened_filters(self) -> Tensor:
        """Filters in whitened space (G, n, d), unit norm unless ``normalise=False``."""
        if self.variant == "separable":
            u, v = self.u, self.v
            if self.normalise:
                u, v = F.normalize(u, dim=1), F.normalize(v, dim=1)
            return (u[:, :, None] * v[:, None, :]).reshape(1, self.n_experts, self.dim)
        return F.normalize(self.weight, dim=2) if self.normalise else self.weight

    def filters(self) -> tuple[Tensor, Tensor]:
        """Folded convolution (weight (n_filters, C/G, p, p), bias (n_filters,))."""
        f, b = self.whitening.fold(self.whitened_filters())
        p = self.patch_size
        return f.reshape(self.n_filters, -1, p, p), b.reshape(-1)

    @property
    def _groups(self) -> int:
        return self.channels if self.variant == "channelwise" else 1

    def responses(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Filter responses y (B, n_filters, H−p+1, W−p+1) and the folded weight."""
        self.check_input(z)
        f, b = self.filters()
        f, b = f.to(z.dtype), b.to(z.dtype)
        if z.shape[-2:] != (self.patch_size, self.patch_size):
            return F.conv2d(z, f, b, groups=self._groups), f
        g = self._groups                                # one patch per item: a (grouped) matmul
        y = torch.einsum("bgd,gnd->bgn", z.reshape(z.shape[0], g, -1), f.reshape(g, -1, f[0].numel()))
        return (y.reshape(z.shape[0], -1) + b)[:, :, None, None], f

    def _adjoint(self, a: Tensor, f: Tensor) -> Tensor:
        """Σ_i f_i ⋆ᵀ a_i: the transpose of :meth:`responses`' linear part."""
        g, p = self._groups, self.patch_size
        if a.shape[-2:] == (1, 1):
            out = torch.einsum("bgn,gnd->bgd", a.reshape(a.shape[0], g, -1), f.reshape(g, -1, f[0].numel()))
            return out.reshape(a.shape[0], self.channels, p, p)
        if g > 1:
            return F.conv_transpose2d(a, f, groups=g)
        return shift_add(f.flatten(1).T @ a.flatten(2), self.channels, p, a.shape[-2:])

    # --- energy, gradient, second derivatives ---------------------------------------------
    def _alpha(self, z: Tensor) -> Tensor:
        return self.alpha.to(z.dtype)[None, :, None, None]

    def forward(self, z: Tensor) -> Tensor:
        y, _ = self.responses(z)
        return (self._alpha(z) * self.potential(y, 0)).flatten(1).sum(1)

    def potentials(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """(ρ(y), ρ'(y)); subclasses fuse the two."""
        return self.potential(y, 0), self.potential(y, 1)

    def value_and_grad(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(E(z), ∂E/∂z). Differentiable in the parameters when autograd records (score
        matching); otherwise (inversion, denoising under ``no_grad``) the in-place path
        :meth:`_value_and_grad_inplace`, same values, without the autograd-safe temporaries."""
        if torch.is_grad_enabled() and (z.requires_grad or any(q.requires_grad for q in self.parameters())):
            y, f = self.responses(z)
            alpha = self.alpha.to(z.dtype)
            rho, rho1 = self.potentials(y)
            value = rho.sum((2, 3)) @ alpha                          # Σ_i α_i Σ_patches ρ(y_i)
            grad = self._adjoint(rho1, f * alpha[:, None, None, None])  # α folded into the filters
            return value, grad
        with torch.no_grad():
            return self._value_and_grad_inplace(z)

    def _value_and_grad_inplace(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """One convolution for y, one fused pass family turning y into ρ'(y) in place while
        summing ρ(y) (:meth:`potential_sums_`, into a scratch buffer kept between calls), and
        the adjoint with α folded into the filters."""
        y, f = self.responses(z)
        alpha = self.alpha.to(z.dtype)
        scratch = self._scratch_like(y)
        value = self.potential_sums_(y, scratch) @ alpha
        return value, self._adjoint(y, f * alpha[:, None, None, None])

    def _scratch_like(self, y: Tensor) -> Tensor:
        """A buffer shaped like ``y``, reused between calls: large maps freshly allocated every
        step cost page faults comparable to the arithmetic (not saved with the module)."""
        buf = self.__dict__.get("_scratch")
        if buf is None or buf.shape != y.shape or buf.dtype != y.dtype or buf.device != y.device:
            buf = torch.empty_like(y, memory_format=torch.contiguous_format)
            self.__dict__["_scratch"] = buf
        return buf

    def potential_sums_(self, y: Tensor, scratch: Tensor) -> Tensor:
        """Σ_patches ρ(y) per item and filter (B, n_filters); ``y`` is overwritten by ρ'(y).
        Subclasses fuse this into a few in-place passes; ``scratch`` is free memory like ``y``."""
        rho, rho1 = self.potentials(y)
        y.copy_(rho1)
        return rho.sum((2, 3))

    def laplacian(self, z: Tensor) -> Tensor:
        """ΔE(z) = tr ∇²E, exactly, (B,)."""
        y, f = self.responses(z)
        norms = f.flatten(1).pow(2).sum(1)[None, :, None, None]
        return (self._alpha(z) * norms * self.potential(y, 2)).flatten(1).sum(1)

    def hessian_diagonal(self, z: Tensor) -> Tensor:
        """∂²E/∂z_d² for every coordinate d, like ``z``."""
        y, f = self.responses(z)
        return self._adjoint(self._alpha(z) * self.potential(y, 2), f * f)

    def fit_whitening(self, patches: Tensor) -> None:
        """Fit centring + whitening from (N, C, p, p) patches (per channel for ``channelwise``)."""
        self.check_patches(patches)
        g = self._groups
        self.whitening.fit(patches.reshape(patches.shape[0], g, -1))

    def hparams(self) -> dict[str, Any]:
        return {"channels": self.channels, "patch_size": self.patch_size, "n_experts": self.n_experts,
                "variant": self.variant, "whitening": self.whitening.mode,
                "whitening_tol": self.whitening.rel_tol, "normalise": self.normalise, "init": self.init,
                "remove_dc": self.whitening.remove_dc}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())
