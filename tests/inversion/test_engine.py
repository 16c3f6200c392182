"""The engine: objectives decrease with every optimiser on a real image, the momentum
is reset at learning-rate changes, masks cut features out, divergence is reported,
and conv1 of SqueezeNet is inverted to < 10 % relative error."""

import math

import pytest
import torch

from preimage.inversion import (X0_SIGMA, Adam, Box, DivergenceError, FeatureMatch, Jitter, LBFGS, MomentumSchedule,
                       Objective, PriorTerm, expand_schedule, feature_mask, invert, random_init)
from preimage.priors import AlphaNormPrior, TVPrior


def mv_objective(rep, img, layer="conv1", repeats=1, lambda_tv=0.5, mask=None):
    """CVPR'15 energy: loss/y0_sigma² + (λ_TV/2)·TV²/x0_sigma² + (λ_α/2)·N₆/x0_sigma²,
    x0_sigma scaled to the image's size (the paper's is for 227×227×3)."""
    x0 = rep.convention.preprocess(img)
    phi0 = rep(x0)[layer].repeat_interleave(repeats, 0)
    xs = X0_SIGMA * rep.convention.units_per_255 * (x0[0].numel() / (3 * 227 * 227)) ** 0.5
    obj = Objective(rep, {
        "match": (1.0, FeatureMatch(layer, phi0, mask)),
        "tv": (lambda_tv, PriorTerm(TVPrior(2.0), scale=1 / xs**2)),
        "alpha": (4e-10, PriorTerm(AlphaNormPrior(6.0), scale=1 / xs**2)),
    })
    return obj, xs, x0


@pytest.mark.parametrize("name", ["momentum", "adam", "lbfgs"])
def test_objective_decreases_for_each_optimiser(name, squeeze_conv1, chelsea64):
    obj, xs, _ = mv_objective(squeeze_conv1, chelsea64, repeats=2)
    init = random_init((2, 3, 64, 64), xs, seed=1)
    opt = {"momentum": lambda: MomentumSchedule(expand_schedule(0.004, [[1, 15], [0.1, 10]]), scale=xs**2),
           "adam": lambda: Adam([2.0] * 25),
           "lbfgs": lambda: LBFGS([1.0] * 10, scale=xs**2)}[name]()
    res = invert(obj, init, opt)
    total = res.history["total"]
    assert res.images.shape == init.shape and total.shape == (len(opt.lrs), 2)
    assert (res.metrics["total"] < 0.5 * total[0]).all(), (name, total[0], res.metrics["total"])
    assert (res.metrics["total"] <= total[-1] + 1e-6).all()


def test_closed_form_path_equals_autograd(chelsea64):
    from preimage.representations import build_representation

    rep = build_representation("squeezenet", taps=["conv1"])  # own copy: .double() converts in place
    obj, xs, x0 = mv_objective(rep, chelsea64)
    obj = obj.double()
    x = (x0 + 20 * torch.randn_like(x0)).double()
    ev = obj.energy_and_grad(x)
    xr = x.clone().requires_grad_(True)
    auto = obj(xr)
    (g,) = torch.autograd.grad(auto.total.sum(), xr)
    torch.testing.assert_close(ev.grad, g)
    for n in ev.values:
        torch.testing.assert_close(ev.values[n], auto.values[n].detach())


def test_momentum_reset_at_lr_changes():
    lrs = expand_schedule(0.5, [[1, 3], [0.1, 2], [0.01, 2]])
    opt = MomentumSchedule(lrs, momentum=0.9, scale=2.0)
    x = torch.zeros(1, 1, 1, 1, dtype=torch.float64)
    g = torch.ones_like(x)
    opt.reset(x)
    steps = []
    for t in range(len(lrs)):
        before = x.clone()
        opt.step(x, g, t)
        steps.append(float(x - before))
    assert opt.resets == [0, 3, 5]
    # at a change the step is −lr·scale·g exactly (no momentum carried over) ...
    for t in opt.resets:
        assert steps[t] == pytest.approx(-lrs[t] * 2.0)
    # ... elsewhere the momentum accumulates: m_t = 0.9 m_{t−1} − lr·scale·g
    assert steps[1] == pytest.approx(0.9 * steps[0] - 1.0)
    assert steps[4] == pytest.approx(0.9 * steps[3] - 0.1)


