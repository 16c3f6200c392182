"""Reconstruction metrics, each named for what it computes.

Feature space
- :func:`relative_error` — √(‖Φ(x*) − Φ₀‖² / ‖Φ₀‖²) per item (IJCV'16).
- :func:`table1_error` — CVPR'15 Table 1 exactly as computed by deep-goggle
  ``experiment_shallow_quantitative.m``: ‖Φ(x*ᵢ) − Φ(xᵢ)‖² / mean_{i,j} ‖Φ(xᵢ) − Φ(xⱼ)‖²
  (squared; the mean runs over all N² pairs, i = j included). Returns per-image values:
  the paper reports their mean ± std.
- :func:`normalised_error_text` — CVPR'15 Sec. 4 as written: ‖Φ(x*ᵢ) − Φ(xᵢ)‖ / N_Φ with
  N_Φ the average Euclidean distance between representations of different images.

Image space (RGB in [0, 1]): :func:`image_mse`, :func:`image_psnr`, :func:`image_ssim`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _flat(phi: Tensor) -> Tensor:
    return phi.reshape(phi.shape[0], -1).to(torch.float64)


def relative_error(phi: Tensor, phi0: Tensor) -> Tensor:
    """(B, …) × (B | 1, …) → (B,)."""
    a, b = _flat(phi), _flat(phi0.expand_as(phi))
    return ((a - b).pow(2).sum(1) / b.pow(2).sum(1).clamp_min(1e-300)).sqrt()


def pairwise_sq_distances(phi: Tensor) -> Tensor:
    """(N, …) → (N, N) squared Euclidean distances (pdist2(...).^2)."""
    f = _flat(phi)
    return torch.cdist(f, f).pow(2)


def table1_error(phi_rec: Tensor, phi_orig: Tensor) -> Tensor:
    """Per-image CVPR'15 Table 1 error (a fraction; ×100 for the paper's %)."""
    norm = pairwise_sq_distances(phi_orig).mean()
    return (_flat(phi_rec) - _flat(phi_orig)).pow(2).sum(1) / norm


def normalised_error_text(phi_rec: Tensor, phi_orig: Tensor) -> Tensor:
    """Per-image ‖Φ(x*ᵢ) − Φ(xᵢ)‖ / N_Φ, N_Φ = mean over i ≠ j of ‖Φ(xᵢ) − Φ(xⱼ)‖."""
    f = _flat(phi_orig)
    n = f.shape[0]
    if n < 2:
        raise ValueError("the normalised error needs at least two images to define N_Φ")
    d = torch.cdist(f, f)
    n_phi = d.sum() / (n * (n - 1))
    return (_flat(phi_rec) - f).norm(dim=1) / n_phi


def image_mse(x: Tensor, ref: Tensor) -> Tensor:
    """Mean squared error per item, images in [0, 1]: (B, 3, H, W) → (B,)."""
    return (x - ref.expand_as(x)).pow(2).flatten(1).mean(1)


def image_psnr(x: Tensor, ref: Tensor) -> Tensor:
    """PSNR in dB per item for images in [0, 1] (torchmetrics, data_range 1)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    ref = ref.expand_as(x)
    return torch.stack([peak_signal_noise_ratio(a[None], b[None], data_range=1.0) for a, b in zip(x, ref)])


def image_ssim(x: Tensor, ref: Tensor) -> Tensor:
    """SSIM per item for images in [0, 1] (torchmetrics, Gaussian 11×11, σ = 1.5)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    return structural_similarity_index_measure(x, ref.expand_as(x), data_range=1.0, reduction="none")
