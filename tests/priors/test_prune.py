"""Pruning collapsed experts (:mod:`preimage.priors.prune`): the pruned energy is exactly the
sum of the kept experts' terms, the strength is the response variance on whitened training
patches, and on the shipped grey FoE (15 of 24 experts collapsed) pruning at 1e-3 changes
energy and gradient on held-out natural photos by less than 1e-6 (relative)."""

import pytest
import torch

from preimage.priors import load_prior
from preimage.priors.prune import expert_strength, prune_experts
from preimage.representations import load_image
from preimage.representations.errors import PreimageError

from learned_cases import autograd_value_and_grad, correlated_patches, make


def _weaken(energy, idx, factor):
    with torch.no_grad():
        if energy.variant == "separable":
            energy.u[idx] *= factor
        else:
            energy.weight[:, idx] *= factor
    return energy


@pytest.mark.parametrize("name", ["foe-free-norm", "foe-full-pca", "ica-logcosh", "foe-separable"])
def test_pruned_energy_is_the_sum_over_kept_experts(name):
    energy = make(name)
    if energy.normalise:                       # unit-norm filters: a weak expert has a small α
        with torch.no_grad():
            energy.alpha_raw[[0, 2]] = -30.0
    else:
        _weaken(energy, [0, 2], 1e-4)
    pruned, rec = prune_experts(energy, 1e-3)
    keep = [i for i in range(energy.n_filters) if i not in (0, 2)]
    assert (rec["kept"], rec["of"]) == (energy.n_filters - 2, energy.n_filters)
    z = torch.randn(2, energy.channels, 8, 9, dtype=torch.float64)

    def kept_terms(zz):                        # Σ over the kept experts of α_i Σ_patches ρ(y_i)
        y = energy.responses(zz)[0][:, keep]
        return (energy.alpha[keep][None, :, None, None] * energy.potential(y, 0)).sum((1, 2, 3))

    torch.testing.assert_close(pruned(z), kept_terms(z), rtol=1e-12, atol=1e-12)
    _, ref = autograd_value_and_grad(kept_terms, z)
    with torch.no_grad():
        v, g = pruned.value_and_grad(z)
    torch.testing.assert_close(v, kept_terms(z), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, ref, rtol=1e-10, atol=1e-10)


def test_tolerance_zero_keeps_everything_and_strength_is_response_variance():
    energy = make("foe-free-norm")
    pruned, rec = prune_experts(energy, 0.0)
    assert rec["kept"] == rec["of"] == energy.n_filters and rec["dropped"] == []
    z = torch.randn(3, 1, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(pruned(z), energy(z), rtol=0, atol=0)
    # s_i = α_i E[y_i²] on the patches the whitening was fitted on (identity covariance there)
    x = correlated_patches(400, energy.channels, energy.patch_size)
    y, _ = energy.responses(x - x.mean((1, 2, 3), keepdim=True))   # the whitening drops the DC
    emp = energy.alpha * (y.flatten(1) - y.flatten(1).mean(0)).pow(2).sum(0) / (len(x) - 1)
    torch.testing.assert_close(expert_strength(energy).double(), emp, rtol=1e-6, atol=1e-12)


def test_a_filter_in_the_dropped_dc_direction_has_zero_strength():
    energy = make("foe-free-norm")
    with torch.no_grad():
        energy.weight[0, 1] = energy.dim ** -0.5           # the all-ones (DC) direction, unit norm
    assert float(expert_strength(energy)[1]) < 1e-12 * float(expert_strength(energy).max())


def test_shipped_grey_foe_prunes_without_changing_energy_or_gradient_on_natural_photos():
    energy = load_prior("foe-grey").energy.double()
    pruned, rec = prune_experts(energy, 1e-3)
    assert rec["kept"] < rec["of"] and max(rec["dropped"]) < 1e-3
    x = torch.cat([load_image(n)[None].mean(1, keepdim=True)[..., 100:196, 100:196] for n in ("coffee", "china")]).double()
    with torch.no_grad():
        e, g = energy.value_and_grad(x)
        ep, gp = pruned.value_and_grad(x)
    assert float(((ep - e).abs() / e.abs()).max()) < 1e-6
    assert float(((gp - g).flatten(1).norm(dim=1) / g.flatten(1).norm(dim=1)).max()) < 1e-6


def test_bad_prune_requests_are_one_clear_error():
    with pytest.raises(PreimageError, match="channel-wise"):
        prune_experts(make("foe-channelwise"), 1e-3)
    with pytest.raises(PreimageError, match="outside"):
        prune_experts(make("foe-free-norm"), 1.5)
    with pytest.raises(PreimageError, match="only field-of-experts"):
        prune_experts(make("gmm-grey"), 1e-3)
