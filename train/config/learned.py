"""``priors.<key>: {type: learned, prior: NAME_OR_FILE, layer: null, weight: auto}`` — a learned
patch energy (field of experts, over-complete ICA, EPLL's GMM; :mod:`preimage.priors`) as a term
of an invert job, at the image or at the feature map it was trained on.

- ``prior``: a shipped name (``preimage prior list``) or a ``.pt`` / ``.ckpt`` file.
- ``layer``: taken from the prior (feature-map priors are tapped automatically); giving a
  different one is an error. The prior's space and channels must be its slot's
  (:func:`preimage.train.config.slots.check_prior_slot`, before any step): an image prior has the
  representation's input channels (a grey prior on a colour job is refused, not scored on the
  luma), a feature-map prior the layer's channels and representation. Image priors (trained on
  [0, 1] RGB or grey) are mapped from the representation's input convention
  (:func:`preimage.priors.adapt.for_convention`).
- ``weight: auto`` (the default) sets the weight so that, at the original x₀, the prior takes a
  fixed ``share`` of the data term's response to noise:

      w = share · D(x₀ + δ) / (E(x₀ + δ) − E(x₀)),    δ ~ N(0, (25/255)²) per RGB value,

  D the feature-match data term (‖Φ_l(x) − Φ₀‖² / ‖Φ₀‖² summed over the inverted layers, times the
  objective's weight) and E the prior on its space (Φ_l for a feature-map prior), averaged over the
  images, seeded. Unlike scaling E to 1 at Φ₀ (what handcrafted ``layer`` priors do) this is blind to
  the arbitrary additive constant of a learned energy and to the units of both terms: the prior
  resists a noisy x₀ ``share`` times as hard as the data term does. A number is used as given.
- ``patch_stride: s`` (GMM priors only, default 1 = exact): score only the patches at every s-th
  row and column, times s² (:meth:`preimage.priors.gmm.GMMPatchPrior.with_patch_stride`), an
  approximation s² times cheaper.
- ``sweep: [f₁, …, f_R]`` (with ``repeats: R``): restart r of every image gets weight w · f_r, so
  one batched run sweeps the weight (item i·R + r ↔ image i, factor f_r).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import torch
from torch import Tensor, nn

from preimage.inversion.terms import LearnedPriorTerm
from preimage.representations.errors import PreimageError
from preimage.train.config.invert import BuildContext, NonNegFloat, PosFloat, PosInt, PriorVariant, TermSpec, register_variant
from preimage.train.config.slots import check_prior_slot, slot_channels

NOISE_255 = 25.0  # the perturbation δ of ``weight: auto``, on the 0–255 scale


@lru_cache(maxsize=16)
def _load(prior: str):
    from preimage.priors.store import load_prior

    return load_prior(prior)


@register_variant("priors", "learned")
@dataclass
class LearnedPriorConfig(PriorVariant):
    """A learned patch prior (see the module docstring for ``weight: auto`` and ``sweep``)."""

    prior: str = "foe-rgb"
    layer: str | None = None
    weight: NonNegFloat | Literal["auto"] = "auto"
    share: PosFloat = 0.1
    sweep: list[NonNegFloat] | None = None
    patch_stride: PosInt = 1   # GMM only: score every s-th patch, ×s² (an approximation, s² cheaper)
    sigma: PosFloat | None = None  # score priors only: the noise level of s(z, σ), the prior's units

    def _loaded(self, key: str, ctx: BuildContext):
        """The prior, checked against its slot (:func:`check_prior_slot`): its layer against
        ``layer`` if given, then its representation and channels against the job's."""
        loaded = _load(self.prior)
        trained, channels, rep = loaded.layer, loaded.energy.channels, loaded.meta.get("representation")
        slot_layer = trained if self.layer is None else self.layer
        check_prior_slot(key, channels, trained, None, slot_layer, prior=repr(self.prior), prior_representation=rep)
        check_prior_slot(key, channels, trained, slot_channels(ctx, slot_layer), slot_layer, prior=repr(self.prior),
                         prior_representation=rep, slot_representation=ctx.config.representation)
        return loaded

    def taps(self) -> list[str]:
        layer = _load(self.prior).layer  # the slot is checked when the term is built
        return [layer] if layer else []

    def build(self, key: str, ctx: BuildContext) -> TermSpec:
        from preimage.priors.adapt import for_convention

        loaded = self._loaded(f"priors.{key}", ctx)  # its space and channels are the slot's, or refused
        layer, rep = loaded.layer, ctx.representation
        energy = loaded.energy
        if not getattr(energy, "has_energy", True):
            return self._score_term(key, energy, layer, ctx)
        if self.sigma is not None:
            raise PreimageError(f"priors.{key}.sigma applies to score priors only, {self.prior!r} is an energy; "
                                "leave sigma unset")
        if self.patch_stride != 1:
            if not hasattr(energy, "with_patch_stride"):
                raise PreimageError(f"priors.{key}.patch_stride applies to GMM priors only, {self.prior!r} is a "
                                    f"{type(energy).__name__}; leave patch_stride at 1")
            energy = energy.with_patch_stride(self.patch_stride)
        energy = energy if layer is not None else for_convention(energy, rep.convention)
        energy = energy.to(ctx.x0.device)
        base = self._auto(key, energy, layer, ctx) if self.weight == "auto" else float(self.weight)
        if self.sweep is not None and not self.sweep:  # "repeats=0" would be no advice: it is refused
            raise PreimageError(f"priors.{key}.sweep is empty; give one weight factor per restart (e.g. sweep: "
                                f"[0.5, 1, 2] with repeats=3) or leave sweep out")
        factors = [1.0] if self.sweep is None else [float(f) for f in self.sweep]
        if self.sweep is not None and len(factors) != ctx.repeats:
            raise PreimageError(f"priors.{key}.sweep has {len(factors)} factors but the job has repeats={ctx.repeats}; "
                                f"set repeats={len(factors)} (one restart per factor)")
        scale = base * torch.tensor(factors, dtype=ctx.x0.dtype, device=ctx.x0.device)
        name = key if layer is None else f"{key}@{layer}"
        return TermSpec(name, LearnedPriorTerm(energy, layer, scale), 1.0)

    def _score_term(self, key: str, prior: nn.Module, layer: str | None, ctx: BuildContext) -> TermSpec:
        """A score prior (gradient only) as a :class:`~preimage.inversion.score_term.ScoreTerm` at
        ``sigma`` (default: the lowest noise level it was trained at)."""
        from preimage.inversion.score_term import ScoreTerm
        from preimage.priors.adapt import score_for_convention

        if self.sweep is not None or self.patch_stride != 1:
            raise PreimageError(f"priors.{key}: sweep and patch_stride apply to energies, {self.prior!r} is a score "
                                "prior; leave them unset")
        sigma = float(self.sigma if self.sigma is not None else prior.sigma_min)
        placed = (prior if layer is not None else score_for_convention(prior, ctx.representation.convention))
        placed = placed.to(ctx.x0.device)
        term = ScoreTerm(placed, layer, sigma)
        weight = self._auto_score(key, term, layer, ctx) if self.weight == "auto" else float(self.weight)
        return TermSpec(key if layer is None else f"{key}@{layer}", term, weight)

    def _data_at_noisy(self, ctx: BuildContext) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """x₁ = x₀ + δ (δ ~ N(0, (25/255)²) per RGB value, seeded), Φ(x₁) and the data term D(x₁)."""
        rep = ctx.representation
        g = torch.Generator().manual_seed(ctx.seed + 8191)
        delta = torch.randn(ctx.rgb.shape, generator=g, dtype=ctx.rgb.dtype).to(ctx.rgb.device) * (NOISE_255 / 255)
        with torch.no_grad():
            x1 = rep.convention.preprocess(ctx.rgb + delta)
            feats = rep(x1)
            data = sum(((feats[l] - ctx.phi0[l]).flatten(1).pow(2).sum(1) /
                        ctx.phi0[l].flatten(1).pow(2).sum(1).clamp_min(1e-30)) for l in ctx.layers)
        return x1, feats, data * float(getattr(ctx.config.objective, "weight", 1.0))

    def _auto_score(self, key: str, term: nn.Module, layer: str | None, ctx: BuildContext) -> float:
        """``weight: auto`` for a score prior: the energy-rise rule of energies with the rise
        E(z₁) − E(z₀) = −∫ s · dz taken by the midpoint rule, −⟨s((z₀ + z₁)/2, σ), z₁ − z₀⟩."""
        x1, feats, data = self._data_at_noisy(ctx)
        z0, z1 = (ctx.x0, x1) if layer is None else (ctx.phi0[layer], feats[layer])
        with torch.no_grad():
            s = term.prior.score(0.5 * (z0 + z1), term.sigma)
            rise = -(s * (z1 - z0)).flatten(1).sum(1).mean().item()
        if not rise > 0:
            raise PreimageError(f"priors.{key}: score prior {self.prior!r} does not point the noisy images back "
                                f"towards the originals (rise {rise:.3g}), so weight 'auto' is undefined; give a "
                                f"number, e.g. priors.{key}.weight=1e-3")
        return self.share * data.mean().item() / rise

    def _auto(self, key: str, energy: nn.Module, layer: str | None, ctx: BuildContext) -> float:
        x1, feats, data = self._data_at_noisy(ctx)
        with torch.no_grad():
            z0, z1 = (ctx.x0, x1) if layer is None else (ctx.phi0[layer], feats[layer])
            rise = (energy(z1) - energy(z0)).mean().item()
        if not rise > 0:
            raise PreimageError(f"priors.{key}: prior {self.prior!r} does not rate the images above their noisy copies "
                                f"(energy change {rise:.3g}), so weight 'auto' is undefined; give a number, "
                                f"e.g. priors.{key}.weight=1e-3")
        return self.share * data.mean().item() / rise
