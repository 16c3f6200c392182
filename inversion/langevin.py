"""Sampling pre-images by annealed Langevin dynamics (Song & Ermon, NeurIPS 2019, Alg. 1).

The objective E(x) = Σ_k w_k term_k(x) (:class:`~preimage.inversion.objective.Objective`) is
read as a negative log density: with a feature match of weight λ and score priors of weight 1
(:class:`~preimage.inversion.score_term.ScoreTerm`, at the image and/or at layers) it is

    p(x | Φ(x) ≈ Φ₀) ∝ exp(−λ‖Φ(x) − Φ₀‖²/‖Φ₀‖²) · Π_k p_k(z_k(x))^{w_k},

and only its gradient ∇E = −∇ log p is needed. For noise levels σ_i = f_i · σ_k (one factor
f_1 > … > f_L per level, applied to every score term's own ``sigma``) and step sizes
α_i = ε · f_i^p (p = 2: Alg. 1's α_i = ε σ_i²/σ_L² when f_L = 1), each level runs T steps of

    x ← x − (α_i / 2) ∇E(x; σ_i) + √α_i · ξ,    ξ ~ N(0, I).

With ``momentum`` μ > 0 the chain is underdamped (kinetic) Langevin dynamics, discretised as in
stochastic-gradient HMC (Chen, Fox & Guestrin, ICML 2014, Eq. 15, no gradient noise) with the
friction 1 − μ and η = α_i/2:

    u ← μ u − (α_i / 2) ∇E(x; σ_i) + √((1 − μ) α_i) · ξ,    x ← x + u,

which is the update above at μ = 0 and targets the same exp(−E) (the velocity u keeps going
across levels). Like heavy-ball momentum it moves along flat directions 1/(1 − μ) times faster,
which the feature match of a deep layer needs; ``p = 0`` keeps the step constant across levels,
so the feature match (whose curvature does not change with σ_i) stays stable at every level.
``decay`` multiplies the step of step t by m_t (``[[multiplier, steps], …]`` segments, as an
optimiser's learning-rate schedule): a smaller step lowers the discretisation bias, not the
temperature. When α changes the velocity is rescaled by √(α_new/α_old), since u = h·v with the
physical velocity v and h = √η.

Value terms (the feature match, any energy) keep their weight at every level; the scores of the
score priors are those of the smoothed densities p_σ_i. All N = batch items are sampled at once;
the noise comes from one ``torch.Generator`` (same seed, same samples on the CPU). Like
:func:`~preimage.inversion.engine.invert` it never prints, saves or logs: callbacks do.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from preimage.inversion.engine import GRAD_NORM, InversionResult, StepInfo, _check_finite, _check_history, check_every
from preimage.inversion.objective import Evaluation, Objective
from preimage.inversion.transforms import Box
from preimage.representations.errors import PreimageError


@dataclass(frozen=True)
class LangevinSchedule:
    """``factors`` f_i (decreasing, > 0; the last is usually 1), ``steps_per_level`` T,
    ``eps`` ε, the step size α at factor 1 in the objective's input units squared, ``momentum``
    μ ∈ [0, 1) (0: overdamped Langevin), ``step_power`` p and ``decay`` (``(multiplier,
    steps)`` segments covering every step, or None): α_t = ε f_i^p m_t."""

    factors: tuple[float, ...]
    steps_per_level: int
    eps: float
    momentum: float = 0.0
    step_power: float = 2.0
    decay: tuple[tuple[float, int], ...] | None = None

    def __post_init__(self) -> None:
        f = [float(v) for v in self.factors]
        if not f or not all(math.isfinite(v) and v > 0 for v in f) or any(b > a for a, b in zip(f, f[1:])):
            raise PreimageError(f"Langevin noise factors must be positive, finite and non-increasing, got {f}; "
                                f"give e.g. LangevinSchedule.geometric(f_max=10, levels=10, ...)")
        if int(self.steps_per_level) < 1 or not (math.isfinite(self.eps) and self.eps > 0):
            raise PreimageError(f"Langevin needs steps_per_level ≥ 1 and a finite step size eps > 0, got "
                                f"{self.steps_per_level} and {self.eps}")
        if not 0.0 <= self.momentum < 1.0 or not math.isfinite(self.step_power):
            raise PreimageError(f"Langevin needs a momentum in [0, 1) (0: overdamped) and a finite step power, got "
                                f"{self.momentum} and {self.step_power}")
        object.__setattr__(self, "factors", tuple(f))
        if self.decay is not None:
            segs = tuple((float(m), int(n)) for m, n in self.decay)
            if any(not (math.isfinite(m) and m > 0) or n < 0 for m, n in segs) or sum(n for _, n in segs) != self.steps:
                raise PreimageError(f"a Langevin step decay is [multiplier > 0, steps] segments whose steps add up to "
                                    f"levels × steps_per_level = {self.steps}, got {[list(g) for g in segs]}")
            object.__setattr__(self, "decay", segs)

    @classmethod
    def geometric(cls, f_max: float, levels: int, steps_per_level: int, eps: float, momentum: float = 0.0,
                  step_power: float = 2.0, decay=None) -> "LangevinSchedule":
        """f_i = f_max^{1 − i/(L − 1)}, i = 0 … L − 1: from f_max down to 1 (Song & Ermon's geometric σ's)."""
        if int(levels) < 1 or not f_max >= 1.0:
            raise PreimageError(f"a geometric schedule needs levels ≥ 1 and f_max ≥ 1, got {levels} and {f_max}")
        n = int(levels)
        return cls(tuple(float(f_max) ** (1.0 - i / (n - 1)) if n > 1 else 1.0 for i in range(n)), steps_per_level, eps,
                   momentum, step_power, decay)

    @property
    def steps(self) -> int:
        return len(self.factors) * int(self.steps_per_level)

    def step_size(self, level: int, step: int | None = None) -> float:
        """α = ε · f_i^p at level i, times the decay's multiplier m_t at (global) step t if given."""
        alpha = float(self.eps) * self.factors[level] ** float(self.step_power)
        if step is None or self.decay is None:
            return alpha
        for m, n in self.decay:
            if step < n:
                return alpha * m
            step -= n
        return alpha * self.decay[-1][0]


