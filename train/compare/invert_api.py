"""The one place where ``compare`` calls the invert job API: a method is an invert preset
plus overrides; :func:`resolve` gives its config for one layer, :func:`prepare` builds the
job (every bad input fails here, before any work), :func:`execute` runs it on a device and
returns the reconstructions in the representation's input units.

It uses the typed invert schema (:mod:`preimage.train.config.invert`): configs are validated by
:func:`preimage.train.config.overrides.apply_overrides`, jobs built by
:func:`preimage.train.jobs.setup.build_job`, and run by the job's method variant
(``job.method.run``: optimisation, or any registered method such as an inverse network),
so every method is run exactly as ``preimage invert`` runs it. A method whose variant,
preset or checkpoint is missing fails in :func:`resolve` or :func:`prepare` with a
:class:`PreimageError`, which the planner turns into a note for optional methods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor



@dataclass
class Prepared:
    """A built invert job: ``cfg`` the resolved invert config, ``job`` the API's job object."""

    cfg: dict
    job: Any


@dataclass
class Output:
    """``images``: (N·R, C, H, W) reconstructions in input units, image-major (item i·R + r),
    on the CPU; ``steps`` taken; ``seconds`` of wall time; ``status``: "ok" or why not;
    ``warnings``: what ``preimage invert`` would warn about (:func:`preimage.train.jobs.run.run_warnings`)."""

    images: Tensor | None
    steps: int
    seconds: float
    status: str = "ok"
    warnings: list[str] = field(default_factory=list)


def resolve(config: str, overrides: Sequence[str], layer: str, settings: dict) -> dict:
    """Preset ``config`` with the comparison's ``settings`` (image_size, repeats, seed), the
    layer, then the method's ``overrides`` (``{layer}`` replaced by the layer)."""
    import json

    from preimage.train.config.overrides import apply_overrides, load_preset

    forced = [f"{k}={json.dumps(v)}" for k, v in settings.items() if v is not None] + [f"layer={layer}"]
    return apply_overrides(load_preset(config), forced + [o.replace("{layer}", layer) for o in overrides])


def prepare(cfg: dict, images: list[tuple[str, Tensor]]) -> Prepared:
    """Build the job for ``images`` (raises :class:`PreimageError` on bad input)."""
    from preimage.train.jobs.setup import build_job

    job = build_job(cfg, images)
    job.method.prepare(job)  # a method's checkpoint is loaded and checked now, before any work
    return Prepared(cfg, job)


def execute(prepared: Prepared, device: torch.device | str = "cpu") -> Output:
    """Run the job on ``device``; a divergence (or a method failing while it runs) is
    reported in ``status``, not raised: one cell must not lose the comparison."""
    from preimage.representations.errors import PreimageError

    job = prepared.job
    if torch.device(device).type != "cpu":
        job.objective.to(device)
        job.init, job.x0 = job.init.to(device), job.x0.to(device)
    start = time.perf_counter()
    try:
        res = job.method.run(job, [])
    except PreimageError as e:  # DivergenceError included
        return Output(None, 0, time.perf_counter() - start, f"failed: {e}")
    from preimage.train.jobs.run import run_warnings

    labels = [f"{name}-r{k}" for name in job.names for k in range(job.repeats)]
    # the method's own time (inference for an inverse network, the optimisation for the others),
    # not the loading done in prepare nor the scoring of its result
    return Output(res.images.cpu(), res.steps, float(res.seconds), warnings=run_warnings(res, labels))
