"""The one-pass optimiser updates (inversion/_updates.c) equal the eager updates of the
reference formulas, step for step, across learning-rate changes (momentum resets)."""

import pytest
import torch

from preimage.inversion import AdagradMomentum, MomentumSchedule
from preimage.inversion import optimisers as optimisers_module


def _run(make, dtype, eager: bool, monkeypatch) -> tuple[torch.Tensor, torch.Tensor]:
    monkeypatch.setenv("PREIMAGE_EAGER", "1" if eager else "0")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 11, generator=g, dtype=torch.float64).to(dtype)
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
def test_one_pass_update_equals_eager(make, dtype, monkeypatch):
    assert optimisers_module._updates is not None, "inversion/_updates.c was not compiled: pip install -e ."
    x_eager, v_eager = _run(make, dtype, True, monkeypatch)
    x_one, v_one = _run(make, dtype, False, monkeypatch)
    tol = {} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(x_one, x_eager, **tol)
    torch.testing.assert_close(v_one, v_eager, **tol)


def test_one_pass_declines_aliased_or_strided_arrays():
    x = torch.randn(2, 3, 4, 4)
    assert optimisers_module._one_pass(x, torch.zeros_like(x), torch.ones_like(x))
    assert not optimisers_module._one_pass(x, x, torch.ones_like(x))
    assert not optimisers_module._one_pass(x, torch.zeros_like(x), torch.ones(2, 3, 4, 4).transpose(2, 3))
    assert not optimisers_module._one_pass(x, torch.zeros_like(x).double(), torch.ones_like(x))
