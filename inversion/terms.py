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

from preimage.inversion import fused


class Term(nn.Module):
    """Base class. Subclasses set ``layer`` and implement ``forward(x, feats)``.

    A ``gradient_only`` term (a score prior, :mod:`preimage.inversion.score_term`) has a
    gradient but no value: it implements ``grad(z)`` (∂term/∂z in its space) instead of
    ``forward``, and the objective leaves it out of the total (its value is NaN)."""

    layer: str | None = None
    gradient_only: bool = False

    def forward(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def space(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:
        return x if self.layer is None else feats[self.layer]

    def closed_form(self, x: Tensor) -> tuple[Tensor, Tensor] | None:
        """(value (B,), ∂term/∂x) without autograd when the term reads the image and has a
        closed-form gradient; None otherwise."""
        return None

    @property
    def has_closed_form(self) -> bool:
        """Whether :meth:`accumulate_grad` works (the term reads the image, gradient known)."""
        return type(self).closed_form is not Term.closed_form

    def accumulate_grad(self, x: Tensor, out: Tensor, weight: float = 1.0) -> Tensor:
        """``out += weight·∂term/∂x`` in place; returns the term's value (B,). Only for
        terms with :attr:`has_closed_form` (subclasses fuse it to skip temporaries)."""
        value, grad = self.closed_form(x)
        out.add_(grad, alpha=weight)
        return value

    def feature_value_and_grad(self, phi: Tensor) -> tuple[Tensor, Tensor] | None:
        """(value (B,), ∂term/∂Φ) at the term's layer without autograd, or None (then the
        engine differentiates :meth:`forward`). The gradient is a new tensor the caller may
        modify; it is back-propagated through Φ together with the other terms'."""
        return None

    def feature_value_and_seed(self, phi: Tensor) -> tuple[Tensor, Tensor, Tensor | None] | None:
        """As :meth:`feature_value_and_grad`, the gradient given as ``scale[b] · seed[b]``
        (``scale`` (B | 1,) or None for 1), so that the per-item factor can be applied after
        Φ's backward, on the image, where that is cheaper."""
        vg = self.feature_value_and_grad(phi)
        return None if vg is None else (vg[0], vg[1], None)


def _per_item(a: Tensor, batch: int) -> Tensor:
    """Broadcast a (1 | B, …) tensor to batch ``batch``."""
    return a if a.shape[0] == batch else a.expand(batch, *a.shape[1:])


def _sq_norms(r: Tensor) -> Tensor:
    """Per-item Σ r² of a (B, …) tensor: one read, no squared temporary."""
    return torch.linalg.vector_norm(r.reshape(r.shape[0], -1), dim=1).square_()


def _broadcast(grad: Tensor, phi: Tensor) -> Tensor:
    """A constant ∂term/∂Φ as a new tensor of the values' batch (Φ's or the target's)."""
    return grad.expand(torch.broadcast_shapes(grad.shape, phi.shape)).contiguous()


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
        target_sq = target.flatten(1).pow(2).sum(1).clamp_min(torch.finfo(phi0.dtype).tiny)  # ‖m ⊙ Φ₀‖²
        self.register_buffer("target_sq", target_sq, persistent=False)
        self.register_buffer("sigma2", torch.as_tensor(target_sq if sigma2 is None else sigma2,
                                                       dtype=phi0.dtype).reshape(-1))
        # a 0/1 mask is idempotent: m ⊙ (m ⊙ r) = m ⊙ r saves a pass per step
        self._binary_mask = mask is None or bool(((self.mask == 0) | (self.mask == 1)).all())

    def residual(self, phi: Tensor) -> Tensor:
        r = phi - self.phi0
        return r if self.mask is None else r * self.mask

    def forward(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:
        r = self.residual(feats[self.layer])
        if not r.requires_grad:  # values only (the final metrics): a norm, no squared temporary
            return _sq_norms(r) / self.sigma2
        return r.flatten(1).pow(2).sum(1) / self.sigma2

    def feature_value_and_grad(self, phi: Tensor) -> tuple[Tensor, Tensor]:
        value, seed, scale = self.feature_value_and_seed(phi)
        return value, seed.mul_(scale.reshape(-1, *([1] * (seed.dim() - 1))))

    def feature_value_and_seed(self, phi: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """‖m ⊙ r‖²/σ² and its gradient as ``scale[b] · seed[b]``: seed = m ⊙ (m ⊙ r),
        scale = 2/σ², r = Φ − Φ₀. One residual and one norm; the engine applies the
        per-item scale to the image gradient when this is Φ's only seed (a pass over the
        image instead of one over the feature map)."""
        one = fused.residual(phi, self.phi0) if self.mask is None else None  # r and ‖r‖² in one pass
        r, sq = one if one is not None else (self.residual(phi), None)
        value = (_sq_norms(r) if sq is None else sq) / self.sigma2
        if not self._binary_mask:
            r.mul_(self.mask)
        return value, r, 2.0 / self.sigma2

    def relative_error(self, phi: Tensor) -> Tensor:
        """√(‖m ⊙ (Φ − Φ₀)‖² / ‖m ⊙ Φ₀‖²) per item (IJCV'16)."""
        num = _sq_norms(self.residual(phi.detach()))
        return (num / self.target_sq.expand(num.shape)).sqrt()


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

    @property
    def has_closed_form(self) -> bool:
        return self.layer is None and hasattr(self.energy, "value_and_grad")

    def accumulate_grad(self, x: Tensor, out: Tensor, weight: float = 1.0) -> Tensor:
        fused = getattr(self.energy, "accumulate_grad", None)
        if fused is None:
            return super().accumulate_grad(x, out, weight)
        return self.scale * fused(x, out, weight * self.scale)

    def feature_value_and_grad(self, phi: Tensor) -> tuple[Tensor, Tensor] | None:
        fn = getattr(self.energy, "value_and_grad", None)
        if fn is None:
            return None
        value, grad = fn(phi)
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

    def feature_value_and_grad(self, phi: Tensor) -> tuple[Tensor, Tensor]:
        return self(phi, {self.layer: phi}), _broadcast(self.weight / -self.sigma, phi)


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

    def feature_value_and_grad(self, phi: Tensor) -> tuple[Tensor, Tensor]:
        scale = (-1.0 / self.norm2).reshape(-1, *([1] * (phi.dim() - 1)))
        return self(phi, {self.layer: phi}), _broadcast(self.target * scale, phi)


class LearnedPriorTerm(Term):
    """A learned energy (field of experts, ICA, GMM; :mod:`preimage.priors`) at the image
    (``layer=None``) or at a feature map: ``scale[b] · E(z_b)`` with a per-item scale (B,), so
    one batched run can sweep the weight; closed form where the energy has ``value_and_grad``."""

    def __init__(self, energy: nn.Module, layer: str | None, scale: Tensor) -> None:
        super().__init__()
        self.energy, self.layer = energy, layer
        self.register_buffer("scale", scale.detach().clone().reshape(-1))

    def _s(self, z: Tensor) -> Tensor:
        s = self.scale.to(z.dtype)
        return s if s.numel() == z.shape[0] else s.expand(z.shape[0]) if s.numel() == 1 else s.repeat(z.shape[0] // s.numel())

    def forward(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:
        z = self.space(x, feats)
        return self._s(z) * self.energy(z)

    @property
    def has_closed_form(self) -> bool:  # image-space terms only; feature-map ones below
        return self.layer is None

    def _value_and_grad(self, z: Tensor) -> tuple[Tensor, Tensor]:
        value, grad = self.energy.value_and_grad(z)
        s = self._s(z)
        return s * value, grad.mul_(s[:, None, None, None])

    def closed_form(self, x: Tensor) -> tuple[Tensor, Tensor] | None:
        return None if self.layer is not None else self._value_and_grad(x)

    def feature_value_and_grad(self, phi: Tensor) -> tuple[Tensor, Tensor] | None:
        return None if self.layer is None else self._value_and_grad(phi)