def test_mask_geometry_matches_reference():
    m = feature_mask((8, 7, 6), neigh=3, filter_group=2)
    # MATLAB: sx = (0:n−1) + ceil((W−n+1)/2) (1-based) → rows 2..4 (0-based 1..3) of 7, cols 2..4 of 6 → 1..3
    idx = m[0].nonzero()
    assert set(idx[:, 0].tolist()) == set(range(4, 8))
    assert set(idx[:, 1].tolist()) == {2, 3, 4} and set(idx[:, 2].tolist()) == {1, 2, 3}
    assert feature_mask((4, 5, 5)).sum() == 100


def test_masked_out_features_have_no_influence(squeeze_conv1, chelsea64):
    x0 = squeeze_conv1.convention.preprocess(chelsea64)
    phi0 = squeeze_conv1(x0)["conv1"]
    mask = feature_mask(phi0.shape, neigh=5, filter_group=1)
    fm = FeatureMatch("conv1", phi0, mask)
    phi = (phi0 + torch.randn_like(phi0)).requires_grad_(True)
    (g,) = torch.autograd.grad(fm(x0, {"conv1": phi}).sum(), phi)
    assert (g[mask.expand_as(g) == 0] == 0).all() and (g[mask.expand_as(g) == 1] != 0).any()
    # and Φ₀ outside the mask does not enter the energy nor its normaliser
    other = FeatureMatch("conv1", torch.where(mask.bool(), phi0, phi0 + 5.0), mask)
    torch.testing.assert_close(other(x0, {"conv1": phi}), fm(x0, {"conv1": phi}))


def test_divergence_is_reported_with_step_and_term(squeeze_conv1, chelsea64):
    obj, xs, _ = mv_objective(squeeze_conv1, chelsea64)
    init = random_init((1, 3, 64, 64), xs, seed=0)
    with pytest.raises(DivergenceError, match=r"diverged at step \d+: term '(alpha|match|tv)'") as e:
        invert(obj, init, MomentumSchedule([1e3] * 50, scale=xs**2))
    assert e.value.step < 50


def test_box_and_jitter(squeeze_conv1, chelsea64):
    obj, xs, _ = mv_objective(squeeze_conv1, chelsea64)
    init = random_init((1, 3, 64, 64), xs, seed=0)
    gen = torch.Generator().manual_seed(0)
    res = invert(obj, init, MomentumSchedule([0.004] * 6, scale=xs**2), jitter=Jitter(2, 4, gen), box=Box(-50, 50))
    assert res.images.abs().max() <= 50


def test_conv1_squeezenet_relative_error_below_10_percent(squeeze_conv1, chelsea96):
    obj, xs, _ = mv_objective(squeeze_conv1, chelsea96)
    init = random_init((1, 3, 96, 96), xs, seed=0)
    res = invert(obj, init, MomentumSchedule(expand_schedule(0.004, [[1, 60], [0.1, 60]]), scale=xs**2))
    assert float(res.metrics["relative_error@match"]) < 0.10


@pytest.mark.slow
def test_conv1_squeezenet_full_schedule_227(squeeze_conv1):
    from preimage.representations import load_image, resize_crop

    img = resize_crop(load_image("chelsea"), 227)[None]
    obj, xs, _ = mv_objective(squeeze_conv1, img, repeats=2)
    init = random_init((2, 3, 227, 227), xs, seed=0)
    res = invert(obj, init, MomentumSchedule(expand_schedule(0.004, [[1, 100], [0.1, 200], [0.01, 100]]), scale=xs**2))
    assert (res.metrics["relative_error@match"] < 0.10).all()
