"""A validated invert config + images → the engine's objects (representation, objective,
initial batch, optimiser, jitter, box, method). Batch layout: image-major, ``repeats``
restarts per image (item ``i·R + r``). Every choice is a schema variant
(:mod:`preimage.train.config.invert`) that builds its own part from a :class:`BuildContext`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from preimage.inversion import Box, Jitter, Objective, batch_bytes, format_bytes, memory_limit
from preimage.representations import Representation, build_representation, resize_crop
from preimage.representations.errors import PreimageError
from preimage.train.config.invert import BuildContext, InvertConfig, MethodVariant, parse_config


@dataclass
class InversionJob:
    representation: Representation
    layers: list[str]
    objective: Objective
    init: Tensor
    optimiser: Any
    steps: int
    jitter: Jitter | None
    box: Box | None
    x0: Tensor            # (N, C, H, W) originals in input units
    rgb: Tensor           # (N, 3, H, W) originals in [0, 1]
    names: list[str]
    repeats: int
    x0_sigma: float
    config: InvertConfig | None = None
    context: BuildContext | None = None
    state: dict[str, Any] = field(default_factory=dict)  # what the method's runner loaded (a checkpoint…)

    @property
    def method(self) -> MethodVariant:
        return self.config.method  # type: ignore[union-attr]

    def evaluate(self, images: Tensor) -> dict[str, Tensor]:
        """Per-item final values of every term, ``total`` and ``relative_error@<term>`` of
        each feature match at ``images`` (B, C, H, W): the engine's ``metrics``, for
        methods that produce images another way (inverse networks, HOGgle)."""
        return self.objective.metrics(images)


class BatchTooLarge(PreimageError):
    """The batch (images × repeats at ``size``) cannot fit in memory: ``needed`` bytes at least,
    the machine has ``limit``. :meth:`say` words it with the caller's key names."""

    def __init__(self, needed: int, limit: int, images: int, repeats: int, size: int, what: str) -> None:
        self.needed, self.limit, self.images, self.repeats, self.size, self.what = \
            needed, limit, images, repeats, size, what
        super().__init__(self.say())

    def say(self, repeats_key: str = "repeats", restarts: str = "restart") -> str:
        n, r = self.images, self.repeats
        return (f"image_size={self.size} with {repeats_key}={r} needs at least {format_bytes(self.needed)} "
                f"for {n} image{'s' * (n != 1)} × {r} {restarts}{'s' * (r != 1)} ({self.what}), more than this "
                f"machine's {format_bytes(self.limit)} of memory; lower image_size or {repeats_key}")


def check_batch_memory(images: int, repeats: int, channels: int, size: int, features: dict[str, int] | None = None,
                       itemsize: int = 4) -> None:
    """Refuse a job whose batch cannot fit: :func:`preimage.inversion.batch_bytes` (a lower bound)
    over :func:`preimage.inversion.memory_limit`. ``features``: elements per item of each tap."""
    limit = memory_limit()
    if limit is None:
        return
    features = features or {}
    needed = batch_bytes(images * repeats, channels * size * size, list(features.values()), itemsize)
    needed += images * (3 + channels) * size * size * itemsize  # the originals (RGB and input units)
    if needed > limit:
        what = f"the {channels}×{size}×{size} batch"
        what += f", its {', '.join(features)} maps and their gradients" if features else " and its gradient"
        raise BatchTooLarge(needed, limit, images, repeats, size, what)


