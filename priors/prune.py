"""Dropping collapsed experts from a trained product of experts (FoE, over-complete ICA).

Score matching with free filter norms lets some experts shrink to a near-zero whitened norm
(15 of the 24 in the shipped grey FoE, whose norms are < 0.06 against 0.8–8.6): their responses
y_i = w_iᵀx̃ stay in the quadratic part of ρ, so each is only a weak Gaussian term, yet it
still costs a full filter in the convolution of every energy and gradient evaluation.

An expert's strength is the mean energy its quadratic part would give a training patch,

    s_i = α_i E[(w_iᵀx̃)²] = α_i ‖P w_i‖²,

P the projection onto the whitened space (the range of the whitening W: the directions it
keeps; x̃ has identity covariance there on the training patches, and the DC and near-zero
directions W drops are invisible to the expert). ρ(y) ≈ y²/2 near 0 for both
ρ = log(1 + y²/2) and ρ = log cosh y, so a collapsed expert adds ≈ s_i / 2 per patch and a
gradient linear in x of that scale. :func:`prune_experts` keeps the experts with
s_i ≥ ``rel_tol`` · max_j s_j. The effect on a given image is not bounded by ``rel_tol`` alone
(the strong experts sit in the sub-quadratic tails of ρ); ``tests/priors/test_prune.py``
measures it on held-out natural photos.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from preimage.priors.experts import LinearExpertEnergy
from preimage.representations.errors import PreimageError


def expert_strength(energy: LinearExpertEnergy) -> Tensor:
    """s_i = α_i ‖P w_i‖² for every expert (P: projection onto the whitening's range), (n_filters,)."""
    with torch.no_grad():
        w = energy.whitened_filters().double()                           # (G, n, d)
        mat = energy.whitening.matrix.double()                           # (G, d, d)
        proj = mat @ torch.linalg.pinv(mat)                              # W W⁺: onto range(W)
        pw = torch.einsum("gde,gne->gnd", proj, w)
        return (energy.alpha.double() * pw.reshape(-1, w.shape[-1]).pow(2).sum(1)).to(energy.alpha.dtype)


def check_prunable(energy: object, rel_tol: float) -> None:
    """Refuse, with one clear error, a pruning request that cannot be carried out."""
    if not isinstance(energy, LinearExpertEnergy):
        raise PreimageError(f"only field-of-experts and ICA priors have experts to prune, not {type(energy).__name__}")
    if not 0.0 <= rel_tol < 1.0:
        raise PreimageError(f"prune tolerance {rel_tol} is outside [0, 1); give e.g. 1e-3")
    if energy.variant == "channelwise" and rel_tol > 0:
        raise PreimageError("channel-wise experts share one count per channel and cannot be pruned one by one; "
                            "use prune 0 for a channelwise prior")


def prune_experts(energy: LinearExpertEnergy, rel_tol: float) -> tuple[LinearExpertEnergy, dict[str, Any]]:
    """A copy of ``energy`` without the experts whose strength is below ``rel_tol`` times the
    largest, and a record of what was done (``rel_tol``, ``kept``, ``of``, ``dropped``
    strengths relative to the largest). ``rel_tol`` = 0 keeps every expert."""
    check_prunable(energy, rel_tol)
    s = expert_strength(energy)
    rel = s / s.max()
    keep = rel >= rel_tol
    record = {"rel_tol": float(rel_tol), "kept": int(keep.sum()), "of": int(keep.numel()),
              "dropped": [round(float(r), 6) for r in rel[~keep]]}
    hp = energy.hparams()
    count = "n_components" if "n_components" in hp else "n_experts"
    hp[count] = int(keep.sum())
    pruned = type(energy)(**hp).to(energy.alpha_raw.dtype)      # before loading: keep the precision
    sd = dict(energy.state_dict())
    sd["alpha_raw"] = sd["alpha_raw"][keep]
    if energy.variant == "separable":
        sd["u"], sd["v"] = sd["u"][keep], sd["v"][keep]
    else:
        sd["weight"] = sd["weight"][:, keep]
    pruned.load_state_dict(sd)
    return pruned.train(energy.training), record
