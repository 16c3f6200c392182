"""The built-in variants of the invert schema (:mod:`preimage.train.config.invert`): objectives
(CVPR'15 Eq. 2 feature match, IJCV'16 Sec. 5 caricature and activation maximisation),
handcrafted priors (TV^β, α-norm; CVPR'15 Eq. 3–4, IJCV'16 Eq. 6–7), boxes and inits
(optimisers: :mod:`preimage.train.config.optimisers`; methods: :mod:`preimage.train.config.methods`). Each holds its settings and builds its engine object
from a :class:`BuildContext`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from preimage.inversion import ActivationMax, Box, Caricature, FeatureMatch, PriorTerm, feature_mask, random_init
from preimage.priors import AlphaNormPrior, TVPrior
from preimage.representations.errors import PreimageError
from preimage.train.config.invert import (BoxVariant, BuildContext, InitVariant, NonNegFloat, NonNegInt,
                                          ObjectiveVariant, PosFloat, PosInt, PriorVariant, TermSpec, register_variant)


# ---------------------------------------------------------------- objectives
@dataclass
class _FeatureObjective(ObjectiveVariant):
    """``weight`` is C; the mask keeps the centre ``neigh``×``neigh`` neurons, one
    ``filter_group`` (1 or 2: first / second half of the channels) or the first ``channels``."""

    weight: NonNegFloat = 1.0
    neigh: PosInt | None = None
    filter_group: Literal[1, 2] | None = None
    channels: PosInt | None = None

    def _targets(self, ctx: BuildContext):
        for layer in ctx.layers:
            target = ctx.phi0[layer].repeat_interleave(ctx.repeats, 0)
            mask = None
            if self.neigh or self.filter_group or self.channels:
                mask = feature_mask(target.shape, self.neigh, self.filter_group, target.device, target.dtype)
                if self.channels:
                    mask[:, self.channels:] = 0
            suffix = "" if len(ctx.layers) == 1 else f"@{layer}"
            yield layer, target, mask, suffix


@register_variant("objective", "match")
@dataclass
class MatchObjective(_FeatureObjective):
    """CVPR'15 Eq. 2: C ‖m ⊙ (Φ(x) − Φ₀)‖² / ‖Φ₀‖²."""

    def build(self, ctx: BuildContext) -> list[TermSpec]:
        return [TermSpec(f"match{s}", FeatureMatch(layer, t, m), self.weight) for layer, t, m, s in self._targets(ctx)]


@register_variant("objective", "caricature")
@dataclass
class CaricatureObjective(_FeatureObjective):
    """IJCV'16 Sec. 5: −C ⟨m ⊙ Φ₀, Φ(x)⟩ / ‖m ⊙ Φ₀‖², starting from the image."""

    def build(self, ctx: BuildContext) -> list[TermSpec]:
        return [TermSpec(f"caricature{s}", Caricature(layer, t, m), self.weight)
                for layer, t, m, s in self._targets(ctx)]

    def default_init(self) -> InitVariant:
        return ImageInit()


