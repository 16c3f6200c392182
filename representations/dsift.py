"""Dense SIFT as a differentiable network: VLFeat's ``vl_dsift`` in torch ("CNN-DSIFT").

Mahendran & Vedaldi (CVPR 2015, Sec. 3.1) invert dense SIFT written as a CNN. This
module follows VLFeat 0.9.21 ``vl/dsift.c`` (default bounds: the whole image):

1. gradient: central differences with the 1/2 factor, one-sided at the image border;
2. orientation: ``T`` bins over [0, 2π); each pixel splits ``|g|`` linearly between
   the two bins around ``atan2(gy, gx)`` (y pointing down);
3. spatial: a bin centred on pixel ``c`` sums ``k(p − c)`` times the votes, with the
   triangular kernel ``k(d) = 1 − |d|/bin_size`` (bilinear interpolation) and
   replicate padding; ``fast=False`` also weights each pixel by the Gaussian window
   ``exp(−|p − centre|² / (2σ²))``, ``σ = window_size · bin_size``, while
   ``fast=True`` multiplies each spatial bin by the window's mean over the bin;
4. frames: the top-left bin of the top-left descriptor is centred on pixel (0, 0),
   descriptors every ``step`` pixels; each descriptor is L2-normalised, clamped at
   0.2 and L2-normalised again.

Output (B, NY·NX·T, ny, nx); component ``t + T·(bx + NX·by)`` as in VLFeat's buffer
(not transposed), frame (iy, ix) is VLFeat's frame ``iy·nx + ix`` at
``(y, x) = (iy·step + bin·(NY−1)/2, ix·step + bin·(NX−1)/2)``.

Remaining differences from VLFeat: VLFeat uses ``vl_fast_sqrt_f`` (inverse-sqrt with
two Newton steps, relative error ~1e-6) for the gradient modulus and the descriptor
norms; with ``vlfeat_atan2=False`` exact ``atan2`` replaces ``vl_fast_atan2_f``
(error up to ~6e-3 rad, which moves descriptors by up to ~1e-2). Both descriptors are equal to ~1e-3 or better.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from representations.errors import PreimageError

CLAMP = 0.2
EPS_F = 1.19209290e-07  # VL_EPSILON_F, added to the descriptor norm


def dsift_frames(n: int, step: int, bin_size: int, num_bins: int) -> int:
    """Frames along a side of ``n`` pixels (``_vl_dsift_update_buffers``)."""
    span = n - 1 - (num_bins - 1) * bin_size
    return span // step + 1 if span >= 0 else 0


def min_dsift_size(bin_size: int, num_bins: int) -> int:
    """Smallest side giving one descriptor: the bin centres of one frame."""
    return max((num_bins - 1) * bin_size + 1, 2)


def check_dsift_input(x: Tensor, bin_size: int, geometry: tuple[int, int, int]) -> None:
    """Boundary checks shared by :func:`dsift` and :class:`DSIFT` (one-sentence errors)."""
    if x.dim() != 4 or x.shape[1] != 1:
        raise PreimageError(
            f"DSIFT expects a grey batch of shape (B, 1, H, W), got {tuple(x.shape)}; "
            "convert the image to grey (InputConvention(channels=1)) and add a batch dimension"
        )
    ny, nx, _ = geometry
    need_y, need_x = min_dsift_size(bin_size, ny), min_dsift_size(bin_size, nx)
    if x.shape[-2] < need_y or x.shape[-1] < need_x:
        raise PreimageError(
            f"image of {x.shape[-1]}x{x.shape[-2]} pixels is smaller than one DSIFT descriptor; "
            f"use at least {need_x}x{need_y} pixels or a smaller bin_size"
        )
    if not torch.isfinite(x).all():
        raise PreimageError("DSIFT input contains NaN or infinite values; check the image and preprocessing")


def vlfeat_atan2(y: Tensor, x: Tensor) -> Tensor:
    """VLFeat's ``vl_fast_atan2_f``: a cubic in ``r`` per half plane (continuous mod 2π)."""
    c3, c1 = 0.1821, 0.9675
    ay = y.abs() + EPS_F
    right = x >= 0
    # one division with a positive denominator on either branch (no 0/0 in the backward)
    r = torch.where(right, x - ay, x + ay) / torch.where(right, x + ay, ay - x)
    base = torch.where(right, torch.full_like(x, math.pi / 4), torch.full_like(x, 3 * math.pi / 4))
    angle = base + (c3 * r * r - c1) * r
    return torch.where(y < 0, -angle, angle)


def _gradient(x: Tensor) -> tuple[Tensor, Tensor]:
    """Central differences (½ factor) inside, one-sided on the border (dsift.c)."""

    def diff(v: Tensor, dim: int) -> Tensor:
        n = v.shape[dim]
        first = v.narrow(dim, 1, 1) - v.narrow(dim, 0, 1)
        last = v.narrow(dim, n - 1, 1) - v.narrow(dim, n - 2, 1)
        if n == 2:
            return torch.cat([first, last], dim)
        mid = 0.5 * (v.narrow(dim, 2, n - 2) - v.narrow(dim, 0, n - 2))
        return torch.cat([first, mid, last], dim)

    return diff(x, -1), diff(x, -2)


