"""Per-cell metrics, computed the same way for every method from its reconstructions.

A unit (method × representation × layer) is one batched job over N images × R restarts;
it yields N·R cells (rows of ``results.csv``):

- ``relative_error`` √(‖m⊙(Φ(x*) − Φ₀)‖² / ‖m⊙Φ₀‖²) (IJCV'16), m the job's feature mask
  (objective.neigh / filter_group / channels);
- ``table1_error`` the CVPR'15 Table 1 error ‖Φ(x*ᵢ) − Φ(xᵢ)‖² / mean_{i,j}‖Φ(xᵢ) − Φ(xⱼ)‖²,
  normaliser over this comparison's image set (i = j included, as deep-goggle;
  :func:`preimage.inversion.metrics.table1_error`), on ``score_channels`` where the preset
  names them (HOG: 27); undefined (NaN) for a single image;
- ``mse``, ``psnr``, ``ssim`` in image space (RGB in [0, 1]);
- ``seconds``: the unit's wall time divided by its N·R cells.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from preimage.inversion.masks import feature_mask
from preimage.inversion.metrics import image_mse, image_psnr, image_ssim, pairwise_sq_distances, relative_error
from preimage.representations import Representation, build_representation, resize_crop

METRICS = ("relative_error", "table1_error", "mse", "psnr", "ssim", "seconds")


@functools.lru_cache(maxsize=8)
def scorer(name: str, weights: str | None, layer: str) -> Representation:
    """The representation that scores a layer (cached: one per comparison and layer)."""
    return build_representation(name, taps=[layer], weights=weights)


def originals(cfg: dict, images: list[tuple[str, Tensor]]) -> tuple[Tensor, Tensor]:
    """(N, 3, S, S) RGB in [0, 1] as the representation sees it (grey for HOG and DSIFT, as
    ``preimage invert`` scores them) and the (N, C, S, S) inputs of the invert job."""
    rep = scorer(cfg["representation"], cfg.get("weights"), cfg["layer"])
    size = int(cfg.get("image_size") or rep.input_size)
    x0 = rep.convention.preprocess(torch.stack([resize_crop(img, size) for _, img in images]))
    return rep.convention.deprocess(x0), x0


def _mask(cfg: dict, phi: Tensor) -> Tensor | None:
    m = cfg.get("objective") or {}
    if not (m.get("neigh") or m.get("filter_group") or m.get("channels")):
        return None
    mask = feature_mask(phi.shape, m.get("neigh"), m.get("filter_group"), phi.device, phi.dtype)
    if m.get("channels"):
        mask[:, int(m["channels"]):] = 0
    return mask


@torch.no_grad()
def cell_metrics(cfg: dict, images: list[tuple[str, Tensor]], recon: Tensor | None, seconds: float,
                 device: torch.device | str = "cpu") -> tuple[list[dict], Tensor | None, Tensor]:
    """Rows (image-major, restart-minor), reconstructions as (N, R, 3, S, S) RGB and the
    (N, 3, S, S) originals. ``recon`` None (a diverged job) gives NaN metrics."""
    layer, r = cfg["layer"], int(cfg.get("repeats", 1))
    rep = scorer(cfg["representation"], cfg.get("weights"), layer).to(device)
    rgb, x0 = originals(cfg, images)
    n = len(images)
    nan = float("nan")
    if recon is None:
        rows = [dict.fromkeys(METRICS, nan) for _ in range(n * r)]
        for row in rows:
            row["seconds"] = seconds / (n * r)
        return rows, None, rgb
    phi0 = rep(x0.to(device))[layer].double()
    phi = rep(recon.to(device))[layer].double()
    mask = _mask(cfg, phi0)
    if mask is not None:
        phi0, phi = phi0 * mask, phi * mask
    ref = phi0.repeat_interleave(r, 0)
    rel = relative_error(phi, ref)
    c = cfg.get("score_channels")
    s0, s = (phi0[:, :c], phi[:, :c]) if c else (phi0, phi)
    norm = pairwise_sq_distances(s0).mean() if n > 1 else torch.tensor(nan)
    t1 = (s - s0.repeat_interleave(r, 0)).flatten(1).pow(2).sum(1) / norm
    rec_rgb = rep.convention.deprocess(recon).reshape(n, r, 3, *recon.shape[-2:]).cpu()
    rows = []
    for i in range(n):
        mse, psnr, ssim = image_mse(rec_rgb[i], rgb[i : i + 1]), image_psnr(rec_rgb[i], rgb[i : i + 1]), \
            image_ssim(rec_rgb[i], rgb[i : i + 1])
        for k in range(r):
            b = i * r + k
            rows.append({"relative_error": float(rel[b]), "table1_error": float(t1[b]), "mse": float(mse[k]),
                         "psnr": float(psnr[k]), "ssim": float(ssim[k]), "seconds": seconds / (n * r)})
    for row in rows:  # inf PSNR of a perfect copy stays a number the CSV can hold
        row["psnr"] = row["psnr"] if math.isfinite(row["psnr"]) else 100.0
    return rows, rec_rgb, rgb
