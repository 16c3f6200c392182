"""Inverse networks inside ``preimage invert``: two more ways to produce an
:class:`~preimage.inversion.InversionResult`, so runs, figures and metrics are those of
optimisation.

- ``method: inverter`` — x̂ = g(Φ₀), one forward pass of a trained inverter
  (Dosovitskiy & Brox 2016; the thesis' inverse networks).
- ``init: inverter`` — the hybrid: the optimisation of the job (CVPR'15 objective) starts
  from g(Φ₀) instead of noise. It needs a gentle schedule (the CVPR'15 preset's first
  learning rate erases the inverter's image); each item keeps whichever of the start and
  the end has the lower objective, so the hybrid is never worse than the inverter alone.

``checkpoint``: a shipped short name, a path, or ``auto`` (the shipped
``<representation>-<layer>``, or ``<representation>`` for a shallow one).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from preimage.inversion import InversionResult, invert
from preimage.inverters import Inverter, load_inverter, pretrained_names, stage_sizes
from preimage.representations.errors import PreimageError

Runner = Callable[[Any, Sequence[Any]], InversionResult]
METHODS = ("optimisation", "inverter")
INITS = ("random", "inverter")


def checkpoint_for(cfg: dict, layer: str) -> str:
    """The checkpoint a config names; ``auto`` → the shipped inverter of its representation and layer."""
    spec = cfg.get("checkpoint") or "auto"
    if spec != "auto":
        return str(spec)
    rep = str(cfg["representation"]).lower()
    for name in (f"{rep}-{layer}", rep):
        if name in pretrained_names():
            return name
    raise PreimageError(f"no shipped inverter for {rep} {layer} (shipped: {', '.join(pretrained_names())}); "
                        "pass checkpoint=PATH to an inverter trained with 'preimage inverter fit'")


def load_for_job(cfg: dict, job: Any) -> Inverter:
    """The config's inverter, checked against the job's representation and (single) layer."""
    if len(job.layers) != 1:
        raise PreimageError("an inverter inverts one layer; pass a single --layer")
    layer = job.layers[0]
    return load_inverter(checkpoint_for(cfg, layer), job.representation.name, layer)


def inverter_images(inverter: Inverter, job: Any) -> Tensor:
    """g(Φ₀) for every job item (image-major, repeated over restarts), in input units."""
    rep = job.representation
    with torch.no_grad():
        phi0 = rep(job.x0)[inverter.layer]
        inverter.check_features(phi0)
        sizes = stage_sizes(rep, inverter, tuple(job.x0.shape[-2:]))
        x = inverter.to(phi0.dtype)(phi0, sizes)
    return x.repeat_interleave(job.repeats, 0)


def evaluate(job: Any, x: Tensor) -> dict[str, Tensor]:
    """The engine's final metrics for ``x``: every term, ``total`` and each match's relative error."""
    ev = job.objective.energy_and_grad(x)
    metrics = dict(ev.values)
    metrics["total"] = ev.total
    for n, fm in job.objective.feature_matches().items():
        metrics[f"relative_error@{n}"] = fm.relative_error(ev.feats[fm.layer])
    return metrics


def run_inverter(inverter: Inverter, job: Any, callbacks: Sequence[Any] = ()) -> InversionResult:
    """``method: inverter``: one forward pass, scored with the job's objective."""
    start = time.perf_counter()
    x = inverter_images(inverter, job)
    seconds = time.perf_counter() - start
    if job.box is not None:
        job.box(x)
    metrics = evaluate(job, x)
    hist = {n: v[None] for n, v in metrics.items() if not n.startswith("relative_error@")}
    result = InversionResult(x, hist, metrics, 0, seconds, {"method": "inverter", "inference_seconds": seconds})
    for cb in callbacks:
        if hasattr(cb, "on_end"):
            cb.on_end(result)
    return result


def run_hybrid(inverter: Inverter, job: Any, callbacks: Sequence[Any] = ()) -> InversionResult:
    """``init: inverter``: optimise the job's objective from g(Φ₀); per item, keep the end
    unless it has a higher objective than the start."""
    start = time.perf_counter()
    x0 = inverter_images(inverter, job)
    if job.box is not None:
        job.box(x0)
    before = evaluate(job, x0)
    res = invert(job.objective, x0, job.optimiser, job.steps, callbacks, job.jitter, job.box)
    worse = res.metrics["total"] > before["total"]
    if bool(worse.any()):
        keep = worse.reshape(-1, *([1] * (x0.dim() - 1)))
        res.images = torch.where(keep, x0, res.images)
        res.metrics = {k: torch.where(worse, before[k], v) for k, v in res.metrics.items()}
    res.seconds = time.perf_counter() - start
    res.extra.update({"method": "hybrid", "kept_inverter_start": worse.tolist(),
                      "start_total": before["total"].tolist()})
    return res


def runner_for(cfg: dict, job: Any) -> Runner | None:
    """The runner a config asks for (None: plain optimisation). Loads and checks the
    inverter now, so bad input fails before any run directory exists."""
    method = cfg.get("method") or "optimisation"
    init = cfg.get("init") or "random"
    if method not in METHODS:
        raise PreimageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if init not in INITS:
        raise PreimageError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    if method == "optimisation" and init == "random":
        return None
    inverter = load_for_job(cfg, job)
    with torch.no_grad():
        inverter.check_features(job.representation(job.x0[:1])[job.layers[0]])
    if method == "inverter":
        return lambda j, cbs=(): run_inverter(inverter, j, cbs)
    return lambda j, cbs=(): run_hybrid(inverter, j, cbs)
