"""Gaussian-mixture patch prior: the energy of EPLL (Zoran & Weiss, ICCV 2011, Eq. 2–3).

    E(x) = −Σ_patches log p(P_i x − m(P_i x)),   p(v) = Σ_k π_k N(v; μ_k, Σ_k)

over every overlapping patch, each with its mean over all channels and pixels m(·) removed
(the DC is left to the data term, as in EPLL). The mixture is fitted by scikit-learn's
``GaussianMixture`` (full covariances, EM) on mean-removed training patches; the module keeps
its means, precision Cholesky factors (Σ_k⁻¹ = L_k L_kᵀ, scikit-learn's convention) and
log-weights as buffers. With y_k = L_kᵀ(v − μ_k) and responsibilities r_k,

    −log p(v) = −logsumexp_k(log π_k + Σ log diag L_k − ½‖y_k‖² − D/2 log 2π)
    ∂/∂v     = Σ_k r_k L_k y_k,     then projected off the DC direction and folded over patches.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from preimage.priors.learned import PatchEnergy
from preimage.priors.registry import register_prior
from preimage.representations.errors import PreimageError

_CHUNK = 256  # patches per block: the (n, K·D) buffers stay cache-sized (8192 was 1.25× slower)


@register_prior
class GMMPatchPrior(PatchEnergy):
    """EPLL's GMM on mean-removed ``channels`` × ``patch_size``² patches."""

    kind = "gmm"

    def __init__(self, channels: int = 1, patch_size: int = 6, n_components: int = 50) -> None:
        super().__init__(channels, patch_size)
        k, d = int(n_components), self.dim
        self.n_components = k
        self.register_buffer("means", torch.zeros(k, d))
        self.register_buffer("precisions_cholesky", torch.eye(d).repeat(k, 1, 1))
        self.register_buffer("log_weights", torch.full((k,), -math.log(k)))
        self.patch_stride = 1  # run-time option (not stored): see :meth:`with_patch_stride`

    def with_patch_stride(self, stride: int) -> "GMMPatchPrior":
        """A view of this prior (same buffers) that scores only the patches at every
        ``stride``-th row and column, times stride²: an **approximation** of E (an estimate of the
        sum over all patches from a 1/stride² subset; pixels past the last grid patch get no
        gradient), stride² times cheaper. ``stride = 1`` (the default everywhere) is exact EPLL."""
        import copy

        if int(stride) < 1:
            raise PreimageError(f"patch stride must be ≥ 1, got {stride}")
        view = copy.copy(self)
        view.patch_stride = int(stride)
        return view

    @classmethod
    def fit(cls, patches: Tensor, n_components: int = 50, reg_covar: float = 1e-6, max_iter: int = 100,
            seed: int = 0, tol: float = 1e-3) -> "GMMPatchPrior":
        """Fit by EM (scikit-learn ``GaussianMixture``, full covariances, k-means start) on the
        mean-removed (N, C, p, p) ``patches``; ``reg_covar`` is added to each covariance's diagonal."""
        from sklearn.mixture import GaussianMixture  # heavy, optional at import time

        if patches.dim() != 4 or patches.shape[2] != patches.shape[3]:
            raise PreimageError(f"GMMPatchPrior.fit expects (N, C, p, p) patches, got {tuple(patches.shape)}")
        n, c, p, _ = patches.shape
        if n < n_components:
            raise PreimageError(f"fitting {n_components} components needs at least as many patches, got {n}; "
                                f"give more patches or fewer components")
        x = patches.detach().double().reshape(n, -1)
        x = (x - x.mean(1, keepdim=True)).cpu().numpy()
        gm = GaussianMixture(n_components, covariance_type="full", reg_covar=reg_covar, max_iter=max_iter,
                             tol=tol, random_state=seed).fit(x)
        prior = cls(c, p, n_components).double()          # float64 like scikit-learn; .float() for speed
        prior.means.copy_(torch.from_numpy(gm.means_))
        prior.precisions_cholesky.copy_(torch.from_numpy(gm.precisions_cholesky_))
        prior.log_weights.copy_(torch.from_numpy(gm.weights_).log())
        return prior

    def covariances(self) -> Tensor:
        """Σ_k = (L_k L_kᵀ)⁻¹, (K, D, D)."""
        linv = torch.linalg.inv(self.precisions_cholesky)
        return linv.transpose(1, 2) @ linv

    def patch_log_prob(self, v: Tensor, with_grad: bool = False) -> tuple[Tensor, Tensor | None]:
        """log p(v) of mean-removed patches v (n, D); with ``with_grad`` also ∂(−log p)/∂v."""
        lchol = self.precisions_cholesky.to(v.dtype)
        k, d = self.n_components, self.dim
        flat = lchol.permute(1, 0, 2).reshape(d, k * d)                  # [L_1 | … | L_K]: one GEMM for all y_k
        y = (v @ flat).reshape(-1, k, d) - torch.einsum("kd,kde->ke", self.means.to(v.dtype), lchol)
        log_det = lchol.diagonal(dim1=1, dim2=2).log().sum(1)
        log_comp = self.log_weights.to(v.dtype) + log_det - 0.5 * y.pow(2).sum(2) - 0.5 * self.dim * math.log(2 * math.pi)
        log_p = torch.logsumexp(log_comp, 1)
        if not with_grad:
            return log_p, None
        r = (log_comp - log_p[:, None]).exp()                          # responsibilities (n, K)
        ry = (r[:, :, None] * y).reshape(-1, k * d)                      # (n, K·D)
        return log_p, ry @ lchol.transpose(1, 2).reshape(k * d, d)       # Σ_k r_k L_k y_k, one GEMM

    def _energy(self, z: Tensor, with_grad: bool) -> tuple[Tensor, Tensor | None]:
        """Blocks of ``_CHUNK`` patches: y = v·[L_1|…|L_K] − [μ_1ᵀL_1|…] in one ``addmm`` into a
        buffer reused across blocks, responsibilities scaled into y in place, one GEMM back to
        patch space; the patch gradients are written as columns and summed into the image by
        p² shifted adds (:func:`priors.experts.shift_add`). Same arithmetic as
        :meth:`patch_log_prob`, without its per-block temporaries of size n·K·D."""
        from preimage.priors.experts import shift_add

        self.check_input(z)
        b, p, k, d, st = z.shape[0], self.patch_size, self.n_components, self.dim, self.patch_stride
        cols = torch.nn.functional.unfold(z, p, stride=st)             # (B, D, L), patch columns
        L = cols.shape[2]
        lchol = self.precisions_cholesky.to(z.dtype)
        flat = lchol.permute(1, 0, 2).reshape(d, k * d)                  # [L_1 | … | L_K]
        flat_t = lchol.transpose(1, 2).reshape(k * d, d)                 # [L_1 | … | L_K]ᵀ
        bias = -torch.einsum("kd,kde->ke", self.means.to(z.dtype), lchol).reshape(1, k * d)
        const = (self.log_weights.to(z.dtype) + lchol.diagonal(dim1=1, dim2=2).log().sum(1)
                 - 0.5 * d * math.log(2 * math.pi))
        n_max = min(_CHUNK, L)
        ybuf = z.new_empty(n_max, k * d)
        sqbuf = z.new_empty(n_max, k * d)
        value = z.new_zeros(b)
        gcols = torch.empty_like(cols) if with_grad else None
        for i in range(b):
            for s in range(0, L, n_max):
                x = cols[i, :, s:s + n_max].T                            # (n, D)
                n = x.shape[0]
                v = x - x.mean(1, keepdim=True)
                y = torch.addmm(bias, v, flat, out=ybuf[:n])
                sq = torch.mul(y, y, out=sqbuf[:n]).view(n, k, d).sum(2)
                log_comp = const - 0.5 * sq
                log_p = torch.logsumexp(log_comp, 1)
                value[i] -= log_p.sum()
                if with_grad:
                    r = log_comp.sub_(log_p[:, None]).exp_()            # responsibilities (n, K)
                    y.view(n, k, d).mul_(r[:, :, None])
                    g = y @ flat_t                                       # Σ_k r_k L_k y_k, (n, D)
                    gcols[i, :, s:s + n] = (g - g.mean(1, keepdim=True)).T   # adjoint of the mean removal
        grid = ((z.shape[-2] - p) // st + 1, (z.shape[-1] - p) // st + 1)
        if st > 1:
            value.mul_(st * st)
        if not with_grad:
            return value, None
        if st > 1:
            gcols.mul_(st * st)
        return value, shift_add(gcols, self.channels, p, grid, st, z.shape[-2:])

    def forward(self, z: Tensor) -> Tensor:
        if torch.is_grad_enabled() and (z.requires_grad or any(t.requires_grad for t in self.buffers())):
            self.check_input(z)                                        # differentiable: through autograd
            st = self.patch_stride
            x = torch.nn.functional.unfold(z, self.patch_size, stride=st).transpose(1, 2)
            v = (x - x.mean(2, keepdim=True)).reshape(-1, self.dim)
            lp = torch.cat([self.patch_log_prob(c)[0] for c in v.split(_CHUNK)])
            return -(st * st) * lp.reshape(z.shape[0], -1).sum(1)
        return self._energy(z, False)[0]

    def value_and_grad(self, z: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            value, grad = self._energy(z, True)
        return value, grad

    def hparams(self) -> dict[str, Any]:
        return {"channels": self.channels, "patch_size": self.patch_size, "n_components": self.n_components}

    def extra_repr(self) -> str:
        return f"channels={self.channels}, patch_size={self.patch_size}, n_components={self.n_components}"
