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

Speed (CPU, batched): the bin choice reads the directed bin off the gradient's angle
(``round(atan2(g_y, g_x)·O/π) mod 2O``) and replays hog.c's loop over the O directions
only on the few pixels within 1e-3 bin of a tie, so the decisions are hog.c's exactly
(no argmax over channels, no ``torch.where``, both slow on CPU); steps 2–3 are
one ``scatter_add`` of 4 (HOGb: 8) weighted votes per pixel into the cell grid (its
backward is a gather), never a dense (B, 2·O, H, W) one-hot. The vote tables depend
on the image size and are cached by the module.
Output layout is (B, D, H', W'); VLFeat/cyvlfeat returns H'×W'×D with the same D order.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from preimage.representations.errors import PreimageError

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
        raise PreimageError(
            f"HOG expects a batch of shape (B, C, H, W), got {tuple(x.shape)}; add a batch dimension"
        )
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
    # a NaN or ±inf makes the sum non-finite: one cheap reduction, the exact test only then
    if not torch.isfinite(x.detach().sum()) and not torch.isfinite(x).all():
        raise PreimageError("HOG input contains NaN or infinite values; check the image and preprocessing")


def spatial_bins(h: int, w: int, cell_size: int, device=None) -> tuple[Tensor, Tensor]:
    """Where interior pixels vote: ((4, H−2, W−2) cell index, (4, H−2, W−2) weight).

    Pixel ``x`` sits at ``hx = (x + 1/2)/cell − 1/2`` cell units and gives ``1 − frac(hx)``
    to cell ``floor(hx)`` and ``frac(hx)`` to the next (the same along y): 4 cells, each
    as ``cy·W' + cx``, or ``H'·W'`` (a dropped slot) when outside the grid.
    """
    def axis(n: int) -> tuple[Tensor, Tensor, int]:
        cells = hog_cells(n, cell_size)
        x = torch.arange(1, n - 1, dtype=torch.float64)
        hx = ((x + 0.5) / cell_size - 0.5).float().double()  # hog.c keeps hx in a float
        b = torch.floor(hx).long()
        frac = hx - b
        idx = torch.stack([b, b + 1])  # (2, n-2)
        wts = torch.stack([1.0 - frac, frac])
        return idx, wts, cells

    iy, wy, hc = axis(h)
    ix, wx, wc = axis(w)
    inside = ((iy >= 0) & (iy < hc))[:, None, :, None] & ((ix >= 0) & (ix < wc))[None, :, None, :]
    flat = iy[:, None, :, None] * wc + ix[None, :, None, :]  # (2, 2, h-2, w-2)
    flat = torch.where(inside, flat, torch.full_like(flat, hc * wc))
    weight = torch.where(inside, wy[:, None, :, None] * wx[None, :, None, :], torch.zeros(()))
    return flat.reshape(4, h - 2, w - 2).to(device), weight.reshape(4, h - 2, w - 2).float().to(device)


def orientation_basis(num_orientations: int, dtype=torch.float32, device=None) -> Tensor:
    """(2, O) directions ``u_k`` at angles ``kπ/O``.

    Computed in float64 and cast, so in float32 they are hog.c's ``(float) cos(angle)``
    (not exactly unit: HOGb's ``acos`` then leaks ~1e-4 into neighbouring bins, as in
    VLFeat); in float64 they are unit to rounding.
    """
    ang = torch.arange(num_orientations, dtype=torch.float64) * math.pi / num_orientations
    return torch.stack([torch.cos(ang), torch.sin(ang)]).to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=None)
def _direction_floats(num_orientations: int, dtype: torch.dtype) -> tuple[list[float], list[float]]:
    """:func:`orientation_basis` as Python floats (exact values of ``dtype``), computed once on the CPU."""
    ux, uy = orientation_basis(num_orientations, dtype).tolist()
    return ux, uy


class _GradientNorm(torch.autograd.Function):
    """``sqrt(gx² + gy²)``, correctly rounded like C's ``sqrtf``, with gradient 0 at 0.

    torch's vectorised float32 ``sqrt`` can be 1 ulp off; near a bin centre HOGb's
    ``acos`` turns 1 ulp of ``|g·u|/|g|`` into ~1e-4 rad, so float32 goes through float64.
    """

    @staticmethod
    def forward(ctx, gx: Tensor, gy: Tensor, exact: bool) -> Tensor:
        n2 = gx * gx + gy * gy
        exact = exact and n2.dtype == torch.float32
        norm = torch.sqrt(n2.double()).to(n2.dtype) if exact else torch.sqrt(n2)
        ctx.save_for_backward(gx, gy, norm)
        return norm

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        gx, gy, norm = ctx.saved_tensors
        n = norm.clamp_min(torch.finfo(norm.dtype).tiny)
        return grad * (gx / n), grad * (gy / n), None  # |g/n| ≤ 1; where g = 0 the gradient is 0


