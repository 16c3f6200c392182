"""Over-complete ICA / product of experts on whitened patches (Hyvärinen, JMLR 2005, §4;
Hyvärinen, Hurri & Hoyer 2009, §13.1).

The log-density is log p(x) = Σ_patches Σ_i α_i G(w_iᵀ x̃) + c with a super-Gaussian G, so the
energy is **E(x) = −Σ_patches Σ_i α_i G(w_iᵀ x̃)**:

- ``G = 'logcosh'``: G(u) = −log cosh u (Hyvärinen's choice), E = Σ α_i log cosh(w_iᵀ x̃) —
  a heavy-tailed (Laplace-like, exponential-tailed) density for α_i > 0;
- ``G = 'logistic'``: G(u) = −2 log cosh(u/2) = log of the logistic density sech²(u/2)/4
  (up to a constant), E = Σ α_i 2 log cosh(w_iᵀ x̃ / 2).

Filters are unit norm in whitened space (renormalised in every forward pass), α_i > 0;
folding and feature-map variants as in :mod:`priors.experts`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from preimage.priors.experts import LinearExpertEnergy
from preimage.priors.registry import register_prior
from preimage.representations.errors import PreimageError

_LOG2 = math.log(2.0)


def log_cosh(y: Tensor) -> Tensor:
    """log cosh y without overflow: |y| + log(1 + e^{−2|y|}) − log 2."""
    a = y.abs()
    return a + F.softplus(-2.0 * a) - _LOG2


@register_prior
class OvercompleteICA(LinearExpertEnergy):
    """ρ = −G: log-cosh (s = 1) or logistic (s = ½): ρ(y) = log cosh(s y)/s, ρ' = tanh(s y),
    ρ'' = s (1 − tanh²(s y))."""

    kind = "ica"

    def __init__(self, channels: int = 1, patch_size: int = 5, n_components: int = 24, G: str = "logcosh",
                 variant: str = "full", whitening: str | None = "zca", whitening_tol: float = 1e-5,
                 normalise: bool = True, init: str = "random", remove_dc: bool = True) -> None:
        if G not in ("logcosh", "logistic"):
            raise PreimageError(f"G {G!r} is not known; use 'logcosh' or 'logistic'")
        super().__init__(channels, patch_size, n_components, variant, whitening, whitening_tol, normalise, init, remove_dc)
        self.G = G
        self._s = 1.0 if G == "logcosh" else 0.5

    def potential(self, y: Tensor, order: int) -> Tensor:
        s = self._s
        if order == 0:
            return log_cosh(s * y) / s
        t = torch.tanh(s * y)
        return t if order == 1 else s * (1.0 - t * t)

    def potentials(self, y: Tensor) -> tuple[Tensor, Tensor]:
        u = y if self._s == 1.0 else self._s * y
        return log_cosh(u) / self._s, torch.tanh(u)

    def potential_sums_(self, y: Tensor, scratch: Tensor) -> Tensor:
        # log cosh u = |u| − log(1 + tanh|u|)  (1 + e^{−2|u|} = 2 / (1 + tanh|u|)): the tanh that
        # ρ' needs anyway replaces the exp and log1p of :func:`log_cosh`
        s = self._s
        u = y if s == 1.0 else y.mul_(s)
        total = torch.abs(u, out=scratch).sum((2, 3))             # Σ |u|
        t = u.tanh_()                                             # ρ' = tanh(s y), in place
        total -= torch.abs(t, out=scratch).add_(1.0).log_().sum((2, 3))   # − Σ log(1 + tanh|u|)
        return total if s == 1.0 else total / s

    def hparams(self) -> dict:
        h = super().hparams()
        h["n_components"] = h.pop("n_experts")
        h["G"] = self.G
        return h
