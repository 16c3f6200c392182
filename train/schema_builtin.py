"""The built-in variants of the invert schema (:mod:`preimage.train.schema`): objectives
(CVPR'15 Eq. 2 feature match, IJCV'16 Sec. 5 caricature and activation maximisation),
handcrafted priors (TV^β, α-norm; CVPR'15 Eq. 3–4, IJCV'16 Eq. 6–7), optimisers, boxes,
inits and the optimisation method. Each holds its settings and builds its engine object
from a :class:`BuildContext`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Sequence

import torch

from preimage.inversion import (ActivationMax, Box, Caricature, FeatureMatch, InversionResult, Optimiser,
                                PriorTerm, expand_schedule, feature_mask, invert, random_init)
from preimage.inversion.optimisers import LBFGS, Adam, AdagradMomentum, MomentumSchedule
from preimage.priors import AlphaNormPrior, TVPrior
from preimage.representations.errors import PreimageError
from preimage.train.schema import (BoxVariant, BuildContext, InitVariant, MethodVariant, NonNegFloat, NonNegInt,
                                   ObjectiveVariant, OptimiserVariant, PosFloat, PosInt, PriorVariant, Range,
                                   TermSpec, register_variant)

Unit = Annotated[float, Range(ge=0, lt=1)]
Schedule = list[tuple[NonNegFloat, NonNegInt]]


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


# ---------------------------------------------------------------- optimisers
def _lrs(lr: float, schedule: Schedule | None, steps: int | None) -> list[float]:
    if not schedule and steps is None:
        raise PreimageError("the optimiser needs a schedule or a number of steps; pass optimiser.steps=N")
    return expand_schedule(lr, schedule, steps)


@register_variant("optimiser", "momentum")
@dataclass
class MomentumConfig(OptimiserVariant):
    """CVPR'15 (invert_nn.m): m ← μ m − η_t·scale·∇E, x ← x + m; ``scale``: x0_sigma2,
    hw (H·W) or a number; ``schedule``: [multiplier, steps] segments of ``lr``."""

    momentum: Unit = 0.9
    lr: PosFloat = 0.004
    schedule: Schedule | None = ((1.0, 100), (0.1, 200), (0.01, 100))
    steps: PosInt | None = None
    scale: Literal["x0_sigma2", "hw"] | PosFloat = "x0_sigma2"

    def _scale(self, ctx: BuildContext) -> float:
        return {"x0_sigma2": ctx.x0_sigma**2, "hw": float(ctx.size**2)}.get(self.scale, self.scale)  # type: ignore

    def build(self, ctx: BuildContext) -> Optimiser:
        return MomentumSchedule(_lrs(self.lr, self.schedule, self.steps), self.momentum, self._scale(ctx))


@register_variant("optimiser", "adagrad_momentum")
@dataclass
class AdagradMomentumConfig(MomentumConfig):
    """IJCV'16 (nnpreimage.m): momentum on an AdaGrad-normalised gradient, lr·H·W."""

    lr: PosFloat = 53.333333
    schedule: Schedule | None = ((1.0, 300), (0.1, 50))
    scale: Literal["x0_sigma2", "hw"] | PosFloat = "hw"

    def build(self, ctx: BuildContext) -> Optimiser:
        return AdagradMomentum(_lrs(self.lr, self.schedule, self.steps), self.momentum, self._scale(ctx))


@register_variant("optimiser", "adam")
@dataclass
class AdamConfig(OptimiserVariant):
    """torch's Adam on x; ``lr`` in 0–255 intensity steps (converted to input units)."""

    lr: PosFloat = 2.0
    betas: tuple[Unit, Unit] = (0.9, 0.999)
    eps: PosFloat = 1e-8
    schedule: Schedule | None = ((1.0, 200), (0.1, 100))
    steps: PosInt | None = None

    def build(self, ctx: BuildContext) -> Optimiser:
        return Adam(_lrs(self.lr * ctx.units, self.schedule, self.steps), tuple(self.betas), self.eps)


@register_variant("optimiser", "lbfgs")
@dataclass
class LBFGSConfig(OptimiserVariant):
    """torch's L-BFGS with a strong-Wolfe line search on scale·E, one iteration a step."""

    lr: PosFloat = 1.0
    history_size: PosInt = 10
    schedule: Schedule | None = None
    steps: PosInt | None = 100
    scale: Literal["x0_sigma2", "hw"] | PosFloat = "x0_sigma2"

    def build(self, ctx: BuildContext) -> Optimiser:
        scale = {"x0_sigma2": ctx.x0_sigma**2, "hw": float(ctx.size**2)}.get(self.scale, self.scale)  # type: ignore
        return LBFGS(_lrs(self.lr, self.schedule, self.steps), float(scale), self.history_size)


# ---------------------------------------------------------------- boxes, inits, methods
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


@register_variant("method", "optimisation")
@dataclass
class OptimisationMethod(MethodVariant):
    """Minimise the job's objective with its optimiser (CVPR'15 Sec. 3 / IJCV'16 Sec. 3)."""

    def run(self, job: Any, callbacks: Sequence[Any]) -> InversionResult:
        return invert(job.objective, job.init, job.optimiser, job.steps, callbacks, job.jitter, job.box)
