"""Statistics of feature maps (the thesis' Sec. 3 / Fig. 1): are feature maps stationary,
sparse, heavy-tailed? What a learned prior on a feature map has to model.

Notation: Φ (N, C, H, W) feature maps at a layer; every channel is standardised (zero mean,
unit variance over images and positions) so that channels count alike; dead channels
(zero variance) are dropped.

- **Average covariance of flattened maps** Σ (d × d, d = w²): each channel of each image,
  cut into non-overlapping w × w tiles, is one sample z ∈ ℝᵈ (flattened row-major);
  Σ = cov(z) over all samples (centred per coordinate, divided by S − 1).
- **Its inverse** P = (Σ + εI)⁻¹ with ε = ``ridge`` · tr(Σ)/d (a small ridge keeps P finite
  when Σ is rank-deficient, e.g. ReLU maps).
- **Toeplitz distance** of a d × d matrix M over a w × w grid:
  τ(M) = ‖M − Π(M)‖_F / ‖M‖_F, where Π is the orthogonal (Frobenius) projection onto
  block-Toeplitz-with-Toeplitz-blocks matrices, i.e. matrices whose entry (p, q) depends only
  on the displacement (y_p − y_q, x_p − x_q): Π replaces every entry by the mean of the
  entries with the same displacement. τ ∈ [0, 1]; τ = 0 exactly when M is the covariance
  (or precision) structure of a stationary field, τ → 1 when nothing is shared along
  displacements. The number reported for a layer is τ(P), "how close the inverse covariance
  is to Toeplitz" (thesis Fig. 1), beside τ(Σ). Its bound: the inverse of a finite
  stationary covariance is not exactly BTTB (the window's edges), so τ(P) is compared with
  ``toeplitz_bound_inverse`` τ* = τ((Π(Σ) + εI)⁻¹), the value for the nearest stationary
  covariance (same correlations, same window and ridge): τ(P) ≈ τ* means stationary, τ(P) ≫ τ*
  not. For Σ the bound is 0 up to a sampling floor of about √(d / S) (the τ(Σ) of white noise
  from S samples), reported as ``sampling_floor``.
- **Gram matrix** G = (1 / (N·H·W)) Σ_n F_n F_nᵀ of the raw maps F_n (C × HW) (Gatys et al.).
- **Sparsity**: the fraction of exact zeros of the raw maps; **kurtosis**: the excess
  kurtosis E[z⁴] − 3 of the standardised activations (0 for a Gaussian; equal weight per
  channel).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from preimage.representations.errors import PreimageError


def standardise(phi: Tensor) -> Tensor:
    """(N, C, H, W) → the same with each live channel at zero mean, unit variance; dead channels dropped."""
    phi = phi.double()
    mean = phi.mean(dim=(0, 2, 3), keepdim=True)
    std = phi.std(dim=(0, 2, 3), keepdim=True)
    live = std.flatten() > 1e-12 * std.max().clamp_min(1e-300)
    return ((phi - mean) / std.clamp_min(1e-300))[:, live]


def tile_samples(phi: Tensor, window: int) -> Tensor:
    """(N, C, H, W) → (S, w²): every channel of every map cut into non-overlapping w × w tiles."""
    n, c, h, w = phi.shape
    if window < 1 or window > min(h, w):
        raise PreimageError(f"window {window} does not fit the {h}x{w} feature maps; use 1..{min(h, w)}")
    t = phi.unfold(2, window, window).unfold(3, window, window)  # (N, C, H/w, W/w, w, w)
    return t.reshape(-1, window * window)


def covariance(samples: Tensor) -> Tensor:
    """(S, d) → (d, d) sample covariance (centred per coordinate, S − 1)."""
    if samples.shape[0] < 2:
        raise PreimageError("the covariance needs at least two samples; give more images or a smaller window")
    z = samples - samples.mean(0, keepdim=True)
    return z.T @ z / (samples.shape[0] - 1)


def precision(cov: Tensor, ridge: float = 1e-3) -> Tensor:
    """(Σ + ε I)⁻¹, ε = ridge · tr(Σ)/d."""
    d = cov.shape[0]
    eps = ridge * float(torch.diagonal(cov).mean())
    return torch.linalg.inv(cov + eps * torch.eye(d, dtype=cov.dtype, device=cov.device))


def _displacement_index(window: int, device: torch.device | None = None) -> Tensor:
    """(d, d) index of the displacement (Δy, Δx) of every pair of grid positions."""
    y, x = torch.meshgrid(torch.arange(window, device=device), torch.arange(window, device=device), indexing="ij")
    y, x = y.flatten(), x.flatten()
    dy = y[:, None] - y[None, :] + window - 1
    dx = x[:, None] - x[None, :] + window - 1
    return dy * (2 * window - 1) + dx


def toeplitz_projection(m: Tensor, window: int) -> Tensor:
    """Π(M): the orthogonal projection of a (w², w²) matrix onto BTTB matrices."""
    idx = _displacement_index(window, m.device).flatten()
    k = (2 * window - 1) ** 2
    sums = torch.zeros(k, dtype=m.dtype, device=m.device).index_add_(0, idx, m.flatten())
    counts = torch.zeros(k, dtype=m.dtype, device=m.device).index_add_(0, idx, torch.ones_like(m.flatten()))
    return (sums / counts.clamp_min(1))[idx].reshape(m.shape)


def toeplitz_distance(m: Tensor, window: int) -> float:
    """τ(M) = ‖M − Π(M)‖_F / ‖M‖_F ∈ [0, 1] (0: stationary structure)."""
    return float((m - toeplitz_projection(m, window)).norm() / m.norm().clamp_min(1e-300))


def gram(phi: Tensor) -> Tensor:
    """(N, C, H, W) → (C, C) Gram matrix averaged over images and positions."""
    f = phi.double().flatten(2)  # (N, C, HW)
    return torch.einsum("ncp,ndp->cd", f, f) / (f.shape[0] * f.shape[2])


def excess_kurtosis(z: Tensor) -> float:
    """Mean over channels of E[z⁴] − 3 for standardised (N, C, H, W) maps."""
    return float(z.pow(4).mean(dim=(0, 2, 3)).mean() - 3.0)


@dataclass
class LayerStats:
    layer: str
    shape: tuple[int, int, int]
    window: int
    samples: int
    live_channels: int
    toeplitz_distance_inverse: float
    toeplitz_bound_inverse: float
    toeplitz_distance_covariance: float
    sampling_floor: float
    fraction_zero: float
    kurtosis: float
    covariance: Tensor
    precision: Tensor
    gram: Tensor


def layer_stats(phi: Tensor, layer: str, window: int = 16, ridge: float = 1e-3) -> LayerStats:
    """All statistics of one layer's maps (N, C, H, W)."""
    w = min(window, phi.shape[-2], phi.shape[-1])
    z = standardise(phi)
    if z.shape[1] == 0:
        raise PreimageError(f"every channel of layer {layer!r} is constant on these images; nothing to measure")
    samples = tile_samples(z, w)
    cov = covariance(samples)
    prec = precision(cov, ridge)
    return LayerStats(layer, tuple(phi.shape[1:]), w, samples.shape[0], z.shape[1],
                      toeplitz_distance(prec, w), toeplitz_distance(precision(toeplitz_projection(cov, w), ridge), w),
                      toeplitz_distance(cov, w), (w * w / samples.shape[0]) ** 0.5,
                      float((phi == 0).double().mean()), excess_kurtosis(z), cov, prec, gram(phi))
