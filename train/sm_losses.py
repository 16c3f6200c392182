"""The score-matching loss of a training step, by name, on noisy data (the losses
themselves live in :mod:`preimage.priors.score_matching`).

``exact``: Hyvärinen (2005) J = ⟨½‖∇E‖² − ΔE⟩, in closed form for linear-expert energies
(FoE, ICA: ``laplacian``), by autograd otherwise; ``sliced``: Song et al. (2019);
``dsm``: Vincent (2011) at noise level ``noise_std``. For ``exact`` and ``sliced`` the batch
first gets Gaussian noise of std ``noise_std`` (dequantisation of 8-bit data), and
``curvature`` > 0 adds Kingma & LeCun's (2010) penalty on the Hessian's diagonal.
"""

from __future__ import annotations

import torch
from torch import Tensor

LOSSES = ("exact", "sliced", "dsm")


def score_matching_loss(energy, x: Tensor, loss: str, noise_std: float, n_slices: int = 1,
                        curvature: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
    """Mean loss over the batch ``x`` (B, C, H, W); the noise is drawn from ``generator``."""
    from preimage.priors import score_matching as sm

    if loss == "dsm":
        value = sm.dsm_loss(energy, x, noise_std, generator)
    else:
        noise = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
        xn = x + noise_std * noise
        if loss == "exact":
            value = sm.hyvarinen_loss(energy, xn) if hasattr(energy, "laplacian") else sm.exact_sm_loss(energy, xn)
        elif loss == "sliced":
            value = sm.sliced_sm_loss(energy, xn, n_slices, generator)
        else:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if curvature > 0:
            value = value + curvature * sm.curvature_penalty(energy, xn)
    return value
