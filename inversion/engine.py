"""``invert(objective, init, optimiser, steps, callbacks) -> InversionResult``.

The loop of deep-goggle ``invert_nn.m`` generalised: every batch item (images ×
restarts × settings) is optimised at once; per-term values are recorded every step;
NaN/inf stops the run with :class:`DivergenceError`. It never prints, saves or logs:
callbacks (``on_step(info)``, ``on_end(result)``) do.

Gradient-only terms (score priors) have no value: their history rows are NaN, the total
leaves them out, ``InversionResult.gradient_only`` names them, and the norm of each one's
weighted gradient is recorded as ``history["grad_norm@<name>"]`` and checked for NaN/inf in
place of a value. L-BFGS, whose line search compares values, refuses them.
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
from preimage.representations.errors import PreimageError

GRAD_NORM = "grad_norm@"  # history key prefix of a gradient-only term's ‖w·∂term/∂z‖


@dataclass
class StepInfo:
    """What a callback sees after step ``step`` (0-based): per-item values before the update."""

    step: int
    steps: int
    lr: float
    total: Tensor
    values: dict[str, Tensor]
    x: Tensor
    grad_norms: dict[str, Tensor] = field(default_factory=dict)
    gradient_only: frozenset[str] = frozenset()


@dataclass
class InversionResult:
    """``images``: (B, C, H, W) in the representation's input units; ``history[name]``:
    (steps, B) weighted term values (and ``"total"``); ``metrics``: per-item final
    values of every term, ``total`` and ``relative_error@<term>`` of each feature match.
    ``gradient_only``: the terms without a value (NaN in ``history`` and ``metrics``, not in
    ``total``); for each, ``history["grad_norm@<name>"]`` (steps, B) is ‖w·∂term/∂z‖."""

    images: Tensor
    history: dict[str, Tensor]
    metrics: dict[str, Tensor]
    steps: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    gradient_only: tuple[str, ...] = ()


def _check_finite(ev: Evaluation, step: int) -> None:
    # A non-finite gradient makes x, hence the next step's total, non-finite: checking
    # the total (B numbers) each step is enough and costs no pass over the image. A
    # gradient-only term has no value: the norm of its gradient is checked instead.
    if bool(torch.isfinite(ev.total).all()) and all(bool(torch.isfinite(v).all()) for v in ev.grad_norms.values()):
        return
    checks = [(n, v) for n, v in ev.values.items() if n not in ev.gradient_only]
    for name, v in checks + [(f"{n} (gradient norm)", v) for n, v in ev.grad_norms.items()]:
        bad = ~torch.isfinite(v)
        if bool(bad.any()):
            raise DivergenceError(step, name, float(v[bad][0]))
    raise DivergenceError(step, "total", float("nan"))  # pragma: no cover


def _check_history(hist: dict[str, list[Tensor]], names: list[str], since: int,
                   gradient_only: frozenset[str] = frozenset()) -> None:
    """The first non-finite step in ``hist[...][since:]`` (one host sync for all of them)."""
    keys = ["total"] + [GRAD_NORM + n for n in names if n in gradient_only]
    rows = torch.cat([torch.stack(hist[k][since:]) for k in keys], 1)
    if bool(torch.isfinite(rows).all()):
        return
    t = since + int((~torch.isfinite(rows)).any(1).nonzero()[0, 0])
    _check_finite(Evaluation(hist["total"][t], {n: hist[n][t] for n in names}, {}, gradient_only=gradient_only,
                             grad_norms={n: hist[GRAD_NORM + n][t] for n in names if n in gradient_only}), t)


def check_optimiser(objective: Objective, optimiser: Optimiser) -> None:
    """One clear error for an optimiser that needs values with a gradient-only term."""
    if optimiser.needs_closure and objective.gradient_only:
        names = ", ".join(sorted(objective.gradient_only))
        raise PreimageError(f"{type(optimiser).__name__} needs energy values for its line search but term(s) {names} "
                            f"are gradient-only score priors; use the momentum or Adam optimiser, or drop those terms")


def check_every(device: torch.device) -> int:
    """Steps between finiteness checks: every step on the CPU (a check costs nothing there);
    on an accelerator reading a value back stalls the queue, so the totals are checked in
    blocks of 25 steps (the step and term reported are still the first bad ones)."""
    return 1 if device.type == "cpu" else 25


def invert(objective: Objective, init: Tensor, optimiser: Optimiser, steps: int | None = None,
           callbacks: Sequence[Any] = (), jitter: Jitter | None = None, box: Box | None = None) -> InversionResult:
    """Minimise ``objective`` from ``init`` (not modified) for ``steps`` (default: the schedule's length)."""
    check_optimiser(objective, optimiser)
    steps = len(optimiser.lrs) if steps is None else int(steps)
    x = init.detach().clone()
    if box is not None:
        box(x)
    optimiser.reset(x)
    names = list(objective.terms)
    grad_only = objective.gradient_only
    keys = names + ["total"] + [GRAD_NORM + n for n in names if n in grad_only]
    hist: dict[str, list[Tensor]] = {k: [] for k in keys}
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
        for n, v in ev.grad_norms.items():
            hist[GRAD_NORM + n].append(v)
        hist["total"].append(ev.total)
        if every > 1 and (t + 1) % every == 0:
            _check_history(hist, names, checked, grad_only)
            checked = t + 1
        info = StepInfo(t, steps, optimiser.lr_at(t), ev.total, ev.values, x, ev.grad_norms, grad_only)
        for cb in callbacks:
            if hasattr(cb, "on_step"):
                cb.on_step(info)
        # free this step's feature maps and gradient before the next step allocates its own
        # (holding them across the next forward cost ≈ 7 % of a SqueezeNet conv1 step)
        del ev, info, closure
    if every > 1 and checked < steps:
        _check_history(hist, names, checked, grad_only)
    metrics = objective.metrics(x)  # values and features only: no backward
    _check_finite(Evaluation(metrics["total"], {n: metrics[n] for n in names}, {}, gradient_only=grad_only), steps)
    seconds = time.perf_counter() - start
    history = {n: torch.stack(v) if v else torch.empty(0, x.shape[0]) for n, v in hist.items()}
    result = InversionResult(x.detach(), history, metrics, steps, seconds,
                             gradient_only=tuple(n for n in names if n in grad_only))
    for cb in callbacks:
        if hasattr(cb, "on_end"):
            cb.on_end(result)
    return result
