"""Score priors in the engine: a ScoreTerm adds −w·(D(z, σ) − z)/σ² to the gradient at the image
and J_Φᵀ of it at a layer, has no value (NaN, out of the total, logged by its gradient norm),
and bad input (wrong channels / layer / network, σ ≤ 0, an energy asked of it) is one clear error."""

import math

import pytest
import torch

from preimage.inversion import (LBFGS, Adam, DivergenceError, FeatureMatch, MomentumSchedule, Objective, PriorTerm,
                                ScoreTerm, invert)
from preimage.priors import ScoreDenoiser, TVPrior, score_for_convention
from preimage.representations import build_representation
from preimage.representations.errors import PreimageError

from score_cases import NaNScore


def random_denoiser(channels: int, **kw) -> ScoreDenoiser:
    """A ScoreDenoiser with random (non-zero) output weights and σ gains, float64."""
    m = ScoreDenoiser(channels, features=6, depth=3, sigma_min=0.5, sigma_max=50.0, **kw).double()
    with torch.no_grad():
        m.convs[-1].weight.normal_(0.0, 0.3)
        for a in m.gains:
            a.normal_(0.0, 0.3)
    return m.eval()


@pytest.fixture(scope="module")
def rep64():
    """Own float64 SqueezeNet with conv1 and fire3 taps (``.double()`` converts in place)."""
    return build_representation("squeezenet", taps=["conv1", "fire3"]).double()


def test_image_score_term_gradient_is_minus_weight_times_tweedie(rep64, chelsea64):
    x0 = rep64.convention.preprocess(chelsea64.double())
    prior = random_denoiser(3)
    x = x0 + 10 * torch.randn_like(x0)
    obj = Objective(rep64, {"tv": (0.3, PriorTerm(TVPrior(2.0), scale=1e-6)), "score": (0.7, ScoreTerm(prior, None, 8.0))})
    ev = obj.energy_and_grad(x)
    with torch.no_grad():
        d = prior.denoise(x, 8.0)
    tv_value, tv_grad = TVPrior(2.0).value_and_grad(x)
    torch.testing.assert_close(ev.grad, 0.3 * 1e-6 * tv_grad - 0.7 * (d - x) / 8.0 ** 2)
    assert ev.gradient_only == {"score"} and math.isnan(float(ev.values["score"]))
    torch.testing.assert_close(ev.total, 0.3 * 1e-6 * tv_value)                      # no score in the total
    torch.testing.assert_close(ev.grad_norms["score"], 0.7 * ((d - x) / 64.0).flatten(1).norm(dim=1))
    # one momentum step from rest moves x along +w·s (and against TV's gradient)
    res = invert(obj, x, MomentumSchedule([0.5], momentum=0.9, scale=2.0))
    torch.testing.assert_close(res.images - x, -0.5 * 2.0 * ev.grad)


def test_layer_score_term_is_phi_vjp_of_the_score(rep64, chelsea64):
    """∂/∂x of w·score@conv1 + match@fire3 equals autograd of ⟨−w·s(Φ(x)).detach(), Φ(x)⟩ + match."""
    x0 = rep64.convention.preprocess(chelsea64.double())
    phi0 = rep64(x0)["fire3"]
    prior = random_denoiser(64, layer="conv1", representation="squeezenet", scale=30.0)
    x = x0 + 20 * torch.randn_like(x0)
    obj = Objective(rep64, {"match": (1.0, FeatureMatch("fire3", phi0)),
                            "s1": (0.4, ScoreTerm(prior, "conv1", sigma=5.0, scale=2.0))})
    ev = obj.energy_and_grad(x)
    xr = x.clone().requires_grad_(True)
    feats = rep64(xr)
    with torch.no_grad():
        s = prior.score(feats["conv1"].detach(), 5.0)
        d = prior.denoise(feats["conv1"].detach(), 5.0)
    torch.testing.assert_close(s, (d - feats["conv1"].detach()) / 25.0)              # s = (D − z)/σ²
    match = (feats["fire3"] - phi0).pow(2).sum() / phi0.pow(2).sum()
    (g,) = torch.autograd.grad(match - 0.4 * 2.0 * (s * feats["conv1"]).sum(), xr)
    torch.testing.assert_close(ev.grad, g)
    torch.testing.assert_close(ev.total, match.detach().reshape(1))
    torch.testing.assert_close(ev.grad_norms["s1"], 0.8 * s.flatten(1).norm(dim=1))
    # alone (Φ's only seed: the weight is deferred to the image gradient) it is the same VJP
    alone = Objective(rep64, {"s1": (0.4, ScoreTerm(prior, "conv1", sigma=5.0, scale=2.0))}).energy_and_grad(x)
    (g1,) = torch.autograd.grad(-0.8 * (s * rep64(xr)["conv1"]).sum(), xr)
    torch.testing.assert_close(alone.grad, g1)
    assert float(alone.total) == 0.0


