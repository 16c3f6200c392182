"""The optimiser variants of the invert schema: CVPR'15 momentum with its schedule,
IJCV'16 AdaGrad-normalised momentum, Adam and L-BFGS, each with its own defaults
(``optimiser.name=adam`` brings Adam's). ``schedule``: [multiplier, steps] segments of
``lr``; ``steps``: a constant rate for that many steps when there is no schedule."""

from __future__ import annotations

from dataclasses import dataclass
import inspect
from typing import Annotated, Any, Literal

import torch

from preimage.inversion import Optimiser, expand_schedule
from preimage.inversion.optimisers import LBFGS, Adam, AdagradMomentum, MomentumSchedule
from preimage.representations.errors import PreimageError
from preimage.train.config.invert import (BuildContext, NonNegFloat, NonNegInt, OptimiserVariant, PosFloat, PosInt, Range,
                                   register_variant)

Unit = Annotated[float, Range(ge=0, lt=1)]


def engine_default(cls: type, name: str) -> Any:
    """The engine's own default of constructor argument ``name`` of ``cls``: the schema does not
    repeat the engine's defaults, it reads them (the learning rates and schedules below are the
    papers' settings for each variant, which the engine does not have)."""
    return inspect.signature(cls.__init__).parameters[name].default
Schedule = list[tuple[NonNegFloat, NonNegInt]]


def _lrs(lr: float, schedule: Schedule | None, steps: int | None) -> list[float]:
    if not schedule and steps is None:
        raise PreimageError("the optimiser needs a schedule or a number of steps; pass optimiser.steps=N")
    return expand_schedule(lr, schedule, steps)


@register_variant("optimiser", "momentum")
@dataclass
class MomentumConfig(OptimiserVariant):
    """CVPR'15 (invert_nn.m): m ← μ m − η_t·scale·∇E, x ← x + m; ``scale``: x0_sigma2,
    hw (H·W) or a number; ``schedule``: [multiplier, steps] segments of ``lr``."""

    momentum: Unit = engine_default(MomentumSchedule, "momentum")
    lr: PosFloat = 0.004
    schedule: Schedule | None = ((1.0, 100), (0.1, 200), (0.01, 100))
    steps: PosInt | None = None
    scale: Literal["x0_sigma2", "hw"] | PosFloat = "x0_sigma2"

    def _scale(self, ctx: BuildContext) -> float:
        scale = {"x0_sigma2": ctx.x0_sigma**2, "hw": float(ctx.size**2)}.get(self.scale, self.scale)  # type: ignore
        limit = torch.finfo(torch.float32).max / 1e3  # the step lr·scale·grad must stay a float32
        largest = max((m for m, _ in self.schedule or ()), default=1.0) * self.lr
        if largest * scale > limit:
            raise PreimageError(f"optimiser.lr={self.lr:g} is too large: the step size lr × scale = "
                                f"{largest * scale:.3g} overflows; give optimiser.lr ≤ {limit / scale / max(largest / self.lr, 1e-30):.3g}")
        return float(scale)

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
    betas: tuple[Unit, Unit] = engine_default(Adam, "betas")
    eps: PosFloat = engine_default(Adam, "eps")
    schedule: Schedule | None = ((1.0, 200), (0.1, 100))
    steps: PosInt | None = None

    def build(self, ctx: BuildContext) -> Optimiser:
        return Adam(_lrs(self.lr * ctx.units, self.schedule, self.steps), tuple(self.betas), self.eps)


@register_variant("optimiser", "lbfgs")
@dataclass
class LBFGSConfig(OptimiserVariant):
    """torch's L-BFGS with a strong-Wolfe line search on scale·E, one iteration a step."""

    lr: PosFloat = 1.0
    history_size: PosInt = engine_default(LBFGS, "history_size")
    schedule: Schedule | None = None
    steps: PosInt | None = 100
    scale: Literal["x0_sigma2", "hw"] | PosFloat = "x0_sigma2"

    def build(self, ctx: BuildContext) -> Optimiser:
        scale = {"x0_sigma2": ctx.x0_sigma**2, "hw": float(ctx.size**2)}.get(self.scale, self.scale)  # type: ignore
        return LBFGS(_lrs(self.lr, self.schedule, self.steps), float(scale), self.history_size)