def gradient_norm(gx: Tensor, gy: Tensor, exact: bool = True) -> Tensor:
    """``|g|`` per pixel, differentiable everywhere (zero gradient where ``g = 0``).

    ``exact=False`` skips the float64 round trip: at most 1 ulp off, which only HOGb's
    ``acos`` amplifies (hard HOG stays within 1e-7 of VLFeat), and ~2× faster.
    """
    return _GradientNorm.apply(gx, gy, exact)


def image_gradient(x: Tensor) -> tuple[Tensor, Tensor]:
    """Interior gradient (B, H−2, W−2) of the channel with the largest magnitude (hog.c)."""
    gx = x[..., 1:-1, 2:] - x[..., 1:-1, :-2]  # (B, C, H-2, W-2), no 1/2 factor
    gy = x[..., 2:, 1:-1] - x[..., :-2, 1:-1]
    if x.shape[1] == 1:
        return gx[:, 0], gy[:, 0]
    best = (gx * gx + gy * gy).argmax(dim=1, keepdim=True)  # first channel wins ties, as in hog.c
    return gx.gather(1, best)[:, 0], gy.gather(1, best)[:, 0]


def _best_directions_loop(gx: Tensor, gy: Tensor, basis: Tensor, second: bool) -> tuple[Tensor, ...]:
    """hog.c's loop over the O directions, vectorised over pixels (no gradient).

    Returns the directed bin and ``|g·u|`` of the best direction (and the bin of the
    second best): strict '>' comparisons in k order, so ties go to the first, as in VLFeat.
    O passes over the pixels: :func:`_best_directions` runs it only where the angle is
    too close to a tie to decide.
    """
    o = basis.shape[1]
    ux, uy = _direction_floats(o, basis.dtype)  # the dtype's rounded cos, sin; no device round trip
    # torch.where is slow on CPU: selections are written with maximum/minimum and lerp
    w0 = torch.full_like(gx, -1.0)
    d0 = torch.zeros_like(gx)  # bin indices as floats (small integers: exact)
    w1, d1 = w0.clone(), d0.clone()
    for k in range(o):
        score = gx * ux[k] + gy * uy[k]
        a = score.abs()
        d = (score < 0).to(gx.dtype) * o + k  # directed bin
        gt0 = (a > w0).to(gx.dtype)
        if second:
            d1 = torch.lerp(torch.lerp(d1, d, (a > w1).to(gx.dtype)), d0, gt0)
            w1 = torch.maximum(torch.minimum(a, w0), w1)  # old best if a beats it, else max(a, w1)
        w0 = torch.maximum(a, w0)
        d0 = torch.lerp(d0, d, gt0)
    d0, d1 = d0.long(), d1.long()
    return (d0, w0, d1) if second else (d0, w0)


# Half-width (in bins) of the angle bands around ties where the angle alone does not
# decide: atan2 is within a few ulps (~1e-6 bin), the float scores |g·u_k| of two
# directions 1e-3 bin (3.5e-4 rad) from a tie differ by ~1e-4·|g|, far above their rounding.
_TIE_BAND = 1e-3


def _best_directions(gx: Tensor, gy: Tensor, basis: Tensor, second: bool) -> tuple[Tensor, ...]:
    """The result of :func:`_best_directions_loop` (hog.c's decisions) in a few passes.

    |g·u_k| = |g|·|cos(θ − kπ/O)| is largest for the direction nearest to the gradient's
    angle θ, and signing it into 2·O directed bins gives ``b = round(θ·O/π) mod 2O``; the
    second best is the directed neighbour on θ's side, ``b ± 1``. Pixels within
    ``_TIE_BAND`` of a tie between two directions (or, with ``second``, of a direction,
    where its two neighbours tie, which includes g = 0) are decided by the loop itself.
    Where g = 0 the hard bin may be 0 or O (the loop says 0): its vote weight |g| is 0.
    """
    o = basis.shape[1]
    phi = torch.atan2(gy, gx).mul_(o / math.pi)  # directed angle in bins, [-O, O]
    r = torch.round(phi)
    f = phi.sub_(r).abs_() if not second else phi.sub_(r)  # offset from the nearest bin centre
    d0 = torch.remainder(r, 2 * o)
    if not second:
        tie = f > 0.5 - _TIE_BAND
        found: tuple[Tensor, ...] = (d0.long(),)
    else:
        af = f.abs()
        tie = (af > 0.5 - _TIE_BAND) | (af < _TIE_BAND)
        d1 = torch.remainder(r.add_(torch.sign(f)), 2 * o).long()
        d0 = d0.long()
        ux, uy = basis[0].to(gx.dtype), basis[1].to(gx.dtype)
        k0 = torch.remainder(d0, o)
        w0 = (gx * ux[k0] + gy * uy[k0]).abs_()  # the same float products and sum as the loop
        found = (d0, w0, d1)
    idx = tie.view(-1).nonzero().squeeze(1)
    if idx.numel():
        exact = _best_directions_loop(gx.reshape(-1)[idx], gy.reshape(-1)[idx], basis, second)
        for out, e in zip(found, exact if second else exact[:1]):
            out.view(-1)[idx] = e
    return found


