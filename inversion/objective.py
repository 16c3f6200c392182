"""Objective: a weighted sum of named terms over one forward pass of Φ (ARCHITECTURE.md).

    E(x) = Σ_k w_k · term_k(x, Φ(x))

Terms are built with :mod:`inversion.terms`; the algebra ``0.5 * tv + match`` needs names,
so objectives are written ``Objective(rep, {"match@conv1": (1.0, match), "tv": (0.5, tv)})``
or grown with :meth:`add`. Image-space terms that know their gradient in closed form are
kept out of autograd (:meth:`energy_and_grad`): inverting pays only for Φ's backward.

Gradient-only terms (score priors, :mod:`inversion.score_term`) add w·∂term/∂x to the
gradient but have no value: ``values[name]`` is NaN, the total leaves them out (it is the sum
of the other terms), ``Evaluation.gradient_only`` names them and ``Evaluation.grad_norms``
holds ‖w·∂term/∂z‖ per item (z the term's space), which the engine logs and checks instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from preimage.inversion import fused
from preimage.inversion.terms import FeatureMatch, PriorTerm, Term
from preimage.representations.base import Representation
from preimage.representations.errors import PreimageError


@dataclass
class Evaluation:
    """One evaluation: ``total`` (B,), weighted ``values`` per term (B,), the taps, and
    ``grad`` (∂E/∂x, B×C×H×W, gradient-only terms included) when asked for.
    ``gradient_only``: the terms that have no value (NaN in ``values``, not in ``total``);
    ``grad_norms[name]`` (B,): ‖w·∂term/∂z‖ of each, in its own space (when ``grad`` is)."""

    total: Tensor
    values: dict[str, Tensor]
    feats: dict[str, Tensor]
    grad: Tensor | None = None
    gradient_only: frozenset[str] = frozenset()
    grad_norms: dict[str, Tensor] = field(default_factory=dict)


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
        if isinstance(term, PriorTerm) and not getattr(term.energy, "has_energy", True):
            raise PreimageError(f"term {name!r} wraps a score prior in a PriorTerm, which needs an energy value; "
                                f"add it as a ScoreTerm (gradient only)")
        if term.layer is not None and term.layer not in self.representation.taps:
            self.representation.check_layer(term.layer)
            raise PreimageError(f"term {name!r} reads layer {term.layer!r} but the representation taps only "
                                f"{', '.join(self.representation.taps)}; build it with that tap")
        check = getattr(term, "check_representation", None)
        if check is not None:
            check(self.representation)
        self.terms[name] = term
        self.weights[name] = float(weight)
        return self

    @property
    def gradient_only(self) -> frozenset[str]:
        """Names of the terms with a gradient but no value (score priors)."""
        return frozenset(n for n, t in self.terms.items() if t.gradient_only)

    def total_of(self, values: dict[str, Tensor], x: Tensor) -> Tensor:
        """Σ of the values of the terms that have one; zeros (B,) if none has."""
        valued = [v for n, v in values.items() if not self.terms[n].gradient_only]
        return sum(valued) if valued else x.new_zeros(x.shape[0])

    def feature_matches(self) -> dict[str, FeatureMatch]:
        return {n: t for n, t in self.terms.items() if isinstance(t, FeatureMatch)}

    @property
    def needs_features(self) -> bool:
        return any(t.layer is not None for t in self.terms.values())

    def forward(self, x: Tensor, shift: tuple[int, int] = (0, 0)) -> Evaluation:
        """Values with autograd through everything (for tests and L-BFGS closures)."""
        feats = self.representation(_roll(x, shift)) if self.needs_features else {}
        values = {n: torch.full((x.shape[0],), float("nan"), dtype=x.dtype, device=x.device) if t.gradient_only
                  else self.weights[n] * t(x, feats) for n, t in self.terms.items()}
        return Evaluation(self.total_of(values, x), values, feats, gradient_only=self.gradient_only)

    def metrics(self, x: Tensor) -> dict[str, Tensor]:
        """Per-item values of every term, ``total`` and ``relative_error@<term>`` of each
        feature match at ``x`` (forward only): the engine's final metrics, for any method."""
        with torch.no_grad():
            ev = self(x)
        metrics = dict(ev.values)
        metrics["total"] = ev.total
        for n, fm in self.feature_matches().items():
            metrics[f"relative_error@{n}"] = fm.relative_error(ev.feats[fm.layer])
        return metrics

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
        norms: dict[str, Tensor] = {}
        feats: dict[str, Tensor] = {}
        grad: Tensor | None = None
        rest = [n for n, t in self.terms.items() if not t.has_closed_form]
        if rest:
            xg = x.detach().requires_grad_(True)
            with torch.enable_grad():
                feats = self.representation(_roll(xg, shift)) if self.needs_features else {}
                found: list[tuple[str, Tensor, Tensor | float]] = []  # (layer, seed, per-item scale)
                auto = []
                for n in rest:
                    t, w = self.terms[n], self.weights[n]
                    vs = None
                    if t.layer is not None:
                        with torch.no_grad():
                            vs = t.feature_value_and_seed(feats[t.layer].detach())
                    if vs is None:
                        v = w * t(xg, feats)
                        auto.append(v)
                        values[n] = v.detach()
                        continue
                    values[n] = w * vs[0]
                    if t.gradient_only:
                        norms[n] = _norms(vs[1]).mul_(abs(w))
                    found.append((t.layer, vs[1], w if vs[2] is None else vs[2] * w))
                # One seed of Φ's batch and nothing else: Φ treats batch items independently,
                # so its per-item scale is applied to the image gradient after the backward.
                deferred = None
                if len(found) == 1 and not auto and found[0][1].shape == feats[found[0][0]].shape \
                        and found[0][1].shape[0] == x.shape[0]:
                    deferred = found[0][2]
                seeds: dict[str, Tensor] = {}  # ∂E/∂Φ per layer
                for layer, seed, scale in found:
                    if deferred is None:
                        seed = seed.mul_(_per_item(scale, seed)) if isinstance(scale, Tensor) else \
                            (seed.mul_(scale) if scale != 1.0 else seed)
                        if seed.shape != feats[layer].shape:  # Φ₀ broadcast over a smaller batch
                            seed = seed.sum_to_size(feats[layer].shape)
                    seeds[layer] = seed if layer not in seeds else seeds[layer].add_(seed)
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
            if g is None:
                deferred = None
            feats = {k: v.detach() for k, v in feats.items()}
        else:
            grad, deferred = torch.zeros_like(x), None
        with torch.no_grad():
            # TV² and α⁶ on the image, with Φ's deferred per-item factor, in one pass where the
            # compiled kernel applies; otherwise the factor, then each closed form in place.
            if not self._fused_closed_forms(x, grad, deferred, values) and deferred is not None:
                grad.mul_(_per_item(deferred, grad)) if isinstance(deferred, Tensor) else grad.mul_(deferred)
            for n, t in self.terms.items():
                if n not in values:
                    w = self.weights[n]
                    if t.gradient_only:
                        g = t.grad(x)
                        norms[n] = _norms(g).mul_(abs(w))
                        grad.add_(g, alpha=w)
                        values[n] = torch.full_like(norms[n], float("nan"))
                        continue
                    values[n] = w * t.accumulate_grad(x, grad, w)
        values = {n: values[n] for n in self.terms}  # declaration order
        return Evaluation(self.total_of(values, x), values, feats, grad, self.gradient_only,
                          {n: norms[n] for n in self.terms if n in norms})

    def _fused_closed_forms(self, x: Tensor, grad: Tensor, scale: Tensor | float | None,
                            values: dict[str, Tensor]) -> bool:
        """``grad ← scale_b·grad + Σ w·∂term/∂x`` for the image-space TV² and α⁶ terms (one of
        each) in one pass (:mod:`preimage.inversion.fused`); their values go into ``values``.
        False (nothing done) where the kernel does not apply."""
        picks: dict[str, tuple[str, float]] = {}
        for n, t in self.terms.items():
            k = fused.kind(t.energy) if isinstance(t, PriorTerm) and t.layer is None and n not in values else None
            if k is not None and k not in picks:
                picks[k] = (n, self.weights[n] * t.scale)
        if not picks:
            return False
        out = fused.tv2_alpha6(x, grad, picks["tv"][1] if "tv" in picks else None,
                               picks["alpha"][1] if "alpha" in picks else None, scale)
        if out is None:
            return False
        for k, v in zip(("tv", "alpha"), out):
            if k in picks:
                n, c = picks[k]
                values[n] = c * v
        return True


def _norms(g: Tensor) -> Tensor:
    """Per-item Euclidean norm of a (B, …) tensor."""
    return torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=1)


def _per_item(scale: Tensor, like: Tensor) -> Tensor:
    """A (B | 1,) per-item factor shaped to multiply a (B, …) tensor."""
    return scale.reshape(-1, *([1] * (like.dim() - 1)))


def _roll(x: Tensor, shift: tuple[int, int]) -> Tensor:
    return x if shift == (0, 0) else torch.roll(x, shifts=shift, dims=(-2, -1))
