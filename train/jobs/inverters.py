"""Inverse networks inside ``preimage invert``: two more ways to produce an
:class:`~preimage.inversion.InversionResult`, so runs, figures and metrics are those of
optimisation.

- ``method: inverter`` — x̂ = g(Φ₀), one forward pass of a trained inverter
  (Dosovitskiy & Brox 2016; the thesis' inverse networks).
- ``init: inverter`` — the hybrid: the optimisation of the job (CVPR'15 objective) starts
  from g(Φ₀) instead of noise. It needs a gentle schedule (the CVPR'15 preset's first
  learning rate erases the inverter's image). :func:`run_hybrid` (used by the benchmark)
  also keeps, per item, whichever of the start and the end has the lower objective.

``checkpoint``: a shipped short name, a path, or ``auto`` (the shipped
``<representation>-<layer>``, or ``<representation>`` for a shallow one). The schema variants
that use these live in :mod:`preimage.train.config.methods`.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch
from torch import Tensor

from preimage.inversion import InversionResult, invert
from preimage.inverters import Inverter, load_inverter, pretrained_names, stage_sizes
from preimage.representations.errors import PreimageError



def checkpoint_for(checkpoint: str | None, representation: str, layer: str) -> str:
    """``auto`` (or None) → the shipped inverter of ``representation`` at ``layer``."""
    spec = checkpoint or "auto"
    if spec != "auto":
        return str(spec)
    rep = representation.lower()
    for name in (f"{rep}-{layer}", rep):
        if name in pretrained_names():
            return name
    raise PreimageError(f"no shipped inverter for {rep} {layer} (shipped: {', '.join(pretrained_names())}); "
                        "pass method.checkpoint=PATH (or init.checkpoint=PATH) to an inverter trained with 'preimage inverter fit'")


def load_checked(checkpoint: str | None, rep: Any, layers: list[str], phi0: dict[str, Tensor]) -> Inverter:
    """The inverter, checked against the network, the (single) layer and Φ₀'s shape."""
    if len(layers) != 1:
        raise PreimageError("an inverter inverts one layer; pass a single --layer")
    layer = layers[0]
    inverter = load_inverter(checkpoint_for(checkpoint, rep.name, layer), rep.name, layer)
    inverter.check_features(phi0[layer])
    return inverter


def images_from(inverter: Inverter, rep: Any, x0: Tensor, repeats: int = 1) -> Tensor:
    """g(Φ(x₀)) for every image, repeated ``repeats`` times (image-major), in input units."""
    with torch.no_grad():
        phi0 = rep(x0)[inverter.layer]
        inverter.check_features(phi0)
        sizes = stage_sizes(rep, inverter, tuple(x0.shape[-2:]))
        x = inverter.to(phi0.dtype)(phi0, sizes)
    return x.repeat_interleave(repeats, 0)


def inverter_images(inverter: Inverter, job: Any) -> Tensor:
    """g(Φ₀) for every job item (image-major, repeated over restarts)."""
    return images_from(inverter, job.representation, job.x0, job.repeats)


def run_inverter(inverter: Inverter, job: Any, callbacks: Sequence[Any] = ()) -> InversionResult:
    """``method: inverter``: one forward pass, scored with the job's objective."""
    start = time.perf_counter()
    x = inverter_images(inverter, job)
    seconds = time.perf_counter() - start
    if job.box is not None:
        job.box(x)
    metrics = job.evaluate(x)
    hist = {n: v[None] for n, v in metrics.items() if not n.startswith("relative_error@")}
    result = InversionResult(x, hist, metrics, 0, seconds, {"method": "inverter", "inference_seconds": seconds})
    for cb in callbacks:
        if hasattr(cb, "on_end"):
            cb.on_end(result)
    return result


def run_hybrid(inverter: Inverter, job: Any, callbacks: Sequence[Any] = ()) -> InversionResult:
    """``init: inverter``: optimise the job's objective from g(Φ₀); per item, keep the end
    unless it has a higher objective than the start (as ``preimage invert`` does)."""
    from preimage.train.jobs.methods import keep_better_start

    start = time.perf_counter()
    job.init = inverter_images(inverter, job)
    res = invert(job.objective, job.init, job.optimiser, job.steps, callbacks, job.jitter, job.box)
    keep_better_start(job, res)
    res.seconds = time.perf_counter() - start
    res.extra.update({"method": "hybrid", "kept_inverter_start": res.extra["kept_start"]})
    return res
