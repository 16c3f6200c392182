"""The method variants of the invert schema (settings only; how each runs:
:mod:`preimage.train.jobs.methods`) and the inverter init:

- ``method: optimisation`` (the default) — the objective minimised by the job's optimiser;
- ``method: {name: hoggle, model: NAME}`` — HOGgle's paired dictionaries for HOG;
- ``method: {name: langevin, levels, steps_per_level, f_max, eps, momentum, step_power}`` — samples of pre-images
  drawn by annealed Langevin dynamics with the job's objective and score priors;

- ``method: {name: inverter, checkpoint: auto}`` — x* = g(Φ₀), one forward pass of a trained
  inverter (Dosovitskiy & Brox 2016), written to the same run directory, figure and metrics
  as optimisation;
- ``init: {name: inverter, checkpoint: auto}`` — the hybrid: the job's optimisation starts from
  g(Φ₀) (give it a gentle schedule: the CVPR'15 preset's first learning rate erases the
  inverter's image; see the ``squeezenet-hybrid`` preset).

``checkpoint``: a shipped short name, a ``.pt`` path, or ``auto`` (the shipped
``<representation>-<layer>``, or ``<representation>`` for a shallow one). The checkpoint is
loaded and checked against the job's network, layer and feature shape before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from preimage.inverters.hoggle import DEFAULT_MODEL
from preimage.train.config.invert import BuildContext, InitVariant, MethodVariant, register_variant
from preimage.train.config.types import PosFloat, PosInt, Range


@register_variant("method", "optimisation")
@dataclass
class OptimisationMethod(MethodVariant):
    """Minimise the job's objective with its optimiser (CVPR'15 Sec. 3 / IJCV'16 Sec. 3)."""


@register_variant("method", "langevin")
@dataclass
class LangevinMethod(MethodVariant):
    """Samples of p(x | Φ(x) ≈ Φ₀) ∝ exp(−E(x)), E the job's objective (the feature match
    weighted by ``objective.weight`` = λ, score priors as gradient-only terms at the image or at
    layers), by annealed Langevin dynamics (Song & Ermon 2019, Alg. 1): ``levels`` noise levels
    from ``f_max`` × each score term's ``sigma`` down to it, ``steps_per_level`` steps of size
    ``eps`` · f^``step_power`` (0–255 units squared) each; ``momentum`` μ > 0 makes the chain
    underdamped (SGHMC-style kinetic Langevin, friction 1 − μ: flat directions move 1/(1 − μ)
    times faster); ``decay`` ``[[multiplier, steps], …]`` multiplies the step (the segments add up
    to levels × steps_per_level). One sample per restart (``repeats`` = N samples)."""

    levels: PosInt = 10
    steps_per_level: PosInt = 20
    f_max: Annotated[float, Range(ge=1)] = 10.0
    eps: PosFloat = 0.05
    momentum: Annotated[float, Range(ge=0, lt=1)] = 0.0
    step_power: float = 2.0
    decay: list[list[float]] | None = None


@register_variant("method", "hoggle")
@dataclass
class HOGgleMethod(MethodVariant):
    """HOG inverted by HOGgle's paired dictionaries (Vondrick et al., ICCV 2013, Sec. 3.4)
    instead of by optimisation (``method.name=hoggle``); ``model``: a HOGgle .npz file or the
    short name of a shipped one. The job's objective is only evaluated on the result."""

    model: str = DEFAULT_MODEL


@register_variant("method", "inverter")
@dataclass
class InverterMethod(MethodVariant):
    """One forward pass of a trained inverter, scored with the job's objective."""

    checkpoint: str = "auto"


@register_variant("init", "inverter")
@dataclass
class InverterInit(InitVariant):
    """The hybrid: start from the inverter's reconstruction g(Φ₀), repeated over restarts.
    ``keep_better_start``: per item, the result is never worse in the objective than that
    start (the optimisation's end is kept only where it lowered the objective)."""

    checkpoint: str = "auto"
    keep_better_start: bool = True

    def build(self, ctx: BuildContext) -> Any:
        from preimage.train.jobs.inverters import images_from, load_checked

        inverter = load_checked(self.checkpoint, ctx.representation, ctx.layers, ctx.phi0)
        return images_from(inverter, ctx.representation, ctx.x0, ctx.repeats)