def orientation_votes(x: Tensor, num_bins_t: int, use_vlfeat_atan2: bool = True) -> Tensor:
    """(B, 1, H, W) → (B, T, H, W): ``|g|`` split linearly between the two nearest angle bins."""
    gx, gy = _gradient(x)
    n2 = gx * gx + gy * gy
    pos = n2 > 0
    mod = torch.where(pos, torch.sqrt(torch.where(pos, n2, torch.ones_like(n2))), torch.zeros_like(n2))
    if use_vlfeat_atan2:
        angle = vlfeat_atan2(gy, gx)
    else:  # exact atan2, with a finite gradient where g = 0 (the vote is 0 there anyway)
        angle = torch.atan2(gy, torch.where(pos, gx, torch.ones_like(gx)))
    nt = angle * (num_bins_t / (2 * math.pi))  # (B, 1, H, W), in bin units
    t = torch.arange(num_bins_t, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    d = torch.remainder(nt - t + num_bins_t / 2, num_bins_t) - num_bins_t / 2  # circular offset
    return mod * torch.relu(1.0 - d.abs())


def bin_kernels(bin_size: int, num_bins: int, fast: bool, window_size: float = 2.0) -> Tensor:
    """(num_bins, 2·bin_size − 1) correlation kernels, one per spatial bin along an axis.

    Entry ``d`` (offset from the bin centre, −bin_size+1..bin_size−1) is the triangular
    weight times the Gaussian window at ``d + δ`` (``δ``: bin centre − frame centre),
    or, for ``fast``, times the window's mean over the bin (``_vl_dsift_get_bin_window_mean``).
    """
    d = torch.arange(-bin_size + 1, bin_size, dtype=torch.float64)
    tri = 1.0 - d.abs() / bin_size
    sigma = bin_size * window_size
    rows = []
    for b in range(num_bins):
        delta = bin_size * (b - 0.5 * (num_bins - 1))
        gauss = torch.exp(-0.5 * ((d + delta) / sigma) ** 2)
        rows.append(tri * (gauss.mean() if fast else gauss))
    return torch.stack(rows)


def spatial_pool(votes: Tensor, ky: Tensor, kx: Tensor, step: int, ny: int, nx: int) -> Tensor:
    """(B, T, H, W) votes → (B, NY·NX·T, ny, nx) descriptors before normalisation.

    Separable, strided convolutions on the replicate-padded votes: along y once per
    spatial bin row (offset ``by·bin_size``), then along x once per bin column.
    """
    b, t = votes.shape[:2]
    nby, klen = ky.shape
    nbx = kx.shape[0]
    bs = (klen + 1) // 2
    pad = F.pad(votes, (bs - 1, bs - 1, bs - 1, bs - 1), mode="replicate")
    wy = ky.to(votes).repeat_interleave(t, 0).view(nby * t, 1, klen, 1)  # (NY·T, 1, K, 1)
    wx = kx.to(votes).view(nbx, 1, 1, klen)
    span_y = (ny - 1) * step + klen
    span_x = (nx - 1) * step + klen
    # rows: one strided vertical conv per bin row, all orientations as groups
    rows = [
        F.conv2d(pad[:, :, by * bs : by * bs + span_y], wy[by * t : (by + 1) * t], stride=(step, 1), groups=t)
        for by in range(nby)
    ]
    rows = torch.stack(rows, 1).reshape(b * nby * t, 1, ny, -1)  # (B·NY·T, 1, ny, W+2bs-2)
    cols = [F.conv2d(rows[..., bx * bs : bx * bs + span_x], wx[bx : bx + 1], stride=(1, step)) for bx in range(nbx)]
    out = torch.stack(cols, 1).view(b, nby, t, nbx, ny, nx)
    return out.permute(0, 1, 3, 2, 4, 5).reshape(b, nby * nbx * t, ny, nx)


def normalise_descriptors(desc: Tensor) -> Tensor:
    """L2-normalise (norm + ε), clamp at 0.2, L2-normalise again, over dim 1 (dsift.c)."""

    def unit(v: Tensor) -> Tensor:
        n2 = (v * v).sum(1, keepdim=True)
        pos = n2 > 0
        n = torch.where(pos, torch.sqrt(torch.where(pos, n2, torch.ones_like(n2))), torch.zeros_like(n2))
        return v / (n + EPS_F)

    return unit(torch.clamp(unit(desc), max=CLAMP))


def dsift(
    x: Tensor,
    step: int = 4,
    bin_size: int = 8,
    fast: bool = True,
    geometry: tuple[int, int, int] = (4, 4, 8),
    window_size: float = 2.0,
    use_vlfeat_atan2: bool = True,
) -> Tensor:
    """Dense SIFT of a grey batch (B, 1, H, W) → (B, NY·NX·T, ny, nx), equal to VLFeat's ``vl_dsift``.

    ``geometry = (NY, NX, T)`` as in cyvlfeat; descriptors are VLFeat's normalised
    floats (before the ``min(512·d, 255)`` conversion to uint8).
    """
    check_dsift_input(x, bin_size, geometry)
    nby, nbx, nbt = geometry
    ny = dsift_frames(x.shape[-2], step, bin_size, nby)
    nx = dsift_frames(x.shape[-1], step, bin_size, nbx)
    ky = bin_kernels(bin_size, nby, fast, window_size)
    kx = bin_kernels(bin_size, nbx, fast, window_size)
    votes = orientation_votes(x, nbt, use_vlfeat_atan2)
    return normalise_descriptors(spatial_pool(votes, ky, kx, step, ny, nx))
