"""Learned patch energies: closed-form gradients and second derivatives equal autograd's
(float64), a whole map scores as the sum of its patches, whitening drops DC and null directions."""

import pytest
import torch

from preimage.priors import FieldOfExperts, PatchEnergy
from preimage.priors.learned import patches_of
from preimage.priors.whitening import Whitening
from preimage.representations.errors import PreimageError

from learned_cases import ALL, LINEAR, correlated_patches, make


@pytest.fixture(scope="module", params=ALL)
def energy(request):
    return make(request.param)


@pytest.mark.parametrize("hw", [None, (9, 11)])  # one patch; a map
def test_value_and_grad_equals_autograd(energy, hw):
    p = energy.patch_size
    z = torch.randn(3, energy.channels, *(hw or (p, p)), dtype=torch.float64, requires_grad=True)
    e = energy(z)
    assert e.shape == (3,)
    (g,) = torch.autograd.grad(e.sum(), z)
    v, gc = energy.value_and_grad(z.detach())
    torch.testing.assert_close(v, e.detach(), rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(gc, g, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(energy.score(z.detach()), -g, rtol=1e-10, atol=1e-10)


def test_whole_map_is_sum_of_its_patches(energy):
    z = torch.randn(2, energy.channels, 8, 7, dtype=torch.float64)
    p = energy.patch_size
    patches = patches_of(z, p).reshape(-1, energy.channels, p, p)       # every patch, one by one
    per_patch = torch.stack([energy(q[None])[0] for q in patches]).reshape(2, -1).sum(1)
    torch.testing.assert_close(energy(z), per_patch, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("name", LINEAR)
def test_laplacian_and_hessian_diagonal_equal_autograd(name):
    energy = make(name)
    z = torch.randn(1, energy.channels, energy.patch_size + 1, energy.patch_size + 1, dtype=torch.float64,
                    requires_grad=True)
    (g,) = torch.autograd.grad(energy(z).sum(), z, create_graph=True)
    flat = g.flatten(1)
    d = flat.shape[1]
    eye = torch.eye(d, dtype=z.dtype)[:, None, :].expand(d, *flat.shape)   # Hessian rows, batched
    (h,) = torch.autograd.grad(flat, z, grad_outputs=eye, is_grads_batched=True)
    diag = torch.einsum("dbd->bd", h.flatten(2))
    torch.testing.assert_close(energy.hessian_diagonal(z.detach()).flatten(1), diag, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(energy.laplacian(z.detach()), diag.sum(1), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", LINEAR)
def test_filters_unit_norm_in_whitened_space_and_hparams_rebuild(name):
    energy = make(name)
    w = energy.whitened_filters()
    if energy.normalise:
        torch.testing.assert_close(w.norm(dim=-1), torch.ones(w.shape[:2], dtype=w.dtype))
    if energy.variant == "separable":  # rank-one (channel × space) filters
        sv = torch.linalg.svdvals(w[0].reshape(energy.n_experts, energy.channels, -1))
        assert (sv[:, 1:] < 1e-12).all()
    rebuilt = type(energy)(**energy.hparams()).double()
    rebuilt.load_state_dict(energy.state_dict())
    z = torch.randn(2, energy.channels, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(rebuilt(z), energy(z))


def test_patch_energy_is_abstract_and_inputs_are_checked():
    with pytest.raises(TypeError):
        PatchEnergy(1, 3)
    e = make("foe-full-zca")
    with pytest.raises(PreimageError, match="smaller than"):
        e(torch.zeros(1, 3, 2, 8, dtype=torch.float64))
    with pytest.raises(PreimageError, match="channel"):
        e(torch.zeros(1, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(PreimageError, match="variant"):
        FieldOfExperts(1, 3, 4, variant="diagonal")


@pytest.mark.parametrize("mode", ["pca", "zca"])
def test_whitening_drops_dc_and_null_directions(mode):
    # 4-channel 3×3 "feature map" patches whose channel 3 = channel 0 + channel 1 at each of the
    # 9 pixels (like the duplicate channels of conv1), plus a per-patch DC offset: after DC removal
    # 8 of those relations stay null (the ones orthogonal to the DC direction), 36 − 8 − 1 = 27 kept.
    x = correlated_patches(3000, 4, 3)
    x[:, 3] = x[:, 0] + x[:, 1]
    wh = Whitening(36, 1, mode).double()
    wh.fit(x.reshape(-1, 1, 36))
    assert wh.n_kept.item() == 36 - 8 - 1
    ones = torch.ones(36, dtype=torch.float64)
    null = torch.zeros(4, 3, 3, dtype=torch.float64)
    null[[0, 1], 0, 0], null[3, 0, 0] = 1.0, -1.0                      # (c0 + c1 − c3) at pixel (0, 0)
    null[[0, 1], 2, 1], null[3, 2, 1] = -1.0, 1.0                      # minus the same at pixel (2, 1)
    null = null.flatten()
    mat = wh.matrix[0]
    assert (mat @ ones).abs().max() < 1e-9 and (mat @ null).abs().max() < 1e-8
    xt = wh(x.reshape(-1, 1, 36))[:, 0]
    cov = torch.cov(xt.T)
    # whitened covariance: identity on the kept directions, zero elsewhere (a projector of rank 27)
    torch.testing.assert_close(cov @ cov, cov, atol=1e-8, rtol=0)
    assert abs(torch.trace(cov).item() - 27) < 1e-8
    if mode == "pca":  # eigenvalues ascending: the 9 dropped directions are the first (zero) rows
        torch.testing.assert_close(torch.diagonal(cov), (torch.arange(36) >= 9).double(), atol=1e-8, rtol=0)
    else:  # ZCA is symmetric: the whitened patch stays in pixel layout
        torch.testing.assert_close(mat, mat.T)
