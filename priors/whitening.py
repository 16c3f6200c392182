"""Centring and whitening of patches, fitted from data and kept as buffers.

A patch x ∈ R^d (a group of channels × p × p, flattened channel-major) is mapped to

    x̃ = W (x − μ),     W = Λ^{-1/2} Uᵀ (PCA)   or   W = U Λ^{-1/2} Uᵀ (ZCA)

where U, Λ are the eigenvectors / eigenvalues of the covariance of the patches after
removing each patch's DC component (its mean over the group), μ is the mean of those
DC-free patches, and only eigenvalues above ``rel_tol · λ_max`` are kept (Hyvärinen, Hurri
& Hoyer, *Natural Image Statistics*, 2009, §5.3–5.4). The DC direction (the all-ones
vector) and the near-zero directions (many in feature maps such as conv1) are thereby
dropped: ``W`` annihilates them, so the energy built on x̃ ignores the patch mean.

``W`` is always stored as a d × d matrix (PCA: the dropped directions are zero rows), so the
parameter shapes of an energy do not depend on how many directions survive, and a learned
filter w in whitened space folds into a filter on raw patches, f = Wᵀ w, with bias −fᵀμ:
scoring a whole map is then one convolution.

``remove_dc=False`` keeps the DC direction (for data whose coordinates are not pixels of one
signal, e.g. the 1 × 1 "patches" of an ICA mixture). ``groups`` > 1 whitens each group of ``d`` coordinates on its own (channel-wise experts).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from preimage.representations.errors import PreimageError

MODES = ("zca", "pca", None)


class Whitening(nn.Module):
    """Buffers ``mean`` (G, d), ``matrix`` (G, d, d), ``n_kept`` (G,), ``eigenvalues`` (G, d)."""

    def __init__(self, dim: int, groups: int = 1, mode: str | None = "zca", rel_tol: float = 1e-5,
                 remove_dc: bool = True) -> None:
        super().__init__()
        self.remove_dc = bool(remove_dc)
        if mode not in MODES:
            raise PreimageError(f"whitening {mode!r} is not known; use one of 'zca', 'pca' or null")
        self.dim, self.groups, self.mode, self.rel_tol = int(dim), int(groups), mode, float(rel_tol)
        self.register_buffer("mean", torch.zeros(groups, dim))
        self.register_buffer("matrix", torch.eye(dim).repeat(groups, 1, 1))
        self.register_buffer("n_kept", torch.full((groups,), dim, dtype=torch.long))
        self.register_buffer("eigenvalues", torch.ones(groups, dim))
        self.register_buffer("fitted", torch.tensor(mode is None))

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        """Fit from patches ``x`` of shape (N, G, d) (computed in float64)."""
        if x.dim() != 3 or x.shape[1:] != (self.groups, self.dim):
            raise PreimageError(f"whitening expects patches of shape (N, {self.groups}, {self.dim}), "
                                f"got {tuple(x.shape)}; extract patches of the model's channels and size")
        if self.mode is None:
            return
        n = x.shape[0]
        if n < 2:
            raise PreimageError("fitting a whitening needs at least 2 patches; give more training patches")
        x = x.detach().double()
        if self.remove_dc:
            x = x - x.mean(2, keepdim=True)                  # drop each patch's DC component
        mu = x.mean(0)                                       # (G, d)
        xc = (x - mu).transpose(0, 1)                        # (G, N, d)
        cov = xc.transpose(1, 2) @ xc / (n - 1)              # (G, d, d)
        lam, u = torch.linalg.eigh(cov)                      # ascending
        ones = torch.full((self.dim,), self.dim ** -0.5, dtype=lam.dtype, device=lam.device)
        keep = lam > self.rel_tol * lam[:, -1:].clamp_min(torch.finfo(lam.dtype).tiny)
        if self.remove_dc:
            u = u - ones[None, :, None] * (ones @ u)[:, None, :]  # exact orthogonality to the DC direction
        scale = torch.where(keep, lam.clamp_min(torch.finfo(lam.dtype).tiny).rsqrt(), torch.zeros_like(lam))
        pca = scale[:, :, None] * u.transpose(1, 2)          # (G, d, d): rows Λ^{-1/2} uᵀ, zero rows dropped
        mat = pca if self.mode == "pca" else u @ pca
        self.mean.copy_(mu)
        self.matrix.copy_(mat)
        self.n_kept.copy_(keep.sum(1))
        self.eigenvalues.copy_(lam)
        self.fitted.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        """Whiten patches (N, G, d) → (N, G, d)."""
        return torch.einsum("gij,ngj->ngi", self.matrix.to(x.dtype), x - self.mean.to(x.dtype))

    def fold(self, w: Tensor) -> tuple[Tensor, Tensor]:
        """Filters ``w`` (G, n, d) in whitened space → raw-patch filters f = Wᵀw (G, n, d) and
        biases −fᵀμ (G, n), so that wᵀ x̃ = fᵀ x + b."""
        f = torch.einsum("gnd,gde->gne", w, self.matrix.to(w.dtype))
        b = -torch.einsum("gne,ge->gn", f, self.mean.to(w.dtype))
        return f, b

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, groups={self.groups}, mode={self.mode!r}, rel_tol={self.rel_tol}, "
                f"remove_dc={self.remove_dc}")
