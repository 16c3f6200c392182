"""A score prior as a gradient-only term of the objective (DESIGN.md, "Prior / energy").

A score prior has no energy, only s(z, σ) ≈ ∇_z log p_σ(z) (:mod:`preimage.priors.score`).
As a term of E(x) = Σ_k w_k term_k it stands for −scale · log p_σ(z), z the image or a tapped
layer Φ_L(x), so it contributes only its gradient:

    ∂term/∂z = −scale · s(z, σ)        at the image (layer None), and
    ∂term/∂x = −scale · J_Φ_L(x)ᵀ s(Φ_L(x), σ)   at a layer (Φ's vector–Jacobian product),

the plug-and-play use of a denoiser as a prior (Venkatakrishnan et al. 2013; Nguyen et al.,
CVPR 2017, Eq. 6; Kadkhodaie & Simoncelli 2021). Its value is NaN, it is left out of the
objective's total, and :class:`~preimage.inversion.objective.Objective` records the norm of
its weighted gradient instead (``Evaluation.grad_norms``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from preimage.inversion.terms import Term
from preimage.priors.score import check_sigma
from preimage.representations.errors import PreimageError


class ScoreTerm(Term):
    """−scale · log p_σ(z) known by its gradient only; ``sigma`` in the prior's units.

    ``prior``: anything with ``score(z, sigma)`` and ``channels`` (a
    :class:`~preimage.priors.score.ScorePrior`, or one adapted to an input convention by
    :func:`~preimage.priors.adapt.score_for_convention`); its ``layer`` (None: the image) must be
    the term's. The objective's weight multiplies ``scale``.
    """

    gradient_only = True

    def __init__(self, prior: nn.Module, layer: str | None = None, sigma: float = 0.1, scale: float = 1.0) -> None:
        super().__init__()
        if not callable(getattr(prior, "score", None)) or getattr(prior, "has_energy", True):
            raise PreimageError(f"ScoreTerm takes a score prior (gradient only, has_energy False), got "
                                f"{type(prior).__name__}; add an energy as a PriorTerm instead")
        trained = getattr(prior, "layer", None)
        if trained != layer:
            where = "the image" if trained is None else f"layer {trained}"
            raise PreimageError(f"score prior was trained on {where} but is placed on "
                                f"{'the image' if layer is None else 'layer ' + layer}; give layer={trained!r} "
                                f"or a prior trained on that space")
        self.prior, self.layer, self.scale = prior, layer, float(scale)
        self.sigma = sigma

    @property
    def sigma(self) -> float:
        """Noise level at which the prior's score is evaluated (the prior's units)."""
        return self._sigma

    @sigma.setter
    def sigma(self, value: float) -> None:
        check_sigma(value, 1, torch.empty(0))
        self._sigma = float(value)

    @property
    def channels(self) -> int:
        return int(self.prior.channels)

    def check_representation(self, representation: nn.Module) -> None:
        """At :meth:`Objective.add`: the image's channels, and the network a layer prior was trained on."""
        if self.layer is None:
            c = representation.convention.channels
            if c != self.channels:
                raise PreimageError(f"score prior has {self.channels} channels but {representation.name}'s input "
                                    f"image has {c}; use a {c}-channel prior or adapt it with score_for_convention")
            return
        trained = getattr(self.prior, "representation", None)
        if trained is not None and trained != representation.name:
            raise PreimageError(f"score prior of layer {self.layer} was trained on {trained}, not on "
                                f"{representation.name}; use a prior of {representation.name}'s {self.layer}")

    def forward(self, x: Tensor, feats: dict[str, Tensor]) -> Tensor:
        """Refused: a score term has no value (the objective asks for :meth:`grad`)."""
        raise PreimageError("a score prior term has a gradient but no energy value; evaluate the objective with "
                            "energy_and_grad (momentum, Adam or Langevin), not where values are needed (L-BFGS)")

    def grad(self, z: Tensor) -> Tensor:
        """∂term/∂z = −scale · s(z, σ), a new tensor; z is (B, channels, H, W) of the term's space."""
        if z.dim() != 4 or z.shape[1] != self.channels:
            where = "the image" if self.layer is None else f"layer {self.layer}"
            got = z.shape[1] if z.dim() == 4 else f"shape {tuple(z.shape)}"
            raise PreimageError(f"score prior has {self.channels} channels but {where} has {got}; use a prior "
                                f"trained on {where} of this representation")
        with torch.no_grad():
            return self.prior.score(z.detach(), self.sigma).mul_(-self.scale)

    @property
    def has_closed_form(self) -> bool:
        return self.layer is None

    def accumulate_grad(self, x: Tensor, out: Tensor, weight: float = 1.0) -> Tensor:
        """``out += weight·∂term/∂x``; the value is NaN (B,)."""
        out.add_(self.grad(x), alpha=weight)
        return _no_value(x)

    def feature_value_and_seed(self, phi: Tensor) -> tuple[Tensor, Tensor, None]:
        """(NaN (B,), ∂term/∂Φ, no per-item scale): back-propagated through Φ with the other seeds."""
        return _no_value(phi), self.grad(phi), None


def _no_value(z: Tensor) -> Tensor:
    """The value of a gradient-only term: NaN per item."""
    return torch.full((z.shape[0],), float("nan"), dtype=z.dtype, device=z.device)