def test_convention_adapted_grey_prior_is_luma_transpose_of_the_score(rep64, chelsea64):
    """A grey prior trained on [0, 1] used on Caffe BGR input: ∂/∂x = −w·Mᵀ s(Mx + c), checked
    against autograd of ⟨s, grey(x)⟩ with grey(x) computed from the convention by hand."""
    x = rep64.convention.preprocess(chelsea64.double()) + 5 * torch.randn(1, 3, 64, 64, dtype=torch.float64)
    prior = random_denoiser(1)
    obj = Objective(rep64, {"score": (0.5, ScoreTerm(score_for_convention(prior, rep64.convention), sigma=0.1))})
    ev = obj.energy_and_grad(x)
    xr = x.clone().requires_grad_(True)
    mean = torch.tensor([104.006, 116.669, 122.679], dtype=torch.float64).reshape(1, 3, 1, 1)
    bgr = (xr + mean) / 255.0
    grey = 0.299 * bgr[:, 2:3] + 0.587 * bgr[:, 1:2] + 0.114 * bgr[:, 0:1]
    with torch.no_grad():
        s = prior.score(grey.detach(), 0.1)
    (g,) = torch.autograd.grad(-0.5 * (s * grey).sum(), xr)
    torch.testing.assert_close(ev.grad, g)


def test_invert_logs_gradient_only_terms_and_lbfgs_refuses_them(rep64, chelsea64):
    x0 = rep64.convention.preprocess(chelsea64.double())
    phi0 = rep64(x0)["conv1"]
    obj = Objective(rep64, {"match": (1.0, FeatureMatch("conv1", phi0)),
                            "score": (0.5, ScoreTerm(random_denoiser(3), sigma=10.0))})
    init = x0 + 30 * torch.randn(2, 3, 64, 64, dtype=torch.float64)
    res = invert(obj, init, Adam([1.0] * 4))
    assert res.gradient_only == ("score",)
    assert res.history["score"].shape == (4, 2) and bool(res.history["score"].isnan().all())
    norms = res.history["grad_norm@score"]
    assert norms.shape == (4, 2) and bool((norms > 0).all()) and bool(norms.isfinite().all())
    torch.testing.assert_close(res.history["total"], res.history["match"])
    assert math.isnan(float(res.metrics["score"][0])) and torch.equal(res.metrics["total"], res.metrics["match"])
    with pytest.raises(PreimageError, match="LBFGS needs energy values .* score are gradient-only") as info:
        invert(obj, init, LBFGS([1.0] * 2))
    assert "\n" not in str(info.value)


def test_divergence_of_a_gradient_only_term_is_reported_with_its_name(rep64):
    obj = Objective(rep64, {"bad": (1.0, ScoreTerm(NaNScore(3), sigma=1.0))})
    with pytest.raises(DivergenceError, match=r"step 0: term 'bad \(gradient norm\)' became nan"):
        invert(obj, torch.zeros(1, 3, 64, 64, dtype=torch.float64), Adam([1.0] * 3))


def test_bad_score_terms_are_one_clear_error(rep64):
    cases = [
        (lambda: ScoreTerm(random_denoiser(3), sigma=0.0), "sigma must be finite and > 0"),
        (lambda: ScoreTerm(random_denoiser(3), sigma=-2.0), "sigma must be finite and > 0"),
        (lambda: ScoreTerm(random_denoiser(3), sigma=float("nan")), "sigma must be finite and > 0"),
        (lambda: ScoreTerm(random_denoiser(3), sigma=float("inf")), "sigma must be finite and > 0"),
        (lambda: ScoreTerm(random_denoiser(64, layer="conv1"), None), "trained on layer conv1 but is placed on the image"),
        (lambda: ScoreTerm(random_denoiser(64, layer="conv1"), "fire3"), "trained on layer conv1 but is placed on layer fire3"),
        (lambda: ScoreTerm(random_denoiser(3), "conv1"), "trained on the image but is placed on layer conv1"),
        (lambda: ScoreTerm(TVPrior(2.0)), "takes a score prior"),
        (lambda: Objective(rep64, {"s": (1.0, ScoreTerm(random_denoiser(1)))}), "1 channels but squeezenet's input image has 3"),
        (lambda: Objective(rep64, {"s": (1.0, ScoreTerm(random_denoiser(64, layer="conv1", representation="alexnet"),
                                                        "conv1"))}), "trained on alexnet, not on squeezenet"),
        (lambda: Objective(rep64, {"s": (1.0, PriorTerm(random_denoiser(3)))}), "add it as a ScoreTerm"),
        (lambda: Objective(rep64, {"s": (1.0, ScoreTerm(random_denoiser(32, layer="conv1"), "conv1"))})
         .energy_and_grad(torch.zeros(1, 3, 64, 64, dtype=torch.float64)), "32 channels but layer conv1 has 64"),
        (lambda: ScoreTerm(random_denoiser(3))(torch.zeros(1, 3, 8, 8), {}), "no energy value"),
        (lambda: random_denoiser(3)(torch.zeros(1, 3, 8, 8)), "no energy"),
    ]
    for fn, match in cases:
        with pytest.raises(PreimageError, match=match) as info:
            fn()
        assert "\n" not in str(info.value)
    term = ScoreTerm(random_denoiser(3), sigma=1.0)
    with pytest.raises(PreimageError, match="sigma"):
        term.sigma = 0.0
    assert term.sigma == 1.0
