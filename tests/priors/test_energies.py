"""Handcrafted energies: closed-form gradients equal autograd's (float64), values match
the reference definitions (deep-goggle ``tv()``, ``sum(x.^beta)``)."""

import pytest
import torch

from preimage.priors import AlphaNormPrior, TVPrior, alpha_norm, tv_beta

ENERGIES = [TVPrior(1.0), TVPrior(2.0), TVPrior(6.0), TVPrior(1.0, coupled=True), TVPrior(2.0, coupled=True),
            AlphaNormPrior(6.0), AlphaNormPrior(3.0), AlphaNormPrior(6.0, coupled=True), AlphaNormPrior(2.0)]


@pytest.mark.parametrize("energy", ENERGIES, ids=repr)
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 16, 5, 4)])  # an image and a feature map
def test_closed_form_gradient_equals_autograd(energy, shape):
    z = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    e = energy(z)
    assert e.shape == (shape[0],)
    (g,) = torch.autograd.grad(e.sum(), z)
    torch.testing.assert_close(energy.grad(z.detach()), g, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("energy", ENERGIES[:5], ids=repr)
def test_gradcheck(energy):
    z = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: energy(t), (z,))


def _tv_reference(x, beta):
    """deep-goggle invert_nn.m tv(): d1 = x(:,[2:end end]) − x, d2 = x([2:end end],:) − x."""
    d1 = torch.cat([x[..., :, 1:], x[..., :, -1:]], -1) - x
    d2 = torch.cat([x[..., 1:, :], x[..., -1:, :]], -2) - x
    return (d1 * d1 + d2 * d2).sqrt().pow(beta).flatten(1).sum(1)


@pytest.mark.parametrize("beta", [1.0, 2.0, 6.0])
def test_tv_matches_reference_code(beta):
    x = torch.randn(3, 3, 6, 8, dtype=torch.float64)
    torch.testing.assert_close(tv_beta(x, beta), _tv_reference(x, beta))


def test_tv_is_zero_on_constants_and_per_item():
    x = torch.ones(2, 3, 5, 5, dtype=torch.float64)
    x[1, :, 2, 2] = 2.0  # one bump: 4 unit differences touch it, in each of 3 channels
    torch.testing.assert_close(tv_beta(x, 2.0), torch.tensor([0.0, 12.0], dtype=torch.float64))
    # coupled: squared differences summed over channels first: for β = 1 the bump pixel gives √6 and its two neighbours √3 each
    torch.testing.assert_close(tv_beta(x, 1.0, coupled=True)[1], torch.tensor(6 ** 0.5 + 2 * 3 ** 0.5, dtype=torch.float64))


def test_alpha_norm_is_sum_of_powers():
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(alpha_norm(x, 6.0), x.pow(6).flatten(1).sum(1))
    torch.testing.assert_close(alpha_norm(x, 2.0, coupled=True), x.pow(2).flatten(1).sum(1))


@pytest.mark.parametrize("energy", ENERGIES, ids=repr)
def test_fused_value_and_grad(energy):
    z = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    v, g = energy.value_and_grad(z)
    torch.testing.assert_close(v, energy(z))
    torch.testing.assert_close(g, energy.grad(z))


@pytest.mark.parametrize("energy", ENERGIES, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_accumulate_grad_adds_the_closed_form_in_place(energy, dtype):
    """The engine's path: ``out += a·∂E/∂z`` in place (buffers reused across calls) and E(z)."""
    for shape in [(2, 3, 6, 7), (2, 3, 6, 7), (1, 3, 5, 9)]:  # a repeat reuses the buffers
        z = torch.randn(shape, dtype=torch.float64) * 3
        start = torch.randn(shape, dtype=torch.float64)
        out = start.clone().to(dtype)
        v = energy.accumulate_grad(z.to(dtype), out, 0.7)
        tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-3)
        torch.testing.assert_close(v.double(), energy(z), **tol)
        torch.testing.assert_close(out.double(), start + 0.7 * energy.grad(z), **tol)