def _generator(seed: int | torch.Generator) -> torch.Generator:
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))


def langevin(objective: Objective, init: Tensor, schedule: LangevinSchedule, seed: int | torch.Generator = 0,
             callbacks: Sequence[Any] = (), box: Box | None = None) -> InversionResult:
    """Annealed Langevin samples of exp(−E) from ``init`` (N, C, H, W) (not modified).

    Returns the engine's :class:`InversionResult`: ``images`` the N samples, ``history`` per
    step (term values, NaN for gradient-only terms, ``total`` and ``grad_norm@<term>``),
    ``metrics`` at the samples, ``extra["sigma_factor"]``/``extra["step_size"]`` (steps,) and
    ``extra["seed"]`` (an int seed, or None for a generator passed in). ``box`` (optional)
    clamps each iterate, as in :func:`invert` (then the chain targets the box's projection).
    """
    gen = _generator(seed)
    scored = {n: t for n, t in objective.terms.items() if t.gradient_only and hasattr(t, "sigma")}
    base = {n: t.sigma for n, t in scored.items()}
    names = list(objective.terms)
    grad_only = objective.gradient_only
    keys = names + ["total"] + [GRAD_NORM + n for n in names if n in grad_only]
    hist: dict[str, list[Tensor]] = {k: [] for k in keys}
    factors, sizes = [], []
    x = init.detach().clone()
    if box is not None:
        box(x)
    mu = float(schedule.momentum)
    u = torch.zeros_like(x) if mu > 0 else None
    prev = None
    every, checked = check_every(x.device), 0
    start = time.perf_counter()
    step = 0
    try:
        for level, f in enumerate(schedule.factors):
            for n, t in scored.items():
                t.sigma = base[n] * f
            for _ in range(int(schedule.steps_per_level)):
                alpha = schedule.step_size(level, step)
                if u is not None and prev is not None and alpha != prev:
                    u.mul_(math.sqrt(alpha / prev))                          # same physical velocity
                prev = alpha
                ev = objective.energy_and_grad(x)
                if every == 1:
                    _check_finite(ev, step)
                xi = torch.randn(x.shape, generator=gen, device=gen.device, dtype=x.dtype).to(x.device)
                if u is None:
                    x.add_(ev.grad, alpha=-0.5 * alpha).add_(xi, alpha=math.sqrt(alpha))
                else:
                    u.mul_(mu).add_(ev.grad, alpha=-0.5 * alpha).add_(xi, alpha=math.sqrt((1.0 - mu) * alpha))
                    x.add_(u)
                if box is not None:
                    box(x)
                _record(hist, ev, names)
                factors.append(f)
                sizes.append(alpha)
                if every > 1 and (step + 1) % every == 0:
                    _check_history(hist, names, checked, grad_only)
                    checked = step + 1
                info = StepInfo(step, schedule.steps, alpha, ev.total, ev.values, x, ev.grad_norms, grad_only)
                for cb in callbacks:
                    if hasattr(cb, "on_step"):
                        cb.on_step(info)
                del ev, info, xi
                step += 1
    finally:
        for n, t in scored.items():
            t.sigma = base[n]
    if every > 1 and checked < step:
        _check_history(hist, names, checked, grad_only)
    metrics = objective.metrics(x)
    _check_finite(Evaluation(metrics["total"], {n: metrics[n] for n in names}, {}, gradient_only=grad_only), step)
    history = {k: torch.stack(v) for k, v in hist.items()}
    extra = {"sigma_factor": torch.tensor(factors, dtype=torch.float64),
             "step_size": torch.tensor(sizes, dtype=torch.float64),
             "seed": None if isinstance(seed, torch.Generator) else int(seed)}
    result = InversionResult(x.detach(), history, metrics, step, time.perf_counter() - start, extra,
                             tuple(n for n in names if n in grad_only))
    for cb in callbacks:
        if hasattr(cb, "on_end"):
            cb.on_end(result)
    return result


def _record(hist: dict[str, list[Tensor]], ev: Evaluation, names: list[str]) -> None:
    for n in names:
        hist[n].append(ev.values[n])
    for n, v in ev.grad_norms.items():
        hist[GRAD_NORM + n].append(v)
    hist["total"].append(ev.total)
