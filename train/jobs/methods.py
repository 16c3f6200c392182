"""How each ``method`` of an invert job runs: the code behind the method variants of
:mod:`preimage.train.config.methods` (those hold settings only). Every runner returns an
:class:`~preimage.inversion.InversionResult`, so ``invert``, ``compare`` and the metrics treat
every method alike; what a runner loads in ``prepare`` (a checkpoint, a dictionary) is kept on
the job (``job.state``), never on the config.

Extension: ``@runner("name", prepare)`` on ``run``, where ``prepare(job)`` loads and checks
what the method needs before any run directory exists, and ``run(job, callbacks)`` returns the
result (a method variant may also override ``run`` itself). ``samples=True`` marks a sampler:
its restarts are samples of a distribution (``preimage invert`` adds the samples' figures and
their per-pixel spread, ``compare`` labels them as samples).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import torch

from preimage.inversion import InversionResult, invert
from preimage.representations.errors import PreimageError

Prepare = Callable[[Any], None]
Run = Callable[[Any, Sequence[Any]], InversionResult]
RUNNERS: dict[str, tuple[Prepare, Run]] = {}
SAMPLERS: set[str] = set()  # methods whose restarts are samples (``runner(..., samples=True)``)


def runner(name: str, prepare: Prepare | None = None, samples: bool = False) -> Callable[[Run], Run]:
    """Register ``run`` (and its ``prepare``) as the runner of ``method: name``; ``samples``:
    its restarts are samples of a distribution, not restarts of a minimisation."""

    def deco(run: Run) -> Run:
        RUNNERS[name] = (prepare or (lambda job: None), run)
        if samples:
            SAMPLERS.add(name)
        return run

    return deco


def is_sampler(name: str) -> bool:
    """Whether ``method: name``'s restarts are samples (Langevin)."""
    return name in SAMPLERS


def _runner(job: Any) -> tuple[Prepare, Run]:
    name = job.method.name
    if name not in RUNNERS:  # a registered variant without a runner is a bug, not bad input
        raise TypeError(f"method {name!r} has no runner; register one with preimage.train.jobs.methods.runner")
    return RUNNERS[name]


def prepare_method(job: Any) -> None:
    """Load and check what the job's method needs; bad input fails here. (A variant that
    overrides ``run`` itself and has no runner has nothing to prepare.)"""
    if job.method.name in RUNNERS:
        RUNNERS[job.method.name][0](job)


def run_method(job: Any, callbacks: Sequence[Any] = ()) -> InversionResult:
    prepare, run = _runner(job)
    if job.method.name not in job.state:
        prepare(job)
    return run(job, callbacks)


def _end(result: InversionResult, callbacks: Sequence[Any]) -> InversionResult:
    for cb in callbacks:
        if hasattr(cb, "on_end"):
            cb.on_end(result)
    return result


# ---------------------------------------------------------------- optimisation
@runner("optimisation")
def run_optimisation(job: Any, callbacks: Sequence[Any]) -> InversionResult:
    """Minimise the job's objective with its optimiser (CVPR'15 Sec. 3 / IJCV'16 Sec. 3)."""
    res = invert(job.objective, job.init, job.optimiser, job.steps, callbacks, job.jitter, job.box)
    if getattr(job.config.init, "keep_better_start", False):
        keep_better_start(job, res)
    return res


def keep_better_start(job: Any, res: InversionResult) -> InversionResult:
    """Per item, keep the start (a warm start such as an inverter's image) where the
    optimisation ended with a higher objective than it began with; in place."""
    start = job.init.clone()
    if job.box is not None:
        job.box(start)
    before = job.evaluate(start)
    worse = res.metrics["total"] > before["total"]
    if bool(worse.any()):
        keep = worse.reshape(-1, *([1] * (start.dim() - 1)))
        res.images = torch.where(keep, start, res.images)
        res.metrics = {k: torch.where(worse, before[k], v) for k, v in res.metrics.items()}
    res.extra["kept_start"] = worse.tolist()
    res.extra["start_total"] = before["total"].tolist()
    return res


# ---------------------------------------------------------------- sampling
@runner("langevin", samples=True)
def run_langevin(job: Any, callbacks: Sequence[Any]) -> InversionResult:
    """N = images × repeats samples of exp(−E) by annealed Langevin dynamics
    (:func:`preimage.inversion.langevin`), seeded by the job's seed."""
    from preimage.inversion import LangevinSchedule, langevin

    m = job.method
    units = job.representation.convention.units_per_255
    schedule = LangevinSchedule.geometric(m.f_max, m.levels, m.steps_per_level, m.eps * units ** 2, m.momentum,
                                          m.step_power, m.decay)
    return langevin(job.objective, job.init, schedule, seed=job.config.seed, callbacks=callbacks, box=job.box)


# ---------------------------------------------------------------- inverse networks
def _prepare_inverter(job: Any) -> None:
    from preimage.train.jobs.inverters import load_checked

    start = time.perf_counter()
    job.state["inverter"] = load_checked(job.method.checkpoint, job.representation, job.layers, job.context.phi0)
    job.state["load_seconds"] = time.perf_counter() - start


@runner("inverter", _prepare_inverter)
def run_inverter_method(job: Any, callbacks: Sequence[Any]) -> InversionResult:
    """One forward pass of a trained inverter, scored with the job's objective."""
    from preimage.train.jobs.inverters import run_inverter

    res = run_inverter(job.state["inverter"], job, callbacks)
    res.extra["load_seconds"] = job.state.get("load_seconds", 0.0)
    return res


# ---------------------------------------------------------------- HOGgle
def _prepare_hoggle(job: Any) -> None:
    from preimage.inverters.hoggle import HOGgle

    model = HOGgle.load(job.method.model)  # a missing or corrupt model: one PreimageError
    rep = job.representation
    model.check(rep.name, getattr(rep, "cell_size", -1))
    if job.layers != ["hog"]:
        raise PreimageError(f"method hoggle inverts the 'hog' layer, not {', '.join(job.layers)}; pass layer=hog")
    job.state["hoggle"] = model


@runner("hoggle", _prepare_hoggle)
def run_hoggle(job: Any, callbacks: Sequence[Any]) -> InversionResult:
    """HOG inverted by HOGgle's paired dictionaries (Vondrick et al., ICCV 2013, Sec. 3.4): the
    objective is only evaluated on the result; no optimisation step (empty history)."""
    model = job.state["hoggle"]
    start = time.perf_counter()
    x = model(job.context.phi0["hog"], tuple(job.x0.shape[-2:]))  # (N, 1, H, W): deterministic,
    x = x.repeat_interleave(job.repeats, 0)                       # so every restart is the same image
    seconds = time.perf_counter() - start
    metrics = job.evaluate(x)
    history = {n: torch.empty(0, x.shape[0]) for n in [*job.objective.terms, "total"]}
    result = InversionResult(x, history, metrics, 0, seconds,
                             {"method": "hoggle", "model": job.method.model, "hoggle_command": model.meta.command})
    return _end(result, callbacks)
