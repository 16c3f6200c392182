"""HOG as a differentiable network: VLFeat's ``vl_hog`` (UoCTTI and Dalal–Triggs) in torch.

Mahendran & Vedaldi (CVPR 2015, Sec. 3.1) write HOG as a small CNN ("CNN-HOG") so that
it can be inverted by gradient descent; HOGb uses bilinear orientation assignment. This
module reproduces VLFeat 0.9.21 ``vl/hog.c`` number for number (same float32 array in,
same numbers out, up to float summation order):

1. gradient by central differences *without* the 1/2 factor, interior pixels only
   (pixels on the image border vote nothing); with several channels the channel with
   the largest gradient magnitude wins at each pixel;
2. orientation: the best of ``O`` undirected directions ``u_k = (cos kπ/O, sin kπ/O)``
   by ``|g·u_k|``, signed into one of ``2O`` directed bins; HOGb splits the vote
   between the best and second best bin, linearly in the angle to the best one;
3. spatial: each pixel votes bilinearly into the four nearest cell centres (cell
   ``i`` is centred on pixel ``(i + 1/2)·cell − 1/2``); there are
   ``floor((W + floor(cell/2)) / cell)`` cells across;
4. block normalisation: each cell is normalised by the four 2×2 blocks around it
   (``1/sqrt(Σ‖h_undirected‖² + 1e-4)``, border cells replicate their neighbours),
   clamped at 0.2, then either averaged (UoCTTI: ``0.5·Σ``, plus 4 texture
   components) or stacked (Dalal–Triggs: 4·O components).

Step 3 is two fixed matrices (buffers in the module form): ``hist = A_y · vote · A_xᵀ``.
Output layout is (B, D, H', W'); VLFeat/cyvlfeat returns H'×W'×D with the same D order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from representations.errors import PreimageError

VARIANTS = ("uoctti", "dalaltriggs")
CLAMP = 0.2  # truncation of block-normalised values (hog.c)
BLOCK_EPS = 1e-4  # added to the squared block norm (hog.c, "as in UoCTTI code")


def hog_dim(variant: str, num_orientations: int) -> int:
    """Number of components per cell: 3·O + 4 (UoCTTI) or 4·O (Dalal–Triggs)."""
    return 3 * num_orientations + 4 if variant == "uoctti" else 4 * num_orientations


def hog_cells(n: int, cell_size: int) -> int:
    """Cells along a side of ``n`` pixels: the last cell is at least half inside (hog.c)."""
    return (n + cell_size // 2) // cell_size


def check_hog_input(x: Tensor, cell_size: int, channels: int | None = None) -> None:
    """Boundary checks shared by :func:`hog` and :class:`HOG` (one-sentence errors)."""
    if x.dim() != 4:
        raise PreimageError(f"HOG expects a batch of shape (B, C, H, W), got {tuple(x.shape)}; add a batch dimension")
    if channels is not None and x.shape[1] != channels:
        raise PreimageError(
            f"HOG was built for {channels}-channel input but got {x.shape[1]} channels; "
            f"convert the image with the representation's convention (channels={channels})"
        )
    need = max(cell_size, 4)
    if min(x.shape[-2:]) < need:
        raise PreimageError(
            f"image of {x.shape[-1]}x{x.shape[-2]} pixels is smaller than one HOG cell; "
            f"use an image of at least {need}x{need} pixels or a smaller cell_size"
        )
    if not torch.isfinite(x).all():
        raise PreimageError("HOG input contains NaN or infinite values; check the image and preprocessing")


def cell_interpolation_matrix(n: int, cell_size: int, dtype=torch.float32, device=None) -> Tensor:
    """(cells, n − 2) matrix of the bilinear spatial votes of interior pixels 1..n−2 into cells.

    Pixel ``x`` sits at ``h = (x + 1/2)/cell − 1/2`` cell units; it gives ``1 − frac(h)``
    to cell ``floor(h)`` and ``frac(h)`` to the next, dropping cells outside the grid.
    """
    cells = hog_cells(n, cell_size)
    x = torch.arange(1, n - 1, dtype=torch.float64)
    h = ((x + 0.5) / cell_size - 0.5).float().double()  # hog.c keeps hx in a float
    b = torch.floor(h).long()
    w2 = h - b
    cols = torch.arange(n - 2)
    a = torch.zeros(cells, n - 2, dtype=torch.float64)
    lo = b >= 0
    a[b[lo], cols[lo]] += 1.0 - w2[lo]
    hi = b + 1 <= cells - 1
    a[b[hi] + 1, cols[hi]] += w2[hi]
    return a.to(dtype=dtype, device=device)


def orientation_basis(num_orientations: int, dtype=torch.float32, device=None) -> Tensor:
    """(2, O) directions ``u_k`` at angles ``kπ/O``.

    Computed in float64 and cast, so in float32 they are hog.c's ``(float) cos(angle)``
    (not exactly unit: HOGb's ``acos`` then leaks ~1e-4 into neighbouring bins, as in
    VLFeat); in float64 they are unit to rounding.
    """
    ang = torch.arange(num_orientations, dtype=torch.float64) * math.pi / num_orientations
    return torch.stack([torch.cos(ang), torch.sin(ang)]).to(dtype=dtype, device=device)


def _sqrt_like_c(v: Tensor) -> Tensor:
    """``sqrt`` correctly rounded in the input's precision (C's ``sqrtf``).

    torch's vectorised float32 ``sqrt`` can be 1 ulp off; near a bin centre HOGb's
    ``acos`` turns 1 ulp of ``|g·u|/|g|`` into ~1e-4 rad, so float32 goes through float64.
    """
    return torch.sqrt(v.double()).to(v.dtype) if v.dtype == torch.float32 else torch.sqrt(v)


def _safe_norm(gx: Tensor, gy: Tensor) -> Tensor:
    """``sqrt(gx² + gy²)`` with a zero (not NaN) gradient where the gradient vanishes."""
    n2 = gx * gx + gy * gy
    pos = n2 > 0
    return torch.where(pos, _sqrt_like_c(torch.where(pos, n2, torch.ones_like(n2))), torch.zeros_like(n2))


def image_gradient(x: Tensor) -> tuple[Tensor, Tensor]:
    """Interior gradient (B, H−2, W−2) of the channel with the largest magnitude (hog.c)."""
    gx = x[..., 1:-1, 2:] - x[..., 1:-1, :-2]  # (B, C, H-2, W-2), no 1/2 factor
    gy = x[..., 2:, 1:-1] - x[..., :-2, 1:-1]
    if x.shape[1] == 1:
        return gx[:, 0], gy[:, 0]
    best = (gx * gx + gy * gy).argmax(dim=1, keepdim=True)  # first channel wins ties, as in hog.c
    return gx.gather(1, best)[:, 0], gy.gather(1, best)[:, 0]


def orientation_votes(gx: Tensor, gy: Tensor, basis: Tensor, bilinear: bool) -> Tensor:
    """(B, 2·O, H, W) per-pixel votes ``|g|·w_j`` into the directed orientation bins."""
    o = basis.shape[1]
    norm = _safe_norm(gx, gy)
    score = gx.unsqueeze(1) * basis[0].view(1, o, 1, 1) + gy.unsqueeze(1) * basis[1].view(1, o, 1, 1)
    absscore = score.abs()
    b0 = absscore.argmax(dim=1, keepdim=True)  # first maximum, like hog.c's strict '>'
    d0 = b0 + o * (score.gather(1, b0) < 0).long()  # directed bin of the best orientation
    bins = torch.arange(2 * o, device=gx.device).view(1, 2 * o, 1, 1)
    if not bilinear:
        return norm.unsqueeze(1) * (bins == d0).to(gx.dtype)
    masked = absscore.scatter(1, b0, -1.0)
    b1 = masked.argmax(dim=1, keepdim=True)
    d1 = b1 + o * (score.gather(1, b1) < 0).long()
    best = absscore.gather(1, b0)[:, 0]
    # Angle to the best direction. hog.c takes acosf(|g·u|/|g|) in float32; its slope is
    # infinite at 0, so the forward value is VLFeat's and the gradient that of the same
    # angle written as atan2(|g×u|, g·u) (equal up to rounding; "straight-through").
    ub = basis.t()[b0[:, 0]]  # (B, H, W, 2)
    cross = (gy * ub[..., 0] - gx * ub[..., 1]).abs()
    smooth = torch.atan2(cross, torch.where(norm > 0, best, torch.ones_like(best)))
    ratio = torch.clamp(best / norm.clamp(min=1e-10), max=1.0)
    exact = torch.acos(ratio.double()).to(ratio.dtype)  # correctly rounded, like acosf
    angle = smooth + (exact - smooth).detach()
    w1 = angle / (math.pi / o)
    w0 = 1.0 - w1
    votes = w0.unsqueeze(1) * (bins == d0).to(gx.dtype) + w1.unsqueeze(1) * (bins == d1).to(gx.dtype)
    return norm.unsqueeze(1) * votes


def cell_histograms(votes: Tensor, ay: Tensor, ax: Tensor) -> Tensor:
    """(B, K, H−2, W−2) pixel votes → (B, K, H', W') cell histograms: ``A_y · V · A_xᵀ``."""
    return torch.matmul(torch.matmul(ay, votes), ax.t())


def block_normalise(hist: Tensor, variant: str) -> Tensor:
    """(B, 2·O, H', W') directed cell histograms → (B, D, H', W') HOG (hog.c ``vl_hog_extract``)."""
    o = hist.shape[1] // 2
    und = hist[:, :o] + hist[:, o:]  # undirected histogram
    energy = (und * und).sum(1, keepdim=True)  # (B, 1, H', W')
    padded = F.pad(energy, (1, 1, 1, 1), mode="replicate")
    blocks = F.avg_pool2d(padded, 2, stride=1) * 4.0  # (B, 1, H'+1, W'+1): 2x2 block sums
    factor = torch.rsqrt(blocks + BLOCK_EPS)
    h, w = hist.shape[-2:]
    # factors of the up-left, up-right, down-left, down-right blocks of each cell
    f = [factor[..., i : i + h, j : j + w] for i in (0, 1) for j in (0, 1)]
    und_n = [torch.clamp(fi * und, max=CLAMP) for fi in f]  # 4 × (B, O, H', W')
    if variant == "dalaltriggs":
        return torch.cat(und_n, dim=1)
    directed = 0.5 * sum(torch.clamp(fi * hist, max=CLAMP) for fi in f)
    undirected = 0.5 * sum(und_n)
    texture = torch.cat([u.sum(1, keepdim=True) for u in und_n], dim=1) * (1.0 / math.sqrt(18.0))
    return torch.cat([directed, undirected, texture], dim=1)


def hog(
    x: Tensor,
    cell_size: int = 8,
    variant: str = "uoctti",
    num_orientations: int = 9,
    bilinear_orientations: bool = False,
) -> Tensor:
    """HOG of a batch (B, C, H, W) → (B, D, H', W'), equal to VLFeat's ``vl_hog``.

    ``D = 3·O + 4`` (UoCTTI: 2·O directed, O undirected, 4 texture) or ``4·O``
    (Dalal–Triggs: the O undirected components normalised by each of the 4 blocks).
    The input is used as is (VLFeat's block epsilon makes its scale matter; the paper
    feeds 255·grey − 128).
    """
    variant = variant.lower().replace("-", "").replace("_", "")
    if variant not in VARIANTS:
        raise PreimageError(f"unknown HOG variant {variant!r}; use one of {', '.join(VARIANTS)}")
    check_hog_input(x, cell_size)
    ay = cell_interpolation_matrix(x.shape[-2], cell_size, x.dtype, x.device)
    ax = cell_interpolation_matrix(x.shape[-1], cell_size, x.dtype, x.device)
    basis = orientation_basis(num_orientations, x.dtype, x.device)
    gx, gy = image_gradient(x)
    hist = cell_histograms(orientation_votes(gx, gy, basis, bilinear_orientations), ay, ax)
    return block_normalise(hist, variant)
