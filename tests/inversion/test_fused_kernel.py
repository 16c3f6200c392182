"""The one-pass C kernels (inversion/_kernels.c) equal the definitions: TV² and α⁶ values and
gradients against autograd in float64 and the eager in-place path in float32, every border
case; the feature residual and its norm; and they decline (return None) where they do not
apply."""

import pytest
import torch

from preimage.inversion import fused
from preimage.priors import AlphaNormPrior, TVPrior
from preimage.priors.alpha import alpha_norm
from preimage.priors.tv import tv_beta

SHAPES = [(2, 3, 7, 5), (1, 1, 1, 4), (3, 2, 5, 1), (1, 1, 1, 1), (2, 3, 2, 2), (1, 2, 3, 17)]


def test_the_kernel_is_built():
    assert fused.available(), "inversion/_kernels.c was not compiled: reinstall with a C compiler (pip install -e .)"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [None, 0.25, "per-item"])
@pytest.mark.parametrize("which", ["both", "tv", "alpha"])
def test_equals_autograd_float64(shape, scale, which):
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    out0 = torch.randn(shape, generator=g, dtype=torch.float64)
    s = torch.rand(shape[0], generator=g, dtype=torch.float64) + 0.5 if scale == "per-item" else scale
    c_tv = 0.7 if which in ("both", "tv") else None
    c_a = 1e-2 if which in ("both", "alpha") else None
    xr = x.clone().requires_grad_(True)
    energy = (c_tv or 0) * tv_beta(xr) + (c_a or 0) * alpha_norm(xr)
    (want,) = torch.autograd.grad(energy.sum(), xr)
    factor = 1.0 if s is None else (s.reshape(-1, 1, 1, 1) if isinstance(s, torch.Tensor) else s)
    want = want + factor * out0
    out = out0.clone()
    tv, al = fused.tv2_alpha6(x, out, c_tv, c_a, s)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    if c_tv is not None:
        torch.testing.assert_close(tv, tv_beta(x), rtol=1e-12, atol=1e-12)
    else:
        assert tv is None
    if c_a is not None:
        torch.testing.assert_close(al, alpha_norm(x), rtol=1e-12, atol=1e-12)
    else:
        assert al is None


def test_equals_the_eager_path_float32():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 61, 67, generator=g) * 40  # the scale of a 0–255 image, x0_sigma ≈ 40
    out0 = torch.randn(4, 3, 61, 67, generator=g) * 1e3
    s = torch.rand(4, generator=g) + 0.5
    eager = out0 * s.reshape(-1, 1, 1, 1)
    v_tv = TVPrior(2.0).accumulate_grad(x, eager, 0.3)
    v_a = AlphaNormPrior(6.0).accumulate_grad(x, eager, 1e-8)
    out = out0.clone()
    tv, al = fused.tv2_alpha6(x, out, 0.3, 1e-8, s)
    torch.testing.assert_close(out, eager, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(tv, v_tv, rtol=1e-5, atol=0)
    torch.testing.assert_close(al, v_a, rtol=1e-5, atol=0)


def test_declines_where_it_does_not_apply(monkeypatch):
    x = torch.randn(2, 3, 8, 8)
    out = torch.zeros_like(x)
    assert fused.tv2_alpha6(x.transpose(2, 3), out, 1.0, None) is None  # not contiguous
    assert fused.tv2_alpha6(x, x, 1.0, None) is None  # aliased
    assert fused.tv2_alpha6(x.double(), out, 1.0, None) is None  # mixed dtypes
    assert fused.tv2_alpha6(x.half(), out.half(), 1.0, None) is None
    assert fused.tv2_alpha6(x[0], out[0], 1.0, None) is None  # not (B, C, H, W)
    assert fused.tv2_alpha6(x, out, None, None) is None
    assert fused.tv2_alpha6(x, out, 1.0, None, torch.ones(3)) is None  # scale of another batch
    assert out.abs().max() == 0
    monkeypatch.setenv("PREIMAGE_EAGER", "1")
    assert not fused.available() and fused.tv2_alpha6(x, out, 1.0, None) is None


def test_kind_names_only_what_the_kernel_computes():
    assert fused.kind(TVPrior(2.0)) == "tv" and fused.kind(TVPrior(2.0, coupled=True)) == "tv"
    assert fused.kind(TVPrior(1.0)) is None
    assert fused.kind(AlphaNormPrior(6.0)) == "alpha"
    assert fused.kind(AlphaNormPrior(6.0, coupled=True)) is None and fused.kind(AlphaNormPrior(2.0)) is None


@pytest.mark.parametrize("target_batch", [1, 4])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_residual_and_its_norm(target_batch, dtype):
    g = torch.Generator().manual_seed(target_batch)
    phi = torch.randn(4, 16, 91, 93, generator=g, dtype=torch.float64).to(dtype)
    phi0 = torch.randn(target_batch, 16, 91, 93, generator=g, dtype=torch.float64).to(dtype)
    r, sq = fused.residual(phi, phi0, any_threads=True)
    want = phi - phi0
    assert torch.equal(r, want)
    tol = {} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 0}
    torch.testing.assert_close(sq, want.double().flatten(1).pow(2).sum(1).to(dtype), **tol)
    assert fused.residual(phi, phi0[:, :8], True) is None and fused.residual(phi, phi0.transpose(2, 3), True) is None
    assert fused.residual(phi[:2], torch.randn(3, 16, 91, 93, dtype=dtype), True) is None
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert fused.residual(phi, phi0) is None  # torch's own two passes on two threads are faster
        torch.set_num_threads(1)
        assert fused.residual(phi, phi0) is not None
    finally:
        torch.set_num_threads(before)
