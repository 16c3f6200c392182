"""MAP denoising with a learned prior, the standard test of a patch prior (Roth & Black 2005,
§4.1; Zoran & Weiss 2011, §3).

    x̂ = argmin_x ½‖x − y‖²/σ² + λ E(x)

- :func:`map_denoise` — any energy with ``value_and_grad``: L-BFGS with a strong-Wolfe line
  search on the batch's summed objective (items are independent, so the sum's minimiser is
  every item's minimiser); gradients in closed form, no autograd.
- :func:`red_denoise` — a score prior (gradient only, no energy) by regularisation by denoising
  (Romano, Elad & Milanfar, SIAM J. Imaging Sci. 2017, the fixed-point iteration): the
  stationarity condition (x − y)/σ² = λ s(x, σ_p) = λ (D(x, σ_p) − x)/σ_p² solved by
  x ← (y/σ² + (λ/σ_p²) D(x, σ_p)) / (1/σ² + λ/σ_p²); σ_p defaults to σ. One pass of D (the MMSE
  estimate, Tweedie) is ``ScorePrior.denoise`` itself.
- :func:`ensemble_denoise` — a score prior's geometric self-ensemble (×8; Timofte, Rothe & Van Gool,
  CVPR 2016, §3.2; Lim et al., CVPRW 2017, §4.2): x̂ = ⅛ Σ_g g⁻¹ D(g y, σ) over the dihedral group
  D₄ of the square (4 rotations by 90° × an optional left-right flip, :func:`dihedral`). Gaussian
  noise is invariant under g, so each term is a denoiser of y; their mean is equivariant by
  construction, and for an already equivariant D it is D itself. It costs 8 passes of D.
- :func:`epll_denoise` — the GMM prior by EPLL's half-quadratic splitting (Zoran & Weiss 2011,
  §2.1, Eq. 4–5): for β in σ⁻²·(1, 4, 8, 16, 32), alternate
  z_i = Wiener estimate of the patch P_i x under the MAP component k_i = argmax_k π_k N(P_i x; μ_k, Σ_k + β⁻¹I)
  and x = (y/σ² + λβ Σ_i P_iᵀ z_i) / (1/σ² + λβ Σ_i P_iᵀP_i)  (a per-pixel division).
  The patch mean (DC) passes through the Wiener step unchanged, as in EPLL.

Inputs are (B, C, H, W) in the units the prior was trained in, σ in the same units.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from preimage.priors.gmm import GMMPatchPrior
from preimage.priors.learned import PatchEnergy, fold_patches, patches_of
from preimage.representations.errors import PreimageError

EPLL_BETAS = (1.0, 4.0, 8.0, 16.0, 32.0)
#: The order of the dihedral group D₄ of the square: element k is rot90^(k mod 4), then a flip if k ≥ 4.
DIHEDRAL = 8


def _check_element(k: int) -> int:
    if not 0 <= int(k) < DIHEDRAL:
        raise PreimageError(f"dihedral element k must be 0…7 (4 rotations × flip), got {k}")
    return int(k)


def dihedral(x: Tensor, k: int) -> Tensor:
    """Element ``k`` (0…7) of D₄ on the last two axes of ``x``: rotate by k·90° (mod 4), then
    flip left-right if k ≥ 4. Odd rotations swap H and W."""
    k = _check_element(k)
    x = torch.rot90(x, int(k) % 4, (-2, -1))
    return x.flip(-1) if k >= 4 else x


def undo_dihedral(x: Tensor, k: int) -> Tensor:
    """The inverse of :func:`dihedral`: ``undo_dihedral(dihedral(x, k), k) == x`` exactly."""
    k = _check_element(k)
    x = x.flip(-1) if k >= 4 else x
    return torch.rot90(x, -(int(k) % 4), (-2, -1))


def map_objective(energy: PatchEnergy, x: Tensor, y: Tensor, sigma: float, lam: float) -> tuple[Tensor, Tensor]:
    """(½‖x − y‖²/σ² + λE(x) per item, its gradient)."""
    e, g = energy.value_and_grad(x)
    r = (x - y) / sigma ** 2
    return 0.5 * ((x - y) * r).flatten(1).sum(1) + lam * e, r + lam * g


def map_denoise(energy: PatchEnergy, y: Tensor, sigma: float, lam: float = 1.0, steps: int = 200,
                init: Tensor | None = None) -> Tensor:
    """MAP estimate by L-BFGS (at most ``steps`` iterations), started at ``init`` (default y)."""
    x = (y if init is None else init).detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-12)

    def closure() -> Tensor:
        with torch.no_grad():
            value, grad = map_objective(energy, x, y, sigma, lam)
        x.grad = grad
        return value.sum()

    opt.step(closure)
    return x.detach()


def _wiener_patches(gmm: GMMPatchPrior, v: Tensor, beta: float) -> Tensor:
    """EPLL's patch step: MAP-component Wiener estimates of mean-removed patches v (n, D) at noise 1/β."""
    d = v.shape[1]
    cov = gmm.covariances().to(v.dtype)
    eye = torch.eye(d, dtype=v.dtype, device=v.device)
    noisy = cov + eye / beta                                     # Σ_k + β⁻¹I
    chol = torch.linalg.cholesky(noisy)
    means = gmm.means.to(v.dtype)
    diff = v[:, None, :] - means[None]                            # (n, K, D)
    sol = torch.linalg.solve_triangular(chol[None], diff[..., None], upper=False)[..., 0]
    log_lik = gmm.log_weights.to(v.dtype) - chol.diagonal(dim1=1, dim2=2).log().sum(1) - 0.5 * sol.pow(2).sum(2)
    k = log_lik.argmax(1)                                         # (n,)
    wiener = cov @ torch.cholesky_inverse(chol)                   # Σ_k (Σ_k + β⁻¹I)⁻¹, (K, D, D)
    z = torch.empty_like(v)
    for c in k.unique().tolist():
        sel = k == c
        z[sel] = means[c] + (v[sel] - means[c]) @ wiener[c].T
    return z


