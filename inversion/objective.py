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
        """Values and ∂E/∂x: one backward through Φ for the feature terms, closed forms for the rest.

        ``shift`` (dy, dx) jitters only the representation's input (IJCV'16 jitter).
        Feature terms that know ∂term/∂Φ (:meth:`Term.feature_value_and_grad`) hand it to
        Φ's backward directly; the others are differentiated by autograd in the same
        backward. The image-space closed forms are then added in place into the gradient
        Φ's backward returned: no image-sized temporaries beyond Φ's own.
        """
        x = x.detach()
        values: dict[str, Tensor] = {}
        feats: dict[str, Tensor] = {}
        grad: Tensor | None = None
        rest = [n for n, t in self.terms.items() if not t.has_closed_form]
        if rest:
            xg = x.detach().requires_grad_(True)
            with torch.enable_grad():
                feats = self.representation(_roll(xg, shift)) if self.needs_features else {}
                outputs: list[Tensor] = []
                seeds: dict[str, Tensor] = {}  # ∂E/∂Φ per layer, from the terms that know it
                auto = []
                for n in rest:
                    t, w = self.terms[n], self.weights[n]
                    vg = None
                    if t.layer is not None:
                        with torch.no_grad():
                            vg = t.feature_value_and_grad(feats[t.layer].detach())
                    if vg is None:
                        v = w * t(xg, feats)
                        auto.append(v)
                        values[n] = v.detach()
                        continue
                    values[n] = w * vg[0]
                    g = vg[1].mul_(w) if w != 1.0 else vg[1]
                    if g.shape != feats[t.layer].shape:  # Φ₀ broadcast over a smaller batch
                        g = g.sum_to_size(feats[t.layer].shape)
                    seeds[t.layer] = g if t.layer not in seeds else seeds[t.layer].add_(g)
                outputs = [feats[layer] for layer in seeds]
                grads: list[Tensor | None] = list(seeds.values())
                if auto:
                    outputs.append(torch.stack(auto).sum())
                    grads.append(None)
                (g,) = torch.autograd.grad(outputs, xg, grads, allow_unused=True)
            # Φ's backward returns a new tensor: the closed forms accumulate into it
            grad = g if g is not None and g.is_contiguous() and g.data_ptr() != x.data_ptr() else None
            if grad is None:
                grad = torch.zeros_like(x) if g is None else g.clone(memory_format=torch.contiguous_format)
            feats = {k: v.detach() for k, v in feats.items()}
        else:
            grad = torch.zeros_like(x)
        with torch.no_grad():
            for n, t in self.terms.items():
                if n not in values:
                    w = self.weights[n]
                    values[n] = w * t.accumulate_grad(x, grad, w)
        values = {n: values[n] for n in self.terms}  # declaration order
        return Evaluation(sum(values.values()), values, feats, grad)


def _roll(x: Tensor, shift: tuple[int, int]) -> Tensor:
    return x if shift == (0, 0) else torch.roll(x, shifts=shift, dims=(-2, -1))
