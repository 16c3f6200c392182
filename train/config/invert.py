"""The typed schema of an invert job (presets in ``configs/invert/``, user YAML files and
``key=value`` overrides are all validated by it) and its extension points.

Top level (:class:`InvertConfig`): representation, weights, layer, image_size, repeats,
seed, x0_sigma, x0_sigma_scale_with_size, score_channels, lambda_tv_by_depth, jitter,
and six tagged variants, each picked by its tag key:

=============  =====  =====================================  =========================
key            tag    built in                               hook
=============  =====  =====================================  =========================
``method``     name   optimisation (default)                 ``run(job, callbacks)``
``init``       name   random, image (null: the objective's)  ``build(ctx) -> Tensor``
``objective``  name   match (default), caricature,           ``build(ctx) -> [TermSpec]``
                      activation (+ target_channel)
``priors.<k>`` type   tv, alpha (default type: the key)      ``build(key, ctx) -> TermSpec``
``optimiser``  name   momentum, adagrad_momentum, adam,      ``build(ctx) -> Optimiser``
                      lbfgs
``box``        mode   off (= null), clamp, norm (+ bound)    ``build(ctx) -> Box | None``
=============  =====  =====================================  =========================

Changing a tag by an override (``optimiser.name=adam``) replaces the whole section by
that variant's own defaults; later overrides apply on top (``optimiser.lr=2``).

Extension: a new variant is a dataclass in its own module, registered with
:func:`register_variant`, whose module name is added to :data:`PLUGINS` (imported lazily,
the first time variants are looked up). Its hook gets a :class:`BuildContext`: the
representation, layers, Φ(x₀) at every tap, x₀, x0_sigma, size, repeats, seed — nothing
else from the invert setup is needed. Worked example: the learned prior of
:mod:`preimage.train.config.learned` (``@register_variant("priors", "learned")`` on a dataclass
of settings whose ``build(key, ctx)`` returns a :class:`TermSpec`); ``priors.foe.type=learned priors.foe.prior=foe-rgb`` (or the same in YAML) adds it to any
preset. ``taps()`` (default: ``[self.layer]`` when set) tells the setup
which extra layers the representation must expose. A method's runner
(:mod:`preimage.train.jobs.methods`) returns an ``InversionResult`` so ``invert`` writes the same run directory,
figure and metrics for every method (``job.evaluate(images)`` gives the engine's final
metrics for images made another way); an init implements ``build(ctx) -> Tensor`` of
shape (ctx.batch, C, size, size) in input units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, Sequence

from preimage.inversion.init import X0_SIGMA
from preimage.train.config.types import (PLUGINS, NonNegFloat, NonNegInt, PosFloat, PosInt, Range, Variant,
                                         register_base, register_variant, to_data, variants)
from preimage.train.config.validate import from_data

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from preimage.inversion import Box, InversionResult, Optimiser, Term
    from preimage.representations import Representation
    from preimage.train.jobs.setup import InversionJob

__all__ = ["PLUGINS", "BoxVariant", "BuildContext", "InitVariant", "InvertConfig", "Jitter", "MethodVariant",
           "NonNegFloat", "NonNegInt", "ObjectiveVariant", "OptimiserVariant", "PosFloat", "PosInt", "PriorVariant",
           "Range", "TermSpec", "from_data",
           "parse_config", "register_variant", "to_data", "variants"]

# Modules that register more variants, imported lazily on the first variant lookup: one line each,
# e.g. "preimage.train.config.learned".
PLUGINS.extend([
    "preimage.train.config.learned",
    "preimage.train.config.methods",
])



@dataclass
class BuildContext:
    """What a variant's hook may use: the representation with every tap built, the
    layers to invert, Φ(x₀) (``phi0[tap]``: (N, C, H, W), one item per image), the
    originals ``x0`` (N, C, H, W) in input units and ``rgb`` (N, 3, H, W) in [0, 1],
    x0_sigma in input units, the side ``size``, ``repeats`` per image and the ``seed``."""

    config: InvertConfig
    representation: Representation
    layers: list[str]
    phi0: dict[str, Tensor]
    x0: Tensor
    rgb: Tensor
    names: list[str]
    x0_sigma: float
    size: int
    repeats: int
    seed: int

    @property
    def batch(self) -> int:
        """Items optimised at once: images × repeats (image-major: item ``i·R + r``)."""
        return self.x0.shape[0] * self.repeats

    @property
    def units(self) -> float:
        """Input units per step of the 0–255 intensity scale."""
        return self.representation.convention.units_per_255


@dataclass
class TermSpec:
    """A named, weighted energy term for :class:`preimage.inversion.Objective`."""

    name: str
    term: Term
    weight: float


@register_base
class PriorVariant(Variant):
    """``priors.<key>``: an energy term; the default type is the key."""

    kind, tag, label = "priors", "type", "type"

    def taps(self) -> list[str]:
        layer = getattr(self, "layer", None)
        return [layer] if layer else []

    def build(self, key: str, ctx: BuildContext) -> TermSpec:  # pragma: no cover - abstract
        raise NotImplementedError


@register_base
class ObjectiveVariant(Variant):
    kind, tag, default, label = "objective", "name", "match", "objective"

    def build(self, ctx: BuildContext) -> list[TermSpec]:  # pragma: no cover - abstract
        raise NotImplementedError

    def default_init(self) -> InitVariant:
        return variants("init")["random"]()


@register_base
class OptimiserVariant(Variant):
    kind, tag, default, label = "optimiser", "name", "momentum", "optimiser"

    def build(self, ctx: BuildContext) -> Optimiser:  # pragma: no cover - abstract
        raise NotImplementedError


@register_base
class BoxVariant(Variant):
    kind, tag, default, none_tag, label = "box", "mode", "off", "off", "box mode"

    def build(self, ctx: BuildContext) -> Box | None:  # pragma: no cover - abstract
        raise NotImplementedError


@register_base
class InitVariant(Variant):
    kind, tag, default, label = "init", "name", "random", "init"

    def build(self, ctx: BuildContext) -> Tensor:  # pragma: no cover - abstract
        """(ctx.batch, C, size, size) starting images in input units."""
        raise NotImplementedError


@register_base
class MethodVariant(Variant):
    kind, tag, default, label = "method", "name", "optimisation", "method"

    def prepare(self, job: InversionJob) -> None:
        """Load and check what the method needs (a checkpoint, say) before any run directory
        exists; bad input fails here (the runner's ``prepare``, :mod:`preimage.train.jobs.methods`)."""
        from preimage.train.jobs.methods import prepare_method

        prepare_method(job)

    def run(self, job: InversionJob, callbacks: Sequence[Any]) -> InversionResult:
        """Run the job with the method's runner (:mod:`preimage.train.jobs.methods`)."""
        from preimage.train.jobs.methods import run_method

        return run_method(job, callbacks)


@dataclass
class Jitter:
    """IJCV'16: random shifts of up to ``tau`` pixels (``auto``: a quarter of the layer's
    stride) for the first ``steps`` steps (null: all)."""

    tau: NonNegInt | Literal["auto"] = 0
    steps: NonNegInt | None = None


def _match() -> ObjectiveVariant:
    return variants("objective")["match"]()


def _variant(kind: str, name: str) -> Any:
    return lambda: variants(kind)[name]()


@dataclass
class InvertConfig:
    """One invert job. ``layer``: one name or a list (matched at once); ``image_size``:
    null for the representation's default; ``init``: null for the objective's own
    (the image for caricatures, noise otherwise)."""

    representation: str
    layer: str | list[str] | None = None
    name: str | None = None
    weights: str | None = None
    image_size: PosInt | None = None
    repeats: PosInt = 1
    seed: NonNegInt = 0
    x0_sigma: PosFloat = X0_SIGMA
    x0_sigma_scale_with_size: bool = False
    method: MethodVariant = field(default_factory=_variant("method", "optimisation"))
    init: InitVariant | None = None
    objective: ObjectiveVariant = field(default_factory=_match)
    score_channels: PosInt | None = None
    priors: dict[str, PriorVariant | None] = field(default_factory=dict)
    lambda_tv_by_depth: list[tuple[PosInt, NonNegFloat]] | None = None
    optimiser: OptimiserVariant = field(default_factory=_variant("optimiser", "momentum"))
    jitter: Jitter = field(default_factory=Jitter)
    box: BoxVariant = field(default_factory=_variant("box", "off"))

    @property
    def layers(self) -> list[str]:
        if not self.layer:
            from preimage.representations.errors import PreimageError

            raise PreimageError("the config names no layer; pass --layer NAME or layer=NAME")
        return [self.layer] if isinstance(self.layer, str) else list(self.layer)


def parse_config(data: dict[str, Any]) -> InvertConfig:
    """Plain data (a preset after overrides) → a validated :class:`InvertConfig`."""
    return from_data(InvertConfig, data)


from preimage.train.config import builtin, optimisers  # noqa: E402,F401 - register the built-in variants
