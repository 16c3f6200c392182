"""Field of experts (Roth & Black, CVPR 2005, Eq. 5; IJCV 2009, Eq. 9).

    E(x) = Σ_patches Σ_i α_i log(1 + ½ (w_iᵀ x̃)²)

Student-t experts on whitened patches; see :mod:`priors.experts` for the folding into one
convolution, the unit-norm filters (renormalised in every forward pass) and the feature-map
variants (``full``, ``channelwise``, ``separable``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from preimage.priors.experts import LinearExpertEnergy
from preimage.priors.registry import register_prior


@register_prior
class FieldOfExperts(LinearExpertEnergy):
    """ρ(y) = log(1 + y²/2), ρ' = y / (1 + y²/2), ρ'' = (1 − y²/2) / (1 + y²/2)²."""

    kind = "foe"

    def __init__(self, channels: int = 1, patch_size: int = 5, n_experts: int = 24, variant: str = "full",
                 whitening: str | None = "zca", whitening_tol: float = 1e-5, normalise: bool = True,
                 init: str = "dct", remove_dc: bool = True) -> None:
        super().__init__(channels, patch_size, n_experts, variant, whitening, whitening_tol, normalise, init, remove_dc)

    def potential(self, y: Tensor, order: int) -> Tensor:
        q = 1.0 + 0.5 * y * y
        if order == 0:
            return q.log()
        if order == 1:
            return y / q
        return (2.0 - q) / (q * q)

    def potentials(self, y: Tensor) -> tuple[Tensor, Tensor]:
        q = torch.addcmul(torch.ones_like(y), y, y, value=0.5)
        return q.log(), y / q

    def potential_sums_(self, y: Tensor, scratch: Tensor) -> Tensor:
        q = torch.addcmul(y.new_ones(()), y, y, value=0.5, out=scratch)   # q = 1 + y²/2, one pass
        y.div_(q)                                                 # ρ' = y / q
        return q.log_().sum((2, 3))                              # Σ ρ = Σ log q