def orientation_bins(gx: Tensor, gy: Tensor, basis: Tensor, bilinear: bool) -> list[tuple[Tensor, Tensor]]:
    """Per-pixel orientation votes as (directed bin index, weight·|g|) pairs, each (B, H, W).

    Hard: the best of the O directions by ``|g·u_k|``, signed into 2·O directed bins.
    HOGb adds the second best, splitting ``|g|`` linearly in the angle to the best one.
    """
    o = basis.shape[1]
    norm = gradient_norm(gx, gy, exact=bilinear)
    with torch.no_grad():  # the bin choice is piecewise constant
        found = _best_directions(gx.detach(), gy.detach(), basis, bilinear)
    if not bilinear:
        return [(found[0], norm)]
    d0, best_score, d1 = found
    u = basis.t()[d0 % o]  # (B, H, W, 2) best direction
    # Angle to the best direction. hog.c takes acosf(|g·u|/|g|) in float32; its slope is
    # infinite at 0, so the forward value is VLFeat's and the gradient that of the same
    # angle written as atan2(|g×u|, |g·u|) (equal up to rounding; "straight-through").
    dot = (gx * u[..., 0] + gy * u[..., 1]).abs()
    cross = (gy * u[..., 0] - gx * u[..., 1]).abs()
    smooth = torch.atan2(cross, dot + (norm == 0).to(dot.dtype))  # atan2(0, 1) where g = 0
    with torch.no_grad():
        ratio = torch.clamp(best_score / norm.clamp(min=1e-10), max=1.0)
        exact = torch.acos(ratio.double()).to(ratio.dtype)  # correctly rounded, like acosf
    w1 = (smooth + (exact - smooth.detach())) / (math.pi / o)
    return [(d0, norm * (1.0 - w1)), (d1, norm * w1)]


def cell_histograms(votes: list[tuple[Tensor, Tensor]], cells: tuple[Tensor, Tensor],
                    num_bins: int, grid: tuple[int, int]) -> Tensor:
    """Scatter the votes into (B, K, H', W') directed cell histograms.

    Each pixel adds ``weight·w_cell`` to bin ``k`` of its 4 cells (:func:`spatial_bins`):
    4 (hard) or 8 (HOGb) additions per pixel, never a dense (B, K, H, W) one-hot; the
    backward pass is a gather.
    """
    idx, wcell = cells  # (4, H-2, W-2)
    b = votes[0][0].shape[0]
    hc, wc = grid
    index = [(idx * num_bins + d.unsqueeze(1)).reshape(b, -1) for d, _ in votes]
    src = [(wcell.to(v.dtype) * v.unsqueeze(1)).reshape(b, -1) for _, v in votes]
    index, src = (index[0], src[0]) if len(votes) == 1 else (torch.cat(index, 1), torch.cat(src, 1))
    out = src.new_zeros(b, (hc * wc + 1) * num_bins).scatter_add(1, index, src)
    return out[:, : hc * wc * num_bins].view(b, hc, wc, num_bins).permute(0, 3, 1, 2)


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
    basis = orientation_basis(num_orientations, x.dtype, x.device)
    cells = spatial_bins(x.shape[-2], x.shape[-1], cell_size, x.device)
    gx, gy = image_gradient(x)
    grid = (hog_cells(x.shape[-2], cell_size), hog_cells(x.shape[-1], cell_size))
    votes = orientation_bins(gx, gy, basis, bilinear_orientations)
    hist = cell_histograms(votes, cells, 2 * num_orientations, grid)
    return block_normalise(hist, variant)
