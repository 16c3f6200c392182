"""The one-pass optimiser updates (inversion/_kernels.c) equal the eager updates of the
reference formulas, step for step, across learning-rate changes (momentum resets)."""

import pytest
import torch

from preimage.inversion import AdagradMomentum, MomentumSchedule
from preimage.inversion import fused


def _run(make, dtype, eager: bool, monkeypatch, shape=(2, 3, 9, 11)) -> tuple[torch.Tensor, torch.Tensor]:
    monkeypatch.setenv("PREIMAGE_EAGER", "1" if eager else "0")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    opt = make()
    opt.reset(x)
    for t in range(len(opt.lrs)):
        grad = (x * 0.3 + torch.randn(x.shape, generator=g, dtype=torch.float64).to(dtype)).contiguous()
        opt.step(x, grad, t)
    return x, opt.velocity


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("make", [lambda: MomentumSchedule([0.1] * 4 + [0.01] * 4, momentum=0.9, scale=3.0),
                                  lambda: AdagradMomentum([0.5] * 4 + [0.05] * 4, momentum=0.9, scale=2.0)],
                         ids=["momentum", "adagrad_momentum"])
@pytest.mark.parametrize("shape", [(2, 3, 9, 11), (2, 3, 211, 213)], ids=["small", "large"])
def test_one_pass_update_equals_eager(make, dtype, shape, monkeypatch):
    assert fused.available(), "inversion/_kernels.c was not compiled: pip install -e ."
    x_eager, v_eager = _run(make, dtype, True, monkeypatch, shape)
    x_one, v_one = _run(make, dtype, False, monkeypatch, shape)
    tol = {} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(x_one, x_eager, **tol)
    torch.testing.assert_close(v_one, v_eager, **tol)


def test_one_pass_declines_aliased_or_strided_arrays():
    x = torch.randn(2, 3, 4, 4)
    before = x.clone()
    assert not fused.momentum(x, x, torch.ones_like(x), 0.9, 1.0)
    assert not fused.momentum(x, torch.zeros_like(x), torch.ones(2, 3, 4, 4).transpose(2, 3), 0.9, 1.0)
    assert not fused.momentum(x, torch.zeros_like(x).double(), torch.ones_like(x), 0.9, 1.0)
    assert not fused.adagrad_momentum(x, torch.zeros_like(x), torch.zeros(2, 3, 4, 5), torch.ones_like(x), 0.9, 1.0)
    assert torch.equal(x, before)
    assert fused.momentum(x, torch.zeros_like(x), torch.ones_like(x), 0.9, 1.0) and torch.equal(x, before + 1.0)
