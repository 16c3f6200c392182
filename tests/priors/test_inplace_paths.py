"""The in-place value+gradient paths (taken when autograd does not record, as in inversion and
denoising) give the same values as autograd through ``forward`` (float64), keep their input
intact, reuse their scratch memory safely across calls and shapes, and stay accurate in float32
far out in the experts' tails."""

import pytest
import torch
import torch.nn.functional as F

import preimage.priors.gmm as gmm_module
from preimage.priors.experts import shift_add
from preimage.priors.learned import patches_of

from learned_cases import LINEAR, autograd_value_and_grad as _autograd, make


@pytest.mark.parametrize("name", LINEAR)
def test_inplace_path_equals_autograd_across_shapes(name):
    energy = make(name)
    p = energy.patch_size
    for shape in [(2, energy.channels, 9, 11), (1, energy.channels, p, p), (2, energy.channels, 9, 11),
                  (3, energy.channels, p + 3, p + 1)]:                 # scratch reused, resized, reused
        z = 2.0 * torch.randn(*shape, dtype=torch.float64)
        before = z.clone()
        ref_v, ref_g = _autograd(energy, z)
        with torch.no_grad():
            v, g = energy.value_and_grad(z)
        torch.testing.assert_close(v, ref_v, rtol=1e-12, atol=1e-10)
        torch.testing.assert_close(g, ref_g, rtol=1e-10, atol=1e-10)
        assert torch.equal(z, before)                                   # the input is not touched


@pytest.mark.parametrize("name", ["foe-full-zca", "ica-logcosh", "ica-logistic-pca"])
def test_inplace_path_float32_matches_float64_in_the_tails(name):
    """Responses up to |y| ≈ 1e3 (ICA's e^{−2|y|} underflows, FoE's y² is large): the float32
    in-place path agrees with the float64 reference to float32 precision."""
    energy = make(name)
    z64 = 200.0 * torch.randn(2, energy.channels, 12, 10, dtype=torch.float64)
    ref_v, ref_g = _autograd(energy, z64)
    e32 = energy.float()
    with torch.no_grad():
        v, g = e32.value_and_grad(z64.float())
    assert float(energy.responses(z64.float())[0].abs().max()) > 100
    torch.testing.assert_close(v.double(), ref_v, rtol=2e-5, atol=1e-3)
    torch.testing.assert_close(g.double(), ref_g, rtol=2e-4, atol=2e-4 * float(ref_g.abs().max()))
    energy.double()


def test_parameter_gradients_still_flow_through_value_and_grad():
    """Score matching differentiates the closed-form gradient in the parameters: with autograd
    recording, ``value_and_grad`` stays on the differentiable path."""
    energy = make("foe-full-zca")
    z = torch.randn(2, energy.channels, 7, 7, dtype=torch.float64)
    _, g = energy.value_and_grad(z)
    assert g.requires_grad
    (da,) = torch.autograd.grad(g.pow(2).sum(), energy.alpha_raw)
    assert da.abs().sum() > 0


@pytest.mark.parametrize("name", ["gmm-grey", "gmm-rgb"])
def test_gmm_blocked_path_equals_autograd_over_block_boundaries(name, monkeypatch):
    energy = make(name)
    monkeypatch.setattr(gmm_module, "_CHUNK", 7)                       # many blocks, a ragged last one
    z = torch.randn(2, energy.channels, 9, 11, dtype=torch.float64)
    zz = z.clone().requires_grad_(True)
    x = patches_of(zz, energy.patch_size)
    lp, _ = energy.patch_log_prob((x - x.mean(2, keepdim=True)).reshape(-1, energy.dim))
    ref = -lp.reshape(2, -1).sum(1)
    (ref_g,) = torch.autograd.grad(ref.sum(), zz)
    with torch.no_grad():
        v, g = energy.value_and_grad(z)
        v_fwd = energy(z)
    torch.testing.assert_close(v, ref.detach(), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(v_fwd, ref.detach(), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(g, ref_g, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("c,p,hw", [(1, 3, (5, 8)), (3, 5, (4, 4)), (2, 1, (3, 2))])
def test_shift_add_is_col2im(c, p, hw):
    cols = torch.randn(2, c * p * p, hw[0] * hw[1], dtype=torch.float64)
    size = (hw[0] + p - 1, hw[1] + p - 1)
    torch.testing.assert_close(shift_add(cols, c, p, hw), F.fold(cols, size, p), rtol=0, atol=1e-12)


@pytest.mark.parametrize("stride,hw,out", [(2, (4, 3), None), (3, (2, 2), (7, 8))])
def test_strided_shift_add_is_strided_col2im(stride, hw, out):
    c, p = 2, 3
    cols = torch.randn(1, c * p * p, hw[0] * hw[1], dtype=torch.float64)
    size = out or ((hw[0] - 1) * stride + p, (hw[1] - 1) * stride + p)
    torch.testing.assert_close(shift_add(cols, c, p, hw, stride, out), F.fold(cols, size, p, stride=stride),
                               rtol=0, atol=1e-12)


def test_gmm_patch_stride_is_an_explicit_scaled_subset():
    """with_patch_stride(s): s² × the energy of the patches on the s-grid, closed-form gradient
    equal to autograd's; the original prior stays exact."""
    energy = make("gmm-grey")
    p = energy.patch_size
    z = torch.randn(2, 1, 10, 9, dtype=torch.float64)
    strided = energy.with_patch_stride(2)
    assert energy.patch_stride == 1 and strided.patch_stride == 2
    grid = z.unfold(2, p, 2).unfold(3, p, 2)                           # (B, 1, 4, 4, p, p): the grid patches
    v = grid.permute(0, 2, 3, 1, 4, 5).reshape(-1, energy.dim)
    lp, _ = energy.patch_log_prob(v - v.mean(1, keepdim=True))
    torch.testing.assert_close(strided(z), -4 * lp.reshape(2, -1).sum(1), rtol=1e-12, atol=1e-9)
    _, ref_g = _autograd(strided, z)
    with torch.no_grad():
        val, g = strided.value_and_grad(z)
    torch.testing.assert_close(val, strided(z), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(g, ref_g, rtol=1e-10, atol=1e-9)
    assert g[:, :, 9:].abs().max() == 0                                  # row 9 lies past the last grid patch
    torch.testing.assert_close(energy.value_and_grad(z)[0], energy(z))  # the original is untouched
