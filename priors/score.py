"""Score priors: a learned denoiser D(z, σ) gives the score of the σ-smoothed density,

    s(z, σ) = ∇_z log p_σ(z) = (D(z, σ) − z) / σ²          (Tweedie / Miyasawa; Efron 2011, Eq. 2.8)

where p_σ = p ∗ N(0, σ²I) and D is the MMSE denoiser at noise σ (Vincent 2011, §4.2; Song &
Ermon 2019, §2; Kadkhodaie & Simoncelli 2021, Eq. 2). A score prior is **gradient only**: it
has no energy value (``has_energy = False``), so asking it for one raises :class:`PreimageError`;
the engine adds ``−weight · s`` to the gradient (:class:`preimage.inversion.score_term.ScoreTerm`)
and Langevin dynamics samples with it (:mod:`preimage.inversion.langevin`).

:class:`ScoreDenoiser` is a DnCNN-style residual network (Zhang et al., TIP 2017): a stack of
convolutions with ReLUs that predicts the unit-variance noise ε̂, D = z − σ·ε̂ (so s = −ε̂/σ).
It is bias-free by default (Mohan et al., ICLR 2020: then D(αz, σ) = αD(z, σ)) and takes the
noise level as per-layer, per-channel gains g_l(σ) = exp(A_l φ(t)), φ(t) = (t, t², …, t^k),
t the log σ rescaled to [−1, 1] over the trained range — multiplicative, so it stays
bias-free. Fully convolutional: any (B, C, H, W), images (C = 1, 3) or feature maps (any C).
With ``unshuffle = r`` the network runs on the r × r polyphase components (pixel unshuffle to
C·r² channels at 1/r the resolution and back, as FFDNet; Zhang et al., TIP 2018, §III-A): r²
fewer positions per layer and an r times wider receptive field for the same depth. With
``residual`` the hidden convolutions form EDSR's blocks h ← h + conv(ReLU(conv(h))) (Lim et
al., CVPRW 2017; no normalisation), each block's last convolution zero at the start (SkipInit;
De & Smith 2020), which trains deep stacks without normalisation at a large learning rate.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from preimage.priors.registry import register_prior
from preimage.representations.errors import PreimageError

Sigma = float | Tensor


def check_sigma(sigma: Sigma, batch: int, like: Tensor) -> Tensor:
    """σ as a (B, 1, 1, 1) tensor of ``like``'s dtype and device; one clear error unless every
    σ is finite and > 0. ``sigma``: a number, or a tensor of 1 or B values."""
    if not isinstance(sigma, Tensor):
        s = float(sigma)
        if not (math.isfinite(s) and s > 0.0):
            raise PreimageError(f"noise level sigma must be finite and > 0, got {s}; give a positive sigma in the "
                                f"prior's units")
        return torch.full((batch, 1, 1, 1), s, dtype=like.dtype, device=like.device)
    s = sigma.detach().to(dtype=like.dtype, device=like.device).reshape(-1)
    if s.numel() not in (1, batch):
        raise PreimageError(f"sigma has {s.numel()} values for a batch of {batch}; give one sigma or one per item")
    if not bool((torch.isfinite(s) & (s > 0)).all()):
        raise PreimageError(f"noise level sigma must be finite and > 0, got {s.tolist()[:4]}; give positive sigmas "
                            f"in the prior's units")
    return s.expand(batch).reshape(batch, 1, 1, 1)


def score_from_denoiser(denoised: Tensor, z: Tensor, sigma: Tensor) -> Tensor:
    """Tweedie's formula s = (D(z, σ) − z)/σ²; ``sigma`` broadcastable to ``z``."""
    return (denoised - z) / sigma.square()


