"""Energy terms: each maps the image ``x`` and the tapped features to one value per
batch item, ``Tensor[B]``. ``layer`` says which space a term reads (None: the image).

- :class:`FeatureMatch`  ‖m ⊙ (Φ(x) − Φ₀)‖² / σ²   (CVPR'15 Eq. 2 with the y0_sigma
  normalisation of ``invert_nn.m``; IJCV'16 with σ² = ‖Φ₀‖²)
- :class:`PriorTerm`     E(z) · scale on the image or any layer (scale = 1/x0_sigma²)
- :class:`ActivationMax` −⟨m ⊙ w, Φ(x)⟩ / σ  (IJCV'16 activation maximisation)
- :class:`Caricature`    −⟨m ⊙ Φ₀, Φ(x)⟩ / ‖m ⊙ Φ₀‖²  (IJCV'16 caricatures)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn


class Term(nn.Module):
    """Base class. Subclasses set ``layer`` and implement ``forward(x, feats)``."""

    layer: str | None = None

    def forward(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def space(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:
        return x if self.layer is None else feats[self.layer]

    def closed_form(self, x: Tensor) -> tuple[Tensor, Tensor] | None:
        """(value (B,), ∂term/∂x) without autograd when the term reads the image and has a
        closed-form gradient; None otherwise."""
        return None


def _per_item(a: Tensor, batch: int) -> Tensor:
    """Broadcast a (1 | B, …) tensor to batch ``batch``."""
    return a if a.shape[0] == batch else a.expand(batch, *a.shape[1:])


class FeatureMatch(Term):
    """Squared distance to the target code, normalised per item.

    ``phi0``: (B | 1, C, H, W) target; ``mask``: (1 | B, C, H, W) 0/1 or None;
    ``sigma2``: per-item normaliser (default ‖m ⊙ Φ₀‖², i.e. y0_sigma²).
    """

    def __init__(self, layer: str, phi0: Tensor, mask: Tensor | None = None,
                 sigma2: Tensor | float | None = None) -> None:
        super().__init__()
        self.layer = layer
        self.register_buffer("phi0", phi0.detach())
        self.register_buffer("mask", None if mask is None else mask.detach().to(phi0.dtype))
        target = phi0 if mask is None else phi0 * mask
        if sigma2 is None:
            sigma2 = target.flatten(1).pow(2).sum(1).clamp_min(torch.finfo(phi0.dtype).tiny)
        self.register_buffer("sigma2", torch.as_tensor(sigma2, dtype=phi0.dtype).reshape(-1))

    def residual(self, phi: Tensor) -> Tensor:
        r = phi - self.phi0
        return r if self.mask is None else r * self.mask

    def forward(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:
        r = self.residual(feats[self.layer])
        return r.flatten(1).pow(2).sum(1) / self.sigma2

    def relative_error(self, phi: Tensor) -> Tensor:
        """√(‖m ⊙ (Φ − Φ₀)‖² / ‖m ⊙ Φ₀‖²) per item (IJCV'16)."""
        target = self.phi0 if self.mask is None else self.phi0 * self.mask
        num = self.residual(phi).flatten(1).pow(2).sum(1)
        den = _per_item(target, phi.shape[0]).flatten(1).pow(2).sum(1)
        return (num / den.clamp_min(torch.finfo(phi.dtype).tiny)).sqrt()


class PriorTerm(Term):
    """``scale · energy(z)`` where z is the image (``layer=None``) or a tapped layer."""

    def __init__(self, energy: nn.Module, layer: str | None = None, scale: float = 1.0) -> None:
        super().__init__()
        self.energy, self.layer, self.scale = energy, layer, float(scale)

    def forward(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:
        return self.scale * self.energy(self.space(x, feats))

    def closed_form(self, x: Tensor) -> tuple[Tensor, Tensor] | None:
        fn: Callable[[Tensor], tuple[Tensor, Tensor]] | None = getattr(self.energy, "value_and_grad", None)
        if self.layer is not None or fn is None:
            return None
        value, grad = fn(x)
        return self.scale * value, grad.mul_(self.scale)


class ActivationMax(Term):
    """−⟨w, Φ(x)⟩ / σ: drive up the neurons selected by ``weight`` (e.g. a one-hot)."""

    def __init__(self, layer: str, weight: Tensor, sigma: float = 1.0) -> None:
        super().__init__()
        self.layer, self.sigma = layer, float(sigma)
        self.register_buffer("weight", weight.detach())

    def forward(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:
        phi = feats[self.layer]
        return -(phi * self.weight).flatten(1).sum(1) / self.sigma


class Caricature(Term):
    """−⟨m ⊙ Φ₀, Φ(x)⟩ / ‖m ⊙ Φ₀‖²: push Φ(x) further along Φ₀."""

    def __init__(self, layer: str, phi0: Tensor, mask: Tensor | None = None) -> None:
        super().__init__()
        self.layer = layer
        target = phi0.detach() if mask is None else phi0.detach() * mask
        self.register_buffer("target", target)
        self.register_buffer("norm2", target.flatten(1).pow(2).sum(1).clamp_min(torch.finfo(phi0.dtype).tiny))

    def forward(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:
        return -(feats[self.layer] * self.target).flatten(1).sum(1) / self.norm2
