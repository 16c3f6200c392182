"""Things done to x around a step: jitter before evaluating Φ, a box after updating
(IJCV'16: x is kept in a box of half-width B₊, and the input of Φ is translated by a
random shift of up to τ pixels, τ ≈ a quarter of the layer's stride, for the first steps)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Jitter:
    """Random translation by up to ``tau`` pixels (both axes) for steps < ``until``."""

    tau: int
    until: int | None = None
    generator: torch.Generator | None = None

    def shift(self, t: int) -> tuple[int, int]:
        if self.tau <= 0 or (self.until is not None and t >= self.until):
            return (0, 0)
        d = torch.randint(-self.tau, self.tau + 1, (2,), generator=self.generator)
        return int(d[0]), int(d[1])


@dataclass
class Box:
    """Keep x in a box after every step (input units): ``mode="clamp"`` clamps each value
    to [low, high]; ``mode="norm"`` shrinks each pixel's colour vector to norm ≤ ``high``
    (IJCV'16 code: x ← x · min(B₊/‖x(u, v)‖, 1))."""

    low: float
    high: float
    mode: str = "clamp"

    def __call__(self, x: Tensor) -> None:
        if self.mode == "norm":
            n = x.norm(dim=1, keepdim=True)
            x.mul_((self.high / n.clamp_min(1e-30)).clamp_(max=1.0))
        else:
            x.clamp_(self.low, self.high)
