"""Optimisers with one interface: ``step(x, grad, t, closure)`` updates ``x`` in place.

- :class:`MomentumSchedule` — the update of deep-goggle ``invert_nn.m`` (CVPR'15 Sec. 3):
  m ← μ m − η_t · scale · ∇E ; x ← x + m, with m reset to 0 whenever η_t changes.
  With E the normalised energy (loss / y0_sigma², priors / x0_sigma²) and
  ``scale = x0_sigma²`` this is exactly the reference update.
- :class:`AdagradMomentum` — the update of the IJCV'16 code (``nnpreimage.m``):
  G ← μ G + g², m ← μ m − g / (1/(η_t·scale) + √G), x ← x + m; m reset at η_t changes.
- :class:`Adam`, :class:`LBFGS` — torch's, on the same energy (``lr`` in input units).

Learning-rate schedules are lists of ``(multiplier, steps)`` segments times a base ``lr``.
On the CPU the two momentum updates run as one pass over the image each (the compiled
``inversion/_kernels.c``; the same arithmetic, tested against the eager path), elsewhere eagerly.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from preimage.inversion import fused
from preimage.representations.errors import PreimageError

Closure = Callable[[], Tensor]


def expand_schedule(lr: float, segments: Sequence[Sequence[float]] | None, steps: int | None = None) -> list[float]:
    """``lr × [m₁ ×n₁, m₂ ×n₂, …]`` as one learning rate per step (constant ``lr`` if no segments)."""
    if not segments:
        if steps is None:
            raise PreimageError("give either a learning-rate schedule or a number of steps")
        return [float(lr)] * int(steps)
    out: list[float] = []
    for seg in segments:
        if len(seg) != 2 or int(seg[1]) < 0:
            raise PreimageError(f"schedule segments are [multiplier, steps] pairs, got {list(seg)}")
        out += [float(lr) * float(seg[0])] * int(seg[1])
    return out


class Optimiser:
    """Base: a per-step learning rate list ``lrs`` (its length is the default step count)."""

    needs_closure = False

    def __init__(self, lrs: Sequence[float]) -> None:
        self.lrs = list(lrs)

    def lr_at(self, t: int) -> float:
        return self.lrs[min(t, len(self.lrs) - 1)]

    def reset(self, x: Tensor) -> None:
        """Prepare state for a new run on ``x``."""

    def step(self, x: Tensor, grad: Tensor, t: int, closure: Closure | None = None) -> None:  # pragma: no cover
        raise NotImplementedError


class MomentumSchedule(Optimiser):
    """Heavy-ball momentum with the reference's reset at learning-rate changes."""

    def __init__(self, lrs: Sequence[float], momentum: float = 0.9, scale: float = 1.0) -> None:
        super().__init__(lrs)
        self.momentum, self.scale = float(momentum), float(scale)
        self.velocity: Tensor | None = None
        self.resets: list[int] = []   # steps at which the momentum was zeroed
        self._prev_lr = 0.0

    def reset(self, x: Tensor) -> None:
        self.velocity = torch.zeros_like(x)
        self.resets, self._prev_lr = [], 0.0

    def _begin(self, x: Tensor, t: int) -> float:
        """State for step ``t``: zero the momentum when the learning rate changes; the lr."""
        if self.velocity is None or self.velocity.shape != x.shape:
            self.reset(x)
        lr = self.lr_at(t)
        if lr != self._prev_lr:
            self.velocity.zero_()
            self.resets.append(t)
            self._prev_lr = lr
        return lr

    def step(self, x: Tensor, grad: Tensor, t: int, closure: Closure | None = None) -> None:
        lr = self._begin(x, t)
        if fused.momentum(x, self.velocity, grad, self.momentum, -lr * self.scale):
            return
        self.velocity.mul_(self.momentum).add_(grad, alpha=-lr * self.scale)
        x.add_(self.velocity)


class AdagradMomentum(MomentumSchedule):
    """IJCV'16: heavy-ball momentum on a gradient normalised by a decaying sum of its
    squares (an AdaGrad/RMSProp hybrid). ``scale`` multiplies the learning rate (the
    reference uses lr · H·W). The squared-gradient sum is kept across lr changes, as in
    the reference code; the momentum is reset."""

    def reset(self, x: Tensor) -> None:
        super().reset(x)
        self.sq = torch.zeros_like(x)
        self._denominator = torch.empty_like(x)

    def step(self, x: Tensor, grad: Tensor, t: int, closure: Closure | None = None) -> None:
        if self.velocity is None or self.velocity.shape != x.shape:
            self.reset(x)
        lr = self._begin(x, t) * self.scale
        if fused.adagrad_momentum(x, self.velocity, self.sq, grad, self.momentum, 1.0 / lr):
            return
        self.sq.mul_(self.momentum).addcmul_(grad, grad)
        den = torch.sqrt(self.sq, out=self._denominator).add_(1.0 / lr)  # reused buffer: no allocation
        self.velocity.mul_(self.momentum).addcdiv_(grad, den, value=-1.0)
        x.add_(self.velocity)


class Adam(Optimiser):
    """torch.optim.Adam on x; a schedule change sets the new lr (moments are kept)."""

    def __init__(self, lrs: Sequence[float], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(lrs)
        self.betas, self.eps = tuple(betas), float(eps)
        self._opt: torch.optim.Adam | None = None
        self._x: Tensor | None = None

    def reset(self, x: Tensor) -> None:
        self._x = x
        self._opt = torch.optim.Adam([x], lr=self.lrs[0], betas=self.betas, eps=self.eps)

    def step(self, x: Tensor, grad: Tensor, t: int, closure: Closure | None = None) -> None:
        if self._opt is None or self._x is not x:
            self.reset(x)
        for g in self._opt.param_groups:
            g["lr"] = self.lr_at(t)
        x.grad = grad
        self._opt.step()
        x.grad = None


class LBFGS(Optimiser):
    """torch.optim.LBFGS with a strong-Wolfe line search; one outer iteration per step.

    Needs a closure (the engine passes one that re-evaluates E and sets ``x.grad``).
    It minimises ``scale · E`` (use x0_sigma², as :class:`MomentumSchedule`): torch's
    curvature test (yᵀs > 1e-10) and first step (1/‖g‖₁) assume gradients of order 1.
    """

    needs_closure = True

    def __init__(self, lrs: Sequence[float], scale: float = 1.0, history_size: int = 10,
                 line_search: str | None = "strong_wolfe") -> None:
        super().__init__(lrs)
        self.scale = float(scale)
        self.history_size, self.line_search = int(history_size), line_search
        self._opt: torch.optim.LBFGS | None = None
        self._x: Tensor | None = None

    def reset(self, x: Tensor) -> None:
        self._x = x
        # One iteration per step; max_eval must allow the line search (default: 1.25·max_iter).
        self._opt = torch.optim.LBFGS([x], lr=self.lrs[0], max_iter=1, max_eval=25, history_size=self.history_size,
                                      line_search_fn=self.line_search, tolerance_grad=0.0, tolerance_change=0.0)

    def step(self, x: Tensor, grad: Tensor, t: int, closure: Closure | None = None) -> None:
        if closure is None:
            raise PreimageError("L-BFGS needs a closure that re-evaluates the energy")
        if self._opt is None or self._x is not x:
            self.reset(x)
        def scaled() -> Tensor:
            loss = closure()
            x.grad.mul_(self.scale)
            return loss * self.scale

        self._opt.step(scaled)
        x.grad = None


OPTIMISERS = {"momentum": MomentumSchedule, "adagrad_momentum": AdagradMomentum, "adam": Adam, "lbfgs": LBFGS}
