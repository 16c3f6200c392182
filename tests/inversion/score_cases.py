"""Analytic score priors and tiny linear representations for the score-term and Langevin tests.

Gaussian N(μ, Σ) per pixel over channels: p_σ = N(μ, Σ + σ²I), s = −(Σ + σ²I)⁻¹(z − μ),
D = z + σ²s (Tweedie). A mixture Σ_k π_k N(μ_k, Σ_k): s = Σ_k r_k(z) · (−(Σ_k + σ²I)⁻¹(z − μ_k)),
r_k the posterior responsibilities under p_σ.
"""

from __future__ import annotations

import torch
from torch import Tensor

from preimage.priors.score import ScorePrior, check_sigma
from preimage.representations.base import InputConvention, ReceptiveField, Representation


def _pixels(z: Tensor) -> Tensor:
    """(B, C, H, W) → (B·H·W, C)."""
    return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])


def _unpixels(v: Tensor, like: Tensor) -> Tensor:
    b, c, h, w = like.shape
    return v.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()


class MixtureScore(ScorePrior):
    """Analytic score of a Gaussian mixture over the channels of every pixel (K = 1: a Gaussian)."""

    kind = "test-mixture"

    def __init__(self, weights: Tensor, means: Tensor, covs: Tensor, layer: str | None = None) -> None:
        super().__init__(means.shape[1], layer)
        self.register_buffer("weights", weights / weights.sum())   # (K,)
        self.register_buffer("means", means)                       # (K, C)
        self.register_buffer("covs", covs)                         # (K, C, C)

    def score(self, z: Tensor, sigma) -> Tensor:
        self.check_input(z)
        s2 = float(check_sigma(sigma, 1, z).reshape(())) ** 2
        v = _pixels(z)
        eye = torch.eye(v.shape[1], dtype=z.dtype)
        prec = torch.linalg.inv(self.covs.to(z.dtype) + s2 * eye)                          # (K, C, C)
        diff = v[:, None, :] - self.means.to(z.dtype)[None]                                # (n, K, C)
        pd = torch.einsum("kcd,nkd->nkc", prec, diff)
        logr = self.weights.to(z.dtype).log() + 0.5 * torch.logdet(prec) - 0.5 * (diff * pd).sum(2)
        r = torch.softmax(logr, 1)
        return _unpixels(-(r[:, :, None] * pd).sum(1), z)

    def denoise(self, z: Tensor, sigma) -> Tensor:
        s2 = float(check_sigma(sigma, 1, z).reshape(())) ** 2
        return z + s2 * self.score(z, sigma)

    def mean_cov(self, sigma: float) -> tuple[Tensor, Tensor]:
        """Moments of p_σ: Σ π μ, Σ π (Σ_k + σ²I + μ_k μ_kᵀ) − m mᵀ."""
        eye = torch.eye(self.channels, dtype=self.means.dtype)
        m = self.weights @ self.means
        second = torch.einsum("k,kcd->cd", self.weights,
                              self.covs + sigma ** 2 * eye + self.means[:, :, None] * self.means[:, None, :])
        return m, second - m[:, None] * m[None, :]

    def hparams(self) -> dict:
        return {}


def gaussian(mean: list[float], cov: list[list[float]], layer: str | None = None) -> MixtureScore:
    m = torch.tensor([mean], dtype=torch.float64)
    return MixtureScore(torch.ones(1, dtype=torch.float64), m, torch.tensor([cov], dtype=torch.float64), layer)


class NaNScore(ScorePrior):
    """A broken prior: its score is NaN everywhere (for the divergence check)."""

    kind = "test-nan"

    def denoise(self, z: Tensor, sigma) -> Tensor:
        return torch.full_like(z, float("nan"))

    def hparams(self) -> dict:
        return {"channels": self.channels}


class LinearRep(Representation):
    """Φ(x) = {"x": x, "lin": A x} per pixel (a 1×1 convolution), C_in channels in."""

    def __init__(self, a: Tensor) -> None:
        super().__init__()
        self.register_buffer("a", a)                                                # (C_out, C_in)
        c = a.shape[1]
        self.layers, self.taps, self.input_size = ["x", "lin"], ["x", "lin"], 1
        self.convention = InputConvention(scale=1.0, mean=(0.0,) * c, std=(1.0,) * c, channels=c)
        self._name = "linear"

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"x": x, "lin": torch.einsum("oc,bchw->bohw", self.a.to(x.dtype), x)}

    def receptive_field(self, name: str) -> ReceptiveField:
        return ReceptiveField(1, 1, 0.0)
