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

from preimage.priors.learned import PatchEnergy, fold_patches, patches_of
from preimage.representations.errors import PreimageError

_CHUNK = 8192  # patches per block: bounds the (n, K, D) intermediate


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
        self.check_input(z)
        b = z.shape[0]
        x = patches_of(z, self.patch_size)                             # (B, L, D)
        L = x.shape[1]
        v = (x - x.mean(2, keepdim=True)).reshape(b * L, self.dim)
        logs, grads = [], []
        for s in range(0, v.shape[0], _CHUNK):
            lp, g = self.patch_log_prob(v[s:s + _CHUNK], with_grad)
            logs.append(lp)
            grads.append(g)
        value = -torch.cat(logs).reshape(b, L).sum(1)
        if not with_grad:
            return value, None
        g = torch.cat(grads).reshape(b, L, self.dim)
        g = g - g.mean(2, keepdim=True)                                # adjoint of the mean removal
        return value, fold_patches(g, z.shape[-2:], self.patch_size)

    def forward(self, z: Tensor) -> Tensor:
        return self._energy(z, False)[0]

    def value_and_grad(self, z: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            value, grad = self._energy(z, True)
        return value, grad

    def hparams(self) -> dict[str, Any]:
        return {"channels": self.channels, "patch_size": self.patch_size, "n_components": self.n_components}

    def extra_repr(self) -> str:
        return f"channels={self.channels}, patch_size={self.patch_size}, n_components={self.n_components}"
