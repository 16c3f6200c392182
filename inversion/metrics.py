"""Reconstruction metrics, each named for what it computes.

Feature space
- :func:`relative_error` — √(‖Φ(x*) − Φ₀‖² / ‖Φ₀‖²) per item (IJCV'16).
- :func:`table1_error` — CVPR'15 Table 1 exactly as computed by deep-goggle
  ``experiment_shallow_quantitative.m``: ‖Φ(x*ᵢ) − Φ(xᵢ)‖² / mean_{i,j} ‖Φ(xᵢ) − Φ(xⱼ)‖²
  (squared; the mean runs over all N² pairs, i = j included). Returns per-image values:
  the paper reports their mean ± std.
- :func:`normalised_error_text` — CVPR'15 Sec. 4 as written: ‖Φ(x*ᵢ) − Φ(xᵢ)‖ / N_Φ with
  N_Φ the average Euclidean distance between representations of different images.

Image space (RGB in [0, 1]): :func:`image_mse`, :func:`image_psnr`, :func:`image_ssim` (the
values of torchmetrics' PSNR and SSIM, computed here: its image package takes seconds to import).
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
    """PSNR in dB per item for images in [0, 1]: 10·log₁₀(1 / MSE) (data range 1; the value
    of torchmetrics' ``peak_signal_noise_ratio`` on each image alone)."""
    return image_mse(x, ref).reciprocal().log10().mul(10.0)


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (torchmetrics' ``_gaussian``)."""
    d = torch.arange((1 - size) / 2, (1 + size) / 2, 1, dtype=dtype, device=device)
    g = torch.exp(-torch.pow(d / sigma, 2) / 2)
    return g / g.sum()


def _blur(a: Tensor, g: Tensor, dim: int) -> Tensor:
    """Valid 1-D correlation of ``a`` with ``g`` along ``dim``: Σ_k g_k · a[k : k + n]
    (shifted in-place sums; on the CPU several times faster than a grouped conv2d)."""
    n = a.shape[dim] - g.numel() + 1
    out = a.narrow(dim, 0, n) * float(g[0])
    for k, w in enumerate(g.tolist()[1:], 1):
        out.add_(a.narrow(dim, k, n), alpha=w)
    return out


def image_ssim(x: Tensor, ref: Tensor, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> Tensor:
    """SSIM per item for images in [0, 1] (Wang et al. 2004), as torchmetrics'
    ``structural_similarity_index_measure(..., data_range=1, reduction="none")``: Gaussian
    window of 11 taps, σ = 1.5, reflected borders, mean of the SSIM map over all pixels.
    The 11×11 window is applied as two 1-D passes (it is separable; equal up to rounding)."""
    ref = ref.expand_as(x)
    b, c, h, w = x.shape
    size = int(3.5 * sigma + 0.5) * 2 + 1
    pad = (size - 1) // 2
    g = _gaussian_window(size, sigma, x.dtype, x.device)
    stack = torch.cat([x, ref, x * x, ref * ref, x * ref])  # (5B, C, H, W)
    stack = torch.nn.functional.pad(stack, (pad, pad, pad, pad), mode="reflect")
    mu_x, mu_r, xx, rr, xr = _blur(_blur(stack, g, -2), g, -1).split(b)
    c1, c2 = k1**2, k2**2
    var_x = (xx - mu_x * mu_x).clamp_min(0.0)
    var_r = (rr - mu_r * mu_r).clamp_min(0.0)
    cov = xr - mu_x * mu_r
    ssim = ((2 * mu_x * mu_r + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_r * mu_r + c1) * (var_x + var_r + c2))
    return ssim.reshape(b, -1).mean(1)
