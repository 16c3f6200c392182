"""Score-matching losses for energies E (score ψ = ∇ log p = −∇E).

Every loss is the mean over the batch of a per-item objective; ``x`` is a batch of patches
(B, C, p, p) or of whole images / maps (B, C, H, W) — for a whole image the energy is the
sum over its overlapping patches, so the loss is the score-matching loss of the field, not
of isolated patches. All are differentiable in the energy's parameters.

- :func:`hyvarinen_loss`  closed form for Σ_i α_i ρ(w_iᵀx) (Hyvärinen, JMLR 2005, Eq. 4 and §4):
  J = ½‖∇E‖² − ΔE. With ρ = −G (G the log-potential) this is Hyvärinen's
  Σ_i α_i ⟨g′(w_iᵀx)⟩‖w_i‖² + ½ Σ_jk α_j α_k (w_jᵀw_k) ⟨g(w_jᵀx) g(w_kᵀx)⟩, g = G′.
- :func:`exact_sm_loss`   the same objective for any energy, trace of the Hessian by autograd.
- :func:`sliced_sm_loss`  sliced score matching, vᵀ∇²E v for Gaussian v (Song et al., UAI 2019,
  Eq. 8, the variance-reduced form with ½‖∇E‖² in closed form).
- :func:`dsm_loss`        denoising score matching ½‖∇E(x + σε) − ε/σ‖² (Vincent, Neural Comp. 2011, Eq. 9).
- :func:`curvature_penalty` the regulariser: Kingma & LeCun (NIPS 2010, Eq. 9) penalise the squared
  diagonal of the Hessian, λ Σ_d (∂²E/∂x_d²)², which keeps score matching from rewarding
  arbitrarily sharp peaks on the lattice of quantised pixel values.
"""

from __future__ import annotations

import torch
from torch import Tensor

from preimage.priors.learned import PatchEnergy


def _grad_graph(energy: PatchEnergy, x: Tensor) -> tuple[Tensor, Tensor]:
    """(x with requires_grad, ∇E(x) with a graph for second derivatives)."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(x).sum(), x, create_graph=True)
    return x, g


def hyvarinen_loss(model: PatchEnergy, x: Tensor) -> Tensor:
    """Closed-form J(θ) = ⟨½‖∇E(x)‖² − ΔE(x)⟩ for linear-expert energies (FoE, ICA)."""
    _, grad = model.value_and_grad(x)
    return (0.5 * grad.flatten(1).pow(2).sum(1) - model.laplacian(x)).mean()


def exact_sm_loss(energy: PatchEnergy, x: Tensor) -> Tensor:
    """J(θ) for any energy: ΔE = Σ_d ∂²E/∂x_d² by one backward pass per coordinate (small inputs)."""
    x, g = _grad_graph(energy, x)
    flat = g.flatten(1)
    d = flat.shape[1]
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    (h,) = torch.autograd.grad(flat, x, grad_outputs=eye[:, None, :].expand(d, *flat.shape),
                               create_graph=True, is_grads_batched=True)          # (d, B, ...)
    lap = torch.einsum("dbd->b", h.flatten(2))
    return (0.5 * flat.pow(2).sum(1) - lap).mean()


def sliced_sm_loss(energy: PatchEnergy, x: Tensor, n_projections: int = 1,
                   generator: torch.Generator | None = None) -> Tensor:
    """Sliced SM: ⟨½‖∇E‖² − vᵀ∇²E v⟩ over v ~ N(0, I); unbiased for :func:`exact_sm_loss`."""
    x, g = _grad_graph(energy, x)
    v = torch.randn((n_projections, *x.shape), dtype=x.dtype, device=x.device, generator=generator)
    (hv,) = torch.autograd.grad(g, x, grad_outputs=v, create_graph=True, is_grads_batched=True)
    vhv = (v * hv).flatten(2).sum(2).mean(0)                                          # (B,)
    return (0.5 * g.flatten(1).pow(2).sum(1) - vhv).mean()


def dsm_loss(energy: PatchEnergy, x: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """Denoising SM: ⟨½‖∇E(x̃) − ε/σ‖²⟩, x̃ = x + σε: fits the score of the σ-smoothed data."""
    eps = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
    _, grad = energy.value_and_grad(x + sigma * eps)
    return 0.5 * (grad - eps / sigma).flatten(1).pow(2).sum(1).mean()


def curvature_penalty(model: PatchEnergy, x: Tensor) -> Tensor:
    """Kingma & LeCun (2010) regulariser ⟨Σ_d (∂²E/∂x_d²)²⟩; closed form for linear-expert
    energies (``hessian_diagonal``), autograd otherwise. Add λ · this to a score-matching loss."""
    if hasattr(model, "hessian_diagonal"):
        h = model.hessian_diagonal(x)
    else:
        x, g = _grad_graph(model, x)
        flat = g.flatten(1)
        d = flat.shape[1]
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        (hh,) = torch.autograd.grad(flat, x, grad_outputs=eye[:, None, :].expand(d, *flat.shape),
                                    create_graph=True, is_grads_batched=True)
        h = torch.einsum("dbd->bd", hh.flatten(2))
    return h.flatten(1).pow(2).sum(1).mean()


LOSSES = ("exact", "sliced", "dsm")


def score_matching_loss(energy: PatchEnergy, x: Tensor, loss: str, noise_std: float, n_slices: int = 1,
                        curvature: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
    """The loss of a training step by name, mean over the batch ``x`` (B, C, H, W); the noise
    is drawn from ``generator``. ``exact``: Hyvärinen (2005), in closed form for linear-expert
    energies (``laplacian``), by autograd otherwise; ``sliced``: Song et al. (2019); ``dsm``:
    Vincent (2011) at ``noise_std``. For ``exact`` and ``sliced`` the batch first gets Gaussian
    noise of std ``noise_std`` (dequantisation of 8-bit data), and ``curvature`` > 0 adds
    Kingma & LeCun's (2010) penalty on the Hessian's diagonal."""
    if loss == "dsm":
        value = dsm_loss(energy, x, noise_std, generator)
    else:
        noise = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
        xn = x + noise_std * noise
        if loss == "exact":
            value = hyvarinen_loss(energy, xn) if hasattr(energy, "laplacian") else exact_sm_loss(energy, xn)
        elif loss == "sliced":
            value = sliced_sm_loss(energy, xn, n_slices, generator)
        else:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if curvature > 0:
            value = value + curvature * curvature_penalty(energy, xn)
    return value
