"""The engine's fast paths equal autograd: feature terms' gradients seeded into Φ's
backward, closed forms accumulated in place, and the blocked divergence check used on
accelerators reports the same step and term as the per-step one."""

import pytest
import torch

from preimage.inversion import (ActivationMax, Caricature, DivergenceError, FeatureMatch, MomentumSchedule, Objective,
                                PriorTerm, feature_mask, invert, random_init)
from preimage.inversion import engine as engine_module
from preimage.priors import AlphaNormPrior, TVPrior


def _objective(rep, phi0, mask=None):
    return Objective(rep, {
        "match": (0.7, FeatureMatch("conv1", phi0, mask)),
        "caricature": (0.2, Caricature("conv1", phi0)),
        "activation": (0.1, ActivationMax("conv1", torch.rand(1, *phi0.shape[1:], dtype=phi0.dtype))),
        "tv@conv1": (1e-3, PriorTerm(TVPrior(2.0), layer="conv1", scale=1e-4)),
        "tv": (0.5, PriorTerm(TVPrior(2.0), scale=1e-3)),
        "tv1": (0.5, PriorTerm(TVPrior(1.0, coupled=True), scale=1e-3)),
        "alpha": (1e-3, PriorTerm(AlphaNormPrior(6.0), scale=1e-6)),
    })


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("target_batch", [1, 2])
def test_energy_and_grad_equals_autograd(masked, target_batch):
    from preimage.representations import build_representation

    rep = build_representation("squeezenet", taps=["conv1"]).double()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 33, 35, generator=g, dtype=torch.float64) * 20
    phi0 = rep(torch.randn(target_batch, 3, 33, 35, generator=g, dtype=torch.float64) * 20)["conv1"]
    mask = feature_mask(phi0.shape, neigh=5, filter_group=1).double() if masked else None
    obj = _objective(rep, phi0, mask)
    for shift in [(0, 0), (1, -2)]:
        ev = obj.energy_and_grad(x, shift)
        xr = x.clone().requires_grad_(True)
        auto = obj(xr, shift)
        (want,) = torch.autograd.grad(auto.total.sum(), xr)
        torch.testing.assert_close(ev.grad, want)
        for n in obj.terms:
            torch.testing.assert_close(ev.values[n], auto.values[n].detach())
    # one image against the targets of every item: Φ(x) is broadcast, its gradient summed back
    obj = Objective(rep, {"match": (0.7, FeatureMatch("conv1", phi0, mask)), "caricature": (0.2, Caricature("conv1", phi0))})
    one = obj.energy_and_grad(x[:1])
    xr = x[:1].clone().requires_grad_(True)
    (want,) = torch.autograd.grad(obj(xr).total.sum(), xr)
    assert one.grad.shape == (1, 3, 33, 35) and one.total.shape == (target_batch,)
    torch.testing.assert_close(one.grad, want)


def test_blocked_divergence_check_reports_the_first_bad_step(monkeypatch, squeeze_conv1, chelsea64):
    from test_engine import mv_objective

    obj, xs, _ = mv_objective(squeeze_conv1, chelsea64)
    init = random_init((1, 3, 64, 64), xs, seed=0)
    with pytest.raises(DivergenceError) as every_step:
        invert(obj, init, MomentumSchedule([1e3] * 60, scale=xs**2))
    monkeypatch.setattr(engine_module, "check_every", lambda device: 7)
    with pytest.raises(DivergenceError) as blocked:
        invert(obj, init, MomentumSchedule([1e3] * 60, scale=xs**2))
    assert str(blocked.value) == str(every_step.value)
    assert (blocked.value.step, blocked.value.term) == (every_step.value.step, every_step.value.term)


@pytest.mark.parametrize("masked", [None, "binary", "soft"])
def test_single_feature_match_defers_its_scale_to_the_image(masked):
    """With one feature term the per-item factor 2w/σ² is applied after Φ's backward."""
    from preimage.representations import build_representation

    rep = build_representation("squeezenet", taps=["conv1"]).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 31, 29, generator=g, dtype=torch.float64) * 20
    phi0 = rep(torch.randn(3, 3, 31, 29, generator=g, dtype=torch.float64) * 20)["conv1"]
    mask = {None: None, "binary": feature_mask(phi0.shape, neigh=3).double(),
            "soft": torch.rand(1, *phi0.shape[1:], generator=g, dtype=torch.float64)}[masked]
    obj = Objective(rep, {"match": (0.3, FeatureMatch("conv1", phi0, mask)),
                          "tv": (0.5, PriorTerm(TVPrior(2.0), scale=1e-3))})
    ev = obj.energy_and_grad(x, (2, 1))
    xr = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(obj(xr, (2, 1)).total.sum(), xr)
    torch.testing.assert_close(ev.grad, want)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_one_pass_kernel_equals_the_eager_path_in_the_objective(monkeypatch, dtype):
    """The CVPR'15 objective (feature match + TV² + α⁶): Φ's deferred per-item factor and both
    closed forms in the compiled kernel give the eager path's values and gradient."""
    from preimage.inversion import fused
    from preimage.representations import build_representation

    assert fused.available()
    rep = build_representation("squeezenet", taps=["conv1"]).to(dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 33, 35, generator=g, dtype=torch.float64).to(dtype) * 20
    phi0 = rep(torch.randn(3, 3, 33, 35, generator=g, dtype=torch.float64).to(dtype) * 20)["conv1"]
    obj = Objective(rep, {"match": (0.7, FeatureMatch("conv1", phi0)),
                          "tv": (0.5, PriorTerm(TVPrior(2.0), scale=1e-3)),
                          "alpha": (1e-3, PriorTerm(AlphaNormPrior(6.0), scale=1e-6))})
    one = obj.energy_and_grad(x)
    monkeypatch.setenv("PREIMAGE_EAGER", "1")
    eager = obj.energy_and_grad(x)
    tol = {} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6 * float(eager.grad.abs().max())}
    torch.testing.assert_close(one.grad, eager.grad, **tol)
    for n in obj.terms:
        torch.testing.assert_close(one.values[n], eager.values[n], **({} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 0}))
    if dtype == torch.float64:
        xr = x.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(obj(xr).total.sum(), xr)
        torch.testing.assert_close(one.grad, want)
