"""The one place where ``compare`` calls the invert job API: a method is an invert preset
plus overrides; :func:`resolve` gives its config for one layer, :func:`prepare` builds the
job (every bad input fails here, before any work), :func:`execute` runs it on a device and
returns the reconstructions in the representation's input units.

Today this wraps :func:`preimage.train.invert_setup.build_job` and
:func:`preimage.inversion.invert`, which run optimisation methods; methods that the
invert job API does not offer yet (``method.name=inverter`` …) fail in :func:`resolve`
or :func:`prepare` with a :class:`PreimageError`, which the planner turns into a note for
optional methods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from preimage.representations.errors import PreimageError


@dataclass
class Prepared:
    """A built invert job: ``cfg`` the resolved invert config, ``job`` the API's job object."""

    cfg: dict
    job: Any


@dataclass
class Output:
    """``images``: (N·R, C, H, W) reconstructions in input units, image-major (item i·R + r),
    on the CPU; ``steps`` taken; ``seconds`` of wall time; ``status``: "ok" or why not."""

    images: Tensor | None
    steps: int
    seconds: float
    status: str = "ok"


def resolve(config: str, overrides: Sequence[str], layer: str, settings: dict) -> dict:
    """Preset ``config`` with the comparison's ``settings`` (image_size, repeats, seed), the
    layer, then the method's ``overrides`` (``{layer}`` replaced by the layer)."""
    from preimage.train.config import apply_overrides, load_preset

    cfg = load_preset(config)
    cfg.update({k: v for k, v in settings.items() if v is not None})
    cfg["layer"] = layer
    return apply_overrides(cfg, [o.replace("{layer}", layer) for o in overrides])


def prepare(cfg: dict, images: list[tuple[str, Tensor]]) -> Prepared:
    """Build the job for ``images`` (raises :class:`PreimageError` on bad input)."""
    from preimage.train.invert_setup import build_job

    method = cfg.get("method")
    if method not in (None, "optimisation") and not (isinstance(method, dict) and
                                                     method.get("name", "optimisation") == "optimisation"):
        raise PreimageError(f"method {method!r} is not available in this version of preimage invert")
    return Prepared(cfg, build_job(cfg, images))


def execute(prepared: Prepared, device: torch.device | str = "cpu") -> Output:
    """Run the job on ``device``; a divergence is reported in ``status``, not raised."""
    from preimage.inversion import DivergenceError, invert

    job = prepared.job
    job.objective.to(device)
    start = time.perf_counter()
    try:
        res = invert(job.objective, job.init.to(device), job.optimiser, job.steps, (), job.jitter, job.box)
    except DivergenceError as e:
        return Output(None, 0, time.perf_counter() - start, f"diverged: {e}")
    finally:
        job.objective.to("cpu")
    return Output(res.images.cpu(), res.steps, time.perf_counter() - start)
