"""Objective: a weighted sum of named terms over one forward pass of Φ (DESIGN.md).

    E(x) = Σ_k w_k · term_k(x, Φ(x))

Terms are built with :mod:`inversion.terms`; the algebra ``0.5 * tv + match`` needs names,
so objectives are written ``Objective(rep, {"match@conv1": (1.0, match), "tv": (0.5, tv)})``
or grown with :meth:`add`. Image-space terms that know their gradient in closed form are
kept out of autograd (:meth:`energy_and_grad`): inverting pays only for Φ's backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from preimage.inversion.terms import FeatureMatch, Term
from preimage.representations.base import Representation
from preimage.representations.errors import PreimageError


@dataclass
class Evaluation:
    """One evaluation: ``total`` (B,), weighted ``values`` per term (B,), the taps, and
    ``grad`` (∂total/∂x, B×C×H×W) when asked for."""

    total: Tensor
    values: dict[str, Tensor]
    feats: dict[str, Tensor]
    grad: Tensor | None = None


class Objective(nn.Module):
    """Named, weighted terms on top of a frozen representation."""

    def __init__(self, representation: Representation,
                 terms: dict[str, tuple[float, Term]] | None = None) -> None:
        super().__init__()
        self.representation = representation
        self.terms = nn.ModuleDict()
        self.weights: dict[str, float] = {}
        for name, (w, t) in (terms or {}).items():
            self.add(name, t, w)

    def add(self, name: str, term: Term, weight: float = 1.0) -> "Objective":
        if name in self.terms:
            raise PreimageError(f"objective already has a term named {name!r}; give each term its own name")
        if term.layer is not None and term.layer not in self.representation.taps:
            self.representation.check_layer(term.layer)
            raise PreimageError(f"term {name!r} reads layer {term.layer!r} but the representation taps only "
                                f"{', '.join(self.representation.taps)}; build it with that tap")
        self.terms[name] = term
        self.weights[name] = float(weight)
        return self

    def feature_matches(self) -> dict[str, FeatureMatch]:
        return {n: t for n, t in self.terms.items() if isinstance(t, FeatureMatch)}

    @property
    def needs_features(self) -> bool:
        return any(t.layer is not None for t in self.terms.values())

    def forward(self, x: Tensor, shift: tuple[int, int] = (0, 0)) -> Evaluation:
        """Values with autograd through everything (for tests and L-BFGS closures)."""
        feats = self.representation(_roll(x, shift)) if self.needs_features else {}
        values = {n: self.weights[n] * t(x, feats) for n, t in self.terms.items()}
        return Evaluation(sum(values.values()), values, feats)

    def energy_and_grad(self, x: Tensor, shift: tuple[int, int] = (0, 0)) -> Evaluation:
        """Values and ∂E/∂x: autograd through Φ for feature terms, closed forms for the rest.

        ``shift`` (dy, dx) jitters only the representation's input (IJCV'16 jitter).
        """
        x = x.detach()
        grad = torch.zeros_like(x)
        values: dict[str, Tensor] = {}
        rest = []
        with torch.no_grad():
            for n, t in self.terms.items():
                vg = t.closed_form(x)
                if vg is None:
                    rest.append(n)
                    continue
                values[n] = self.weights[n] * vg[0]
                grad.add_(vg[1], alpha=self.weights[n])
        feats: dict[str, Tensor] = {}
        if rest:
            xg = x.requires_grad_(True)
            with torch.enable_grad():
                feats = self.representation(_roll(xg, shift)) if self.needs_features else {}
                auto = {n: self.weights[n] * self.terms[n](xg, feats) for n in rest}
                total_auto = sum(auto.values())
                (g,) = torch.autograd.grad(total_auto.sum(), xg)
            grad.add_(g)
            values.update({n: v.detach() for n, v in auto.items()})
            feats = {k: v.detach() for k, v in feats.items()}
        values = {n: values[n] for n in self.terms}  # declaration order
        return Evaluation(sum(values.values()), values, feats, grad)


def _roll(x: Tensor, shift: tuple[int, int]) -> Tensor:
    return x if shift == (0, 0) else torch.roll(x, shifts=shift, dims=(-2, -1))
