"""``invert(objective, init, optimiser, steps, callbacks) -> InversionResult``.

The loop of deep-goggle ``invert_nn.m`` generalised: every batch item (images ×
restarts × settings) is optimised at once; per-term values are recorded every step;
NaN/inf stops the run with :class:`DivergenceError`. It never prints, saves or logs:
callbacks (``on_step(info)``, ``on_end(result)``) do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor

from preimage.inversion.errors import DivergenceError
from preimage.inversion.objective import Evaluation, Objective
from preimage.inversion.optimisers import Optimiser
from preimage.inversion.transforms import Box, Jitter


@dataclass
class StepInfo:
    """What a callback sees after step ``step`` (0-based): per-item values before the update."""

    step: int
    steps: int
    lr: float
    total: Tensor
    values: dict[str, Tensor]
    x: Tensor


@dataclass
class InversionResult:
    """``images``: (B, C, H, W) in the representation's input units; ``history[name]``:
    (steps, B) weighted term values (and ``"total"``); ``metrics``: per-item final
    values of every term, ``total`` and ``relative_error@<term>`` of each feature match."""

    images: Tensor
    history: dict[str, Tensor]
    metrics: dict[str, Tensor]
    steps: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def _check_finite(ev: Evaluation, step: int) -> None:
    # A non-finite gradient makes x, hence the next step's total, non-finite: checking
    # the total (B numbers) each step is enough and costs no pass over the image.
    if bool(torch.isfinite(ev.total).all()):
        return
    for name, v in ev.values.items():
        bad = ~torch.isfinite(v)
        if bool(bad.any()):
            raise DivergenceError(step, name, float(v[bad][0]))
    raise DivergenceError(step, "total", float("nan"))  # pragma: no cover


def _check_history(hist: dict[str, list[Tensor]], names: list[str], since: int) -> None:
    """The first non-finite step in ``hist[...][since:]`` (one host sync for all of them)."""
    totals = torch.stack(hist["total"][since:])
    if bool(torch.isfinite(totals).all()):
        return
    t = since + int((~torch.isfinite(totals)).any(1).nonzero()[0, 0])
    _check_finite(Evaluation(hist["total"][t], {n: hist[n][t] for n in names}, {}), t)


def check_every(device: torch.device) -> int:
    """Steps between finiteness checks: every step on the CPU (a check costs nothing there);
    on an accelerator reading a value back stalls the queue, so the totals are checked in
    blocks of 25 steps (the step and term reported are still the first bad ones)."""
    return 1 if device.type == "cpu" else 25


def invert(objective: Objective, init: Tensor, optimiser: Optimiser, steps: int | None = None,
           callbacks: Sequence[Any] = (), jitter: Jitter | None = None, box: Box | None = None) -> InversionResult:
    """Minimise ``objective`` from ``init`` (not modified) for ``steps`` (default: the schedule's length)."""
    steps = len(optimiser.lrs) if steps is None else int(steps)
    x = init.detach().clone()
    if box is not None:
        box(x)
    optimiser.reset(x)
    names = list(objective.terms)
    hist: dict[str, list[Tensor]] = {n: [] for n in names + ["total"]}
    every = check_every(x.device)
    checked = 0
    start = time.perf_counter()
    for t in range(steps):
        shift = jitter.shift(t) if jitter is not None else (0, 0)
        ev = objective.energy_and_grad(x, shift)
        if every == 1:
            _check_finite(ev, t)
        closure = None
        if optimiser.needs_closure:
            def closure() -> Tensor:  # noqa: E306 - re-evaluated by the line search
                e = objective.energy_and_grad(x, shift)
                x.grad = e.grad
                return e.total.sum()
        optimiser.step(x, ev.grad, t, closure)
        if box is not None:
            box(x)
        for n in names:
            hist[n].append(ev.values[n])
        hist["total"].append(ev.total)
        if every > 1 and (t + 1) % every == 0:
            _check_history(hist, names, checked)
            checked = t + 1
        info = StepInfo(t, steps, optimiser.lr_at(t), ev.total, ev.values, x)
        for cb in callbacks:
            if hasattr(cb, "on_step"):
                cb.on_step(info)
        # free this step's feature maps and gradient before the next step allocates its own
        # (holding them across the next forward cost ≈ 7 % of a SqueezeNet conv1 step)
        del ev, info, closure
    if every > 1 and checked < steps:
        _check_history(hist, names, checked)
    metrics = objective.metrics(x)  # values and features only: no backward
    _check_finite(Evaluation(metrics["total"], {n: metrics[n] for n in names}, {}), steps)
    seconds = time.perf_counter() - start
    history = {n: torch.stack(v) if v else torch.empty(0, x.shape[0]) for n, v in hist.items()}
    result = InversionResult(x.detach(), history, metrics, steps, seconds)
    for cb in callbacks:
        if hasattr(cb, "on_end"):
            cb.on_end(result)
    return result