def build_context(config: InvertConfig, images: list[tuple[str, Tensor]]) -> BuildContext:
    """Representation with every tap the job needs, the originals and Φ(x₀). A batch that cannot
    fit in memory is refused before the images are resized (:func:`check_batch_memory`, from the
    image sizes alone) and again once Φ(x₀) gives the feature maps' sizes, before any step."""
    layers = config.layers
    prior_taps = [t for p in config.priors.values() if p is not None for t in p.taps()]
    taps = list(dict.fromkeys(layers + prior_taps))
    rep = build_representation(config.representation, taps=taps, weights=config.weights)
    size = config.image_size or rep.input_size
    itemsize = torch.empty(0).element_size()
    check_batch_memory(len(images), config.repeats, rep.convention.channels, size, itemsize=itemsize)
    rgb = torch.stack([resize_crop(img, size) for _, img in images])
    x0 = rep.convention.preprocess(rgb)
    for layer in taps:
        rep.check_input(x0, layer)
    with torch.no_grad():
        phi0 = rep(x0)
    check_batch_memory(len(images), config.repeats, x0.shape[1], size,
                       {t: phi0[t][0].numel() for t in taps}, itemsize)
    if config.objective.name in ("match", "caricature"):  # both divide by ‖Φ₀‖²
        check_codes([n for n, _ in images], rgb, phi0, layers)
    x0_sigma = config.x0_sigma * rep.convention.units_per_255
    if config.x0_sigma_scale_with_size:
        x0_sigma *= (x0[0].numel() / (3 * 227 * 227)) ** 0.5
    return BuildContext(config, rep, layers, phi0, x0, rgb, [n for n, _ in images], x0_sigma, size,
                        config.repeats, config.seed)


def check_codes(names: list[str], rgb: Tensor, phi0: dict[str, Tensor], layers: list[str]) -> None:
    """Refuse, before any step, an image whose code at an inverted layer is zero (the normalised
    feature loss ‖Φ(x) − Φ₀‖²/‖Φ₀‖² of CVPR'15 Eq. 2 is then 0/0) or an image that is constant
    or near-constant (all its pixels within one 8-bit level: its code is nearly the same at
    every position, and there is nothing to reconstruct)."""
    span = (rgb.flatten(2).amax(-1) - rgb.flatten(2).amin(-1)).amax(-1)  # (N,) largest channel range
    for i, name in enumerate(names):
        zero = [l for l in layers if not float(phi0[l][i].abs().max()) > 0]
        if zero:
            raise PreimageError(f"image {name!r} has a zero code at layer {zero[0]} (a constant or near-constant "
                                "image has no gradients there), so the normalised feature loss ‖Φ(x) − Φ₀‖²/‖Φ₀‖² "
                                "is undefined; give an image with structure")
        if float(span[i]) < 1.5 / 255:
            raise PreimageError(f"image {name!r} is constant or near-constant (its pixels span {float(span[i]) * 255:.0f} "
                                f"of 255 levels), so its code at layer {layers[0]} is (nearly) the same at every "
                                "position and the feature loss has nothing to match; give an image with structure")


def build_job(cfg: dict | InvertConfig, images: list[tuple[str, Tensor]]) -> InversionJob:
    config = cfg if isinstance(cfg, InvertConfig) else parse_config(cfg)
    ctx = build_context(config, images)
    obj = Objective(ctx.representation)
    specs = config.objective.build(ctx)
    specs += [p.build(key, ctx) for key, p in config.priors.items() if p is not None]
    for s in specs:
        obj.add(s.name, s.term, s.weight)
    optimiser = config.optimiser.build(ctx)
    init = (config.init or config.objective.default_init()).build(ctx)
    jitter = None
    if config.jitter.tau:
        tau = config.jitter.tau
        if tau == "auto":  # IJCV'16: about a quarter of the layer's stride
            tau = max(1, round(max(ctx.representation.receptive_field(l).stride for l in ctx.layers) / 4))
        gen = torch.Generator().manual_seed(config.seed + 1)
        jitter = Jitter(int(tau), config.jitter.steps, gen)
    box = config.box.build(ctx)
    return InversionJob(ctx.representation, ctx.layers, obj, init, optimiser, len(optimiser.lrs), jitter, box,
                        ctx.x0, ctx.rgb, ctx.names, ctx.repeats, ctx.x0_sigma, config, ctx)
