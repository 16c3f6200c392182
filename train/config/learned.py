"""``priors.<key>: {type: learned, prior: NAME_OR_FILE, layer: null, weight: auto}`` — a learned
patch energy (field of experts, over-complete ICA, EPLL's GMM; :mod:`preimage.priors`) as a term
of an invert job, at the image or at the feature map it was trained on.

- ``prior``: a shipped name (``preimage prior list``) or a ``.pt`` / ``.ckpt`` file.
- ``layer``: taken from the prior (feature-map priors are tapped automatically); giving a
  different one is an error. Image priors (trained on [0, 1] RGB or grey) are mapped from the
  representation's input convention (:func:`preimage.priors.adapt.for_convention`).
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

    def _loaded(self):
        loaded = _load(self.prior)
        trained = loaded.layer
        if self.layer is not None and self.layer != trained:
            where = f"layer {trained}" if trained else "the image"
            raise PreimageError(f"prior {self.prior!r} was trained on {where}, not on {self.layer}; "
                                f"leave the learned prior's layer unset (it is taken from the prior)")
        return loaded

    def taps(self) -> list[str]:
        layer = self._loaded().layer
        return [layer] if layer else []

    def build(self, key: str, ctx: BuildContext) -> TermSpec:
        from preimage.priors.adapt import for_convention

        loaded = self._loaded()
        layer, rep = loaded.layer, ctx.representation
        trained_rep = loaded.meta.get("representation")
        if layer is not None and trained_rep not in (None, ctx.config.representation):
            raise PreimageError(f"priors.{key}: prior {self.prior!r} was trained on {trained_rep}'s {layer}, but the job "
                                f"inverts {ctx.config.representation}; use a prior of this representation")
        energy = loaded.energy
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

    def _auto(self, key: str, energy: nn.Module, layer: str | None, ctx: BuildContext) -> float:
        rep = ctx.representation
        g = torch.Generator().manual_seed(ctx.seed + 8191)
        delta = torch.randn(ctx.rgb.shape, generator=g, dtype=ctx.rgb.dtype).to(ctx.rgb.device) * (NOISE_255 / 255)
        with torch.no_grad():
            x1 = rep.convention.preprocess(ctx.rgb + delta)
            feats = rep(x1)
            data = sum(((feats[l] - ctx.phi0[l]).flatten(1).pow(2).sum(1) /
                        ctx.phi0[l].flatten(1).pow(2).sum(1).clamp_min(1e-30)) for l in ctx.layers)
            data = data * float(getattr(ctx.config.objective, "weight", 1.0))
            z0, z1 = (ctx.x0, x1) if layer is None else (ctx.phi0[layer], feats[layer])
            rise = (energy(z1) - energy(z0)).mean().item()
        if not rise > 0:
            raise PreimageError(f"priors.{key}: prior {self.prior!r} does not rate the images above their noisy copies "
                                f"(energy change {rise:.3g}), so weight 'auto' is undefined; give a number, "
                                f"e.g. priors.{key}.weight=1e-3")
        return self.share * data.mean().item() / rise
