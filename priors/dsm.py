"""Denoising score matching for score priors (Vincent, Neural Comp. 2011, Eq. 9; over noise
levels as Song & Ermon, NeurIPS 2019, Eq. 5–6).

For clean z, σ ~ log-uniform[σ_min, σ_max] per item and ε ~ N(0, I):

    ℓ(z, σ, ε) = ‖σ·s_θ(z + σε, σ) + ε‖² = ‖D_θ(z + σε, σ) − z‖² / σ²

(sum over the item's C·H·W entries), i.e. Song & Ermon's λ(σ) = σ² weighting, under which
every noise level contributes O(dim) whatever σ is: the loss is the noise-prediction error
‖ε̂ − ε‖² of :class:`~preimage.priors.score.ScoreDenoiser`. Its minimiser over θ is the MMSE
denoiser, hence s_θ = ∇ log p_σ (Tweedie). ``loss`` is the batch mean of ℓ; ``loss / dim``
is the mean squared error per entry in units of σ² (1 for D = z + σε unchanged, 0 for perfect).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from preimage.priors.score import ScorePrior, check_sigma
from preimage.representations.errors import PreimageError


@dataclass
class DSMLoss:
    """``loss`` (scalar, differentiable in θ), ``per_item`` ℓ (B,), the ``sigma`` (B,) drawn."""

    loss: Tensor
    per_item: Tensor
    sigma: Tensor


def log_uniform_sigmas(batch: int, sigma_min: float, sigma_max: float, generator: torch.Generator | None = None,
                       device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """σ = exp(U[log σ_min, log σ_max]) per item, (B,); drawn on the generator's device."""
    if not (0 < sigma_min <= sigma_max and math.isfinite(sigma_max)):
        raise PreimageError(f"need 0 < sigma_min ≤ sigma_max < inf, got {sigma_min} and {sigma_max}")
    gdev = generator.device if generator is not None else device
    u = torch.rand(batch, generator=generator, device=gdev, dtype=torch.float64).to(device)
    return torch.exp(math.log(sigma_min) + u * (math.log(sigma_max) - math.log(sigma_min))).to(dtype)


def dsm_score_loss(model: ScorePrior, z: Tensor, sigma_min: float, sigma_max: float,
                   generator: torch.Generator | None = None, noise: Tensor | None = None,
                   sigma: Tensor | float | None = None) -> DSMLoss:
    """σ²-weighted DSM loss of ``model`` on clean (B, C, H, W) ``z``; ``noise`` ε and ``sigma``
    fix the draws (else drawn from ``generator``)."""
    b = z.shape[0]
    s = check_sigma(log_uniform_sigmas(b, sigma_min, sigma_max, generator, z.device, z.dtype) if sigma is None
                    else sigma, b, z)                                                        # (B, 1, 1, 1)
    if noise is None:
        gdev = generator.device if generator is not None else z.device
        noise = torch.randn(z.shape, generator=generator, device=gdev, dtype=z.dtype).to(z.device)
    denoised = model.denoise(z + s * noise, s)
    per_item = (denoised - z).div(s).flatten(1).pow(2).sum(1)
    return DSMLoss(per_item.mean(), per_item, s.reshape(b))