def epll_denoise(gmm: GMMPatchPrior, y: Tensor, sigma: float, lam: float = 1.0,
                 betas: Sequence[float] = EPLL_BETAS, iters_per_beta: int = 1) -> Tensor:
    """EPLL half-quadratic splitting with β = σ⁻² · ``betas``."""
    gmm.check_input(y)
    p, size = gmm.patch_size, y.shape[-2:]
    count = fold_patches(patches_of(torch.ones_like(y[:1]), p), size, p)        # Σ P_iᵀP_i (1, C, H, W)
    x = y.clone()
    with torch.no_grad():
        for b in betas:
            beta = b / sigma ** 2
            for _ in range(iters_per_beta):
                patches = patches_of(x, p)                                       # (B, L, D)
                m = patches.mean(2, keepdim=True)
                z = _wiener_patches(gmm, (patches - m).reshape(-1, gmm.dim), beta).reshape(patches.shape) + m
                x = (y / sigma ** 2 + lam * beta * fold_patches(z, size, p)) / (1.0 / sigma ** 2 + lam * beta * count)
    return x


def red_denoise(prior, y: Tensor, sigma: float, lam: float = 1.0, iters: int = 20,
                sigma_prior: float | None = None) -> Tensor:
    """RED's fixed-point iteration with a score prior's denoiser D (module docstring), started
    at y; ``sigma_prior`` σ_p the noise level D is run at (default σ). Converges for a
    non-expansive D since the update is a contraction with factor λσ²/(σ_p² + λσ²) < 1."""
    sp = float(sigma if sigma_prior is None else sigma_prior)
    a, b = 1.0 / sigma ** 2, lam / sp ** 2
    x = y.clone()
    with torch.no_grad():
        for _ in range(int(iters)):
            x = (a * y + b * prior.denoise(x, sp)) / (a + b)
    return x


def ensemble_denoise(prior, y: Tensor, sigma, transforms: int = DIHEDRAL) -> Tensor:
    """The geometric self-ensemble ⅛ Σ_g g⁻¹ D(g y, σ) of a score prior's denoiser D (module
    docstring) on (B, C, H, W) ``y``; ``transforms``: the first 1, 2, 4 or 8 elements of D₄ in
    :func:`dihedral`'s order (1: one pass of D; 8: the whole group).  Any H, W: an odd
    rotation of a non-square input is a (B, C, W, H) input, and D is fully convolutional."""
    if not callable(getattr(prior, "denoise", None)) or getattr(prior, "has_energy", True):
        raise PreimageError(f"the self-ensemble averages a score prior's denoiser D(z, sigma); "
                            f"{type(prior).__name__} has none; give a score prior (e.g. score-grey)")
    if not isinstance(y, Tensor) or y.dim() != 4:
        raise PreimageError(f"the self-ensemble denoises (B, C, H, W) batches, got "
                            f"{tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__}; add a batch axis")
    if int(transforms) not in (1, 2, 4, DIHEDRAL):
        raise PreimageError(f"transforms must be 1, 2, 4 or 8 (elements of the dihedral group), got {transforms}")
    with torch.no_grad():
        out = prior.denoise(y, sigma)
        for k in range(1, int(transforms)):
            out += undo_dihedral(prior.denoise(dihedral(y, k), sigma), k)
    return out / int(transforms)


def denoise(energy: PatchEnergy, y: Tensor, sigma: float, lam: float = 1.0, steps: int = 200) -> Tensor:
    """EPLL for a GMM prior, L-BFGS MAP for every other energy."""
    if isinstance(energy, GMMPatchPrior):
        return epll_denoise(energy, y, sigma, lam)
    return map_denoise(energy, y, sigma, lam, steps)