@register_variant("objective", "activation")
@dataclass
class ActivationObjective(_FeatureObjective):
    """IJCV'16 Sec. 5: −C Φ_c(x) at the centre neuron of ``target_channel``, divided by
    the largest activation of the originals at the layer (C in the same units everywhere)."""

    target_channel: NonNegInt | None = None

    def build(self, ctx: BuildContext) -> list[TermSpec]:
        out = []
        for layer, target, _, suffix in self._targets(ctx):
            c = target.shape[1]
            if self.target_channel is None or self.target_channel >= c:
                raise PreimageError(f"objective 'activation' needs objective.target_channel in 0..{c - 1} for layer "
                                    f"{layer}, got {self.target_channel}; pass objective.target_channel=N")
            w = torch.zeros(1, *target.shape[1:], dtype=target.dtype, device=target.device)
            w[0, self.target_channel, target.shape[2] // 2, target.shape[3] // 2] = 1.0
            term = ActivationMax(layer, w, sigma=float(target.abs().max().clamp_min(1e-12)))
            out.append(TermSpec(f"activation{suffix}", term, self.weight))
        return out


# ---------------------------------------------------------------- priors
class _HandcraftedPrior(PriorVariant):
    """On the image: scaled by 1/x0_sigma² (CVPR'15) or, given ``range`` s, by
    1/(H·W·s^power) (IJCV'16); on a feature map ``layer``: scaled to 1 at Φ(x₀)."""

    layer: str | None
    range: float | None

    def _term(self, key: str, energy: torch.nn.Module, power: float, weight: float, ctx: BuildContext) -> TermSpec:
        if self.layer is None:
            scale = (1.0 / (ctx.size**2 * self.range**power) if self.range is not None
                     else 1.0 / ctx.x0_sigma**2)
            return TermSpec(key, PriorTerm(energy, scale=scale), weight)
        e0 = float(energy(ctx.phi0[self.layer]).mean())
        return TermSpec(f"{key}@{self.layer}", PriorTerm(energy, layer=self.layer, scale=1.0 / max(e0, 1e-30)), weight)


@register_variant("priors", "tv")
@dataclass
class TVPriorConfig(_HandcraftedPrior):
    """TV^β (CVPR'15 Eq. 4). ``weight: auto`` takes λ_TV/2 from ``lambda_tv_by_depth``
    by the 1-based depth of the deepest inverted layer."""

    weight: NonNegFloat | Literal["auto"] = 1.0
    beta: PosFloat = 2.0
    coupled: bool = False
    layer: str | None = None
    range: PosFloat | None = None

    def build(self, key: str, ctx: BuildContext) -> TermSpec:
        return self._term(key, TVPrior(self.beta, self.coupled), self.beta, self._weight(key, ctx), ctx)

    def _weight(self, key: str, ctx: BuildContext) -> float:
        if self.weight != "auto":
            return float(self.weight)
        table = ctx.config.lambda_tv_by_depth
        if not table:
            raise PreimageError(f"priors.{key}.weight is 'auto' but the config has no lambda_tv_by_depth table; "
                                f"give a number, e.g. priors.{key}.weight=0.5")
        rep = ctx.representation
        depth = max(rep.layers.index(l) for l in ctx.layers) + 1  # as the paper numbers layers
        return next((float(v) for bound, v in table if depth <= bound), float(table[-1][1]))


@register_variant("priors", "alpha")
@dataclass
class AlphaPriorConfig(_HandcraftedPrior):
    """α-norm ‖x‖_α^α (CVPR'15 Eq. 3); ``coupled``: of each pixel's colour vector."""

    weight: NonNegFloat = 1.0
    alpha: PosFloat = 6.0
    coupled: bool = False
    layer: str | None = None
    range: PosFloat | None = None

    def build(self, key: str, ctx: BuildContext) -> TermSpec:
        return self._term(key, AlphaNormPrior(self.alpha, self.coupled), self.alpha, self.weight, ctx)


# ---------------------------------------------------------------- boxes, inits
@register_variant("box", "off")
@dataclass
class NoBox(BoxVariant):
    def build(self, ctx: BuildContext) -> Box | None:
        return None


@register_variant("box", "clamp")
@dataclass
class ClampBox(BoxVariant):
    """Every value kept in [−bound, bound] (0–255 units)."""

    bound: PosFloat = 200.0

    def build(self, ctx: BuildContext) -> Box | None:
        return Box(-self.bound * ctx.units, self.bound * ctx.units, self.mode)  # type: ignore[attr-defined]


@register_variant("box", "norm")
@dataclass
class NormBox(ClampBox):
    """IJCV'16: every pixel's colour vector kept to norm ≤ bound (B+ = 160)."""

    bound: PosFloat = 160.0


@register_variant("init", "random")
@dataclass
class RandomInit(InitVariant):
    """CVPR'15: Gaussian noise of norm x0_sigma per item, seeded."""

    def build(self, ctx: BuildContext) -> torch.Tensor:
        shape = (ctx.batch, ctx.representation.convention.channels, ctx.size, ctx.size)
        return random_init(shape, ctx.x0_sigma, seed=ctx.seed)


@register_variant("init", "image")
@dataclass
class ImageInit(InitVariant):
    """Start from the originals (IJCV'16 caricatures)."""

    def build(self, ctx: BuildContext) -> torch.Tensor:
        return ctx.x0.repeat_interleave(ctx.repeats, 0).clone()