class ScorePrior(nn.Module, ABC):
    """A gradient-only prior: :meth:`denoise` and :meth:`score` at noise σ, no energy.

    ``channels``: the channel count C of the space it was trained on; ``layer``: that space
    (None: the image); ``representation``: the network whose layer it is (None: any / the
    image). Subclasses implement :meth:`denoise` and :meth:`hparams`, and may override
    :meth:`score` where it is cheaper or more accurate than Tweedie's formula.
    """

    kind: ClassVar[str]
    has_energy: ClassVar[bool] = False

    def __init__(self, channels: int, layer: str | None = None, representation: str | None = None) -> None:
        super().__init__()
        if int(channels) < 1:
            raise PreimageError(f"a score prior needs channels ≥ 1, got {channels}")
        self.channels, self.layer, self.representation = int(channels), layer, representation

    @property
    def space(self) -> str:
        """Where the prior lives: ``"image"`` or ``"layer <name>"``."""
        return "image" if self.layer is None else f"layer {self.layer}"

    def check_input(self, z: Tensor) -> None:
        """One clear error unless z is (B, channels, H, W)."""
        if z.dim() != 4 or z.shape[1] != self.channels:
            got = z.shape[1] if z.dim() == 4 else f"shape {tuple(z.shape)}"
            raise PreimageError(f"score prior {type(self).__name__} ({self.space}) takes {self.channels}-channel "
                                f"(B, {self.channels}, H, W) inputs, got {got}; use a prior trained on this space")

    @abstractmethod
    def denoise(self, z: Tensor, sigma: Sigma) -> Tensor:
        """D(z, σ): the estimate of the clean z from z = z₀ + σε, same shape as z."""

    def score(self, z: Tensor, sigma: Sigma) -> Tensor:
        """s(z, σ) = (D(z, σ) − z)/σ² ≈ ∇_z log p_σ(z), same shape as z."""
        s = check_sigma(sigma, z.shape[0], z)
        return score_from_denoiser(self.denoise(z, s), z, s)

    def forward(self, z: Tensor) -> Tensor:
        """Refused: a score prior has no energy value."""
        raise self.no_energy()

    def value_and_grad(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Refused: a score prior has no energy value."""
        raise self.no_energy()

    def no_energy(self) -> PreimageError:
        return PreimageError(f"{type(self).__name__} is a score prior: it has a gradient score(z, sigma) but no energy "
                             f"value; use it as a ScoreTerm or in Langevin sampling, not where an energy is needed "
                             f"(PriorTerm, MAP denoising, L-BFGS)")

    def describe(self) -> dict[str, Any]:
        """What a prior file's meta says about this prior (:func:`preimage.priors.store.save_prior`)."""
        return {"channels": self.channels, "layer": self.layer, "representation": self.representation,
                "patch_size": None, "has_energy": False}

    @abstractmethod
    def hparams(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-able): ``type(self)(**self.hparams())`` rebuilds it."""


@register_prior
class ScoreDenoiser(ScorePrior):
    """DnCNN-style residual denoiser with noise-level gains (module docstring).

    ``features`` hidden channels, ``depth`` convolutions of ``kernel_size`` (``dilations``:
    one per convolution, default all 1; IRCNN's 1, 2, 3, 4, 3, 2, 1 widens the receptive field
    at no cost), ``bias`` adds biases (needed for data with a non-zero mean and a 1×1 model),
    ``sigma_degree`` the degree k of the gains' polynomial in t (0: a blind denoiser),
    ``sigma_min``/``sigma_max`` the trained noise range (data units), ``scale`` the data's
    typical amplitude (the network sees z / (scale·√(1 + σ²/scale²)), EDM's c_in; Karras et
    al. 2022, Table 1), ``unshuffle`` the polyphase factor r (module docstring; inputs are
    reflect-padded to a multiple of r and cropped back), ``residual`` EDSR blocks (module docstring;
    ``depth`` = 2 + 2 × blocks). ``depth = 1`` is one linear convolution.
    """

    kind = "score"

    def __init__(self, channels: int = 1, features: int = 64, depth: int = 17, kernel_size: int = 3,
                 dilations: Sequence[int] | None = None, bias: bool = False, sigma_degree: int = 2,
                 sigma_min: float = 0.01, sigma_max: float = 0.5, scale: float = 1.0, padding_mode: str = "zeros",
                 unshuffle: int = 1, residual: bool = False, layer: str | None = None,
                 representation: str | None = None) -> None:
        super().__init__(channels, layer, representation)
        dil = [1] * int(depth) if dilations is None else [int(d) for d in dilations]
        if depth < 1 or features < 1 or kernel_size < 1 or kernel_size % 2 == 0 or len(dil) != depth or min(dil) < 1 \
                or unshuffle < 1 or (residual and (depth < 4 or depth % 2)):
            raise PreimageError(f"a score denoiser needs depth ≥ 1, features ≥ 1, an odd kernel_size, one dilation "
                                f"≥ 1 per layer, unshuffle ≥ 1 and (residual) an even depth ≥ 4, got depth {depth}, "
                                f"features {features}, kernel {kernel_size}, dilations {dil}, "
                                f"unshuffle {unshuffle}")
        if not (0 < sigma_min <= sigma_max and math.isfinite(sigma_max)) or not scale > 0 or sigma_degree < 0 \
                or padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise PreimageError(f"need 0 < sigma_min ≤ sigma_max < inf, scale > 0, sigma_degree ≥ 0 and a "
                                f"padding_mode of zeros/reflect/replicate/circular, got {sigma_min}, {sigma_max}, "
                                f"{scale}, {sigma_degree}, {padding_mode!r}")
        self.features, self.depth, self.kernel_size, self.dilations = int(features), int(depth), int(kernel_size), dil
        self.bias, self.sigma_degree, self.padding_mode = bool(bias), int(sigma_degree), padding_mode
        self.unshuffle, self.residual = int(unshuffle), bool(residual)
        self.sigma_min, self.sigma_max, self.scale = float(sigma_min), float(sigma_max), float(scale)
        io = self.channels * self.unshuffle ** 2
        widths = [io] + [self.features] * (self.depth - 1) + [io]
        self.convs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], kernel_size, padding=dil[i] * (kernel_size - 1) // 2, dilation=dil[i],
                      bias=self.bias, padding_mode=padding_mode) for i in range(self.depth))
        self.gains = nn.ParameterList(nn.Parameter(torch.zeros(w, self.sigma_degree)) for w in widths[1:])
        for i, conv in enumerate(self.convs[:-1]):
            if self.residual and i > 0 and i % 2 == 0:
                nn.init.zeros_(conv.weight)    # a block's second convolution: the block starts as the identity
            else:
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.convs[-1].weight)  # ε̂ = 0 at the start: D is the identity (as ADM/EDM's last layer)
        for conv in self.convs:
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    def sigma_features(self, sigma: Tensor) -> Tensor:
        """φ(t) = (t, …, t^k), t = log σ rescaled to [−1, 1] over [sigma_min, sigma_max]: (B,) → (B, k)."""
        lo, hi = math.log(self.sigma_min), math.log(self.sigma_max)
        t = (sigma.log() - 0.5 * (lo + hi)) / max(0.5 * (hi - lo), 1e-6)
        return t[:, None] ** torch.arange(1, self.sigma_degree + 1, dtype=t.dtype, device=t.device)

    def noise_estimate(self, z: Tensor, sigma: Tensor) -> Tensor:
        """ε̂(z, σ), the unit-variance noise the network predicts; ``sigma`` (B, 1, 1, 1), checked."""
        phi = self.sigma_features(sigma.reshape(-1))                              # (B, k)
        h = z / (self.scale * (1.0 + (sigma / self.scale).square()).sqrt())
        r, (height, width) = self.unshuffle, z.shape[-2:]
        if r > 1:  # (B, C, H, W) → (B, C·r², ⌈H/r⌉, ⌈W/r⌉)
            h = F.pixel_unshuffle(F.pad(h, (0, -width % r, 0, -height % r), mode="reflect"), r)
        inplace = not torch.is_grad_enabled()
        skip = None
        for i, (conv, a) in enumerate(zip(self.convs, self.gains)):
            last = i == self.depth - 1
            if self.residual and not last and i % 2 == 1:
                skip = h                                                           # a block's input
            h = conv(h)
            if self.sigma_degree:
                g = torch.exp(phi @ a.to(h.dtype).T)[:, :, None, None]             # (B, out, 1, 1)
                h = h.mul_(g) if inplace else h * g
            if self.residual and not last and i > 0 and i % 2 == 0:
                h = h.add_(skip) if inplace else h + skip                           # end of a block: no ReLU
            elif not last and not (self.residual and i == 0):
                h = F.relu(h, inplace=inplace)
        if r > 1:
            h = F.pixel_shuffle(h, r)[..., :height, :width]
        return h if h.is_contiguous() else h.contiguous()

    def denoise(self, z: Tensor, sigma: Sigma) -> Tensor:
        """D(z, σ) = z − σ·ε̂(z, σ)."""
        self.check_input(z)
        s = check_sigma(sigma, z.shape[0], z)
        return z - s * self.noise_estimate(z, s)

    def score(self, z: Tensor, sigma: Sigma) -> Tensor:
        """s(z, σ) = (D − z)/σ² = −ε̂(z, σ)/σ (no cancellation of z)."""
        self.check_input(z)
        s = check_sigma(sigma, z.shape[0], z)
        return self.noise_estimate(z, s).div_(-s) if not torch.is_grad_enabled() else -self.noise_estimate(z, s) / s

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "scale": self.scale}

    def hparams(self) -> dict[str, Any]:
        return {"channels": self.channels, "features": self.features, "depth": self.depth,
                "kernel_size": self.kernel_size, "dilations": list(self.dilations), "bias": self.bias,
                "sigma_degree": self.sigma_degree, "sigma_min": self.sigma_min, "sigma_max": self.sigma_max,
                "scale": self.scale, "padding_mode": self.padding_mode, "unshuffle": self.unshuffle,
                "residual": self.residual, "layer": self.layer, "representation": self.representation}
