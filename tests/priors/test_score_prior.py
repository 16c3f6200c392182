"""Score priors: the DSM-trained denoiser's score equals the analytic Gaussian score, the DSM loss
is its definition (and its minimum at the MMSE denoiser is tr Σ(Σ + σ²I)⁻¹), the bias-free
network is homogeneous, storage round-trips, and bad input is one clear error."""

import math

import pytest
import torch

from preimage.priors import ScoreDenoiser, dsm_score_loss, load_prior, log_uniform_sigmas, save_prior
from preimage.priors.foe import FieldOfExperts
from preimage.representations.errors import PreimageError

MU = torch.tensor([0.5, -0.3], dtype=torch.float64)
COV = torch.tensor([[1.2, 0.5], [0.5, 1.0]], dtype=torch.float64)


def gaussian_pixels(n: int, gen: torch.Generator, hw: int = 4) -> torch.Tensor:
    """(n, 2, hw, hw) with every pixel i.i.d. N(MU, COV) over its two channels."""
    chol = torch.linalg.cholesky(COV)
    v = torch.randn(n * hw * hw, 2, generator=gen, dtype=torch.float64) @ chol.T + MU
    return v.reshape(n, hw, hw, 2).permute(0, 3, 1, 2).contiguous()


def analytic_score(z: torch.Tensor, sigma: float) -> torch.Tensor:
    """−(Σ + σ²I)⁻¹(z − μ) per pixel."""
    prec = torch.linalg.inv(COV + sigma ** 2 * torch.eye(2, dtype=torch.float64))
    return -torch.einsum("cd,bdhw->bchw", prec, z - MU[None, :, None, None])


def test_dsm_trained_score_equals_the_analytic_gaussian_score():
    """A 1×1 (per-pixel affine, bias on) ScoreDenoiser trained 400 Adam steps by dsm_score_loss
    on N(μ, Σ) pixels (Σ's eigenvalues 1.61, 0.59), σ ~ log-U[0.05, 0.2]: at σ = 0.06, 0.1 and
    0.18 its score on fresh data is within 5 % (relative L2) of −(Σ + σ²I)⁻¹(z − μ) (2–3 % over
    seeds 0–3); the untrained model (ε̂ = 0) is 100 % off."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = ScoreDenoiser(2, depth=1, kernel_size=1, bias=True, sigma_degree=2, sigma_min=0.05, sigma_max=0.2).double()
    test = gaussian_pixels(64, torch.Generator().manual_seed(2))

    def rel_err(sigma: float) -> float:
        with torch.no_grad():
            s = model.score(test, sigma)
        ref = analytic_score(test, sigma)
        return float((s - ref).norm() / ref.norm())

    assert rel_err(0.1) > 0.5
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 400)
    for _ in range(400):
        loss = dsm_score_loss(model, gaussian_pixels(64, gen, 16), 0.05, 0.2, gen).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    for sigma in (0.06, 0.1, 0.18):
        assert rel_err(sigma) < 0.05, (sigma, rel_err(sigma))


def mmse_denoiser(sigma: float) -> ScoreDenoiser:
    """The real class set by hand to the Gaussian MMSE denoiser at one σ (σ range [σ, σ]: gains 1):
    ε̂ = W z/√(1 + σ²) + b with W = σ√(1 + σ²)(Σ + σ²I)⁻¹, b = −σ(Σ + σ²I)⁻¹μ."""
    m = ScoreDenoiser(2, depth=1, kernel_size=1, bias=True, sigma_min=sigma, sigma_max=sigma).double()
    inv = torch.linalg.inv(COV + sigma ** 2 * torch.eye(2, dtype=torch.float64))
    with torch.no_grad():
        m.convs[0].weight.copy_((sigma * math.sqrt(1 + sigma ** 2) * inv)[:, :, None, None])
        m.convs[0].bias.copy_(-sigma * inv @ MU)
    return m


def test_dsm_loss_is_its_definition_and_its_minimum_is_the_posterior_variance():
    sigma = 0.3
    m = mmse_denoiser(sigma)
    z = gaussian_pixels(4, torch.Generator().manual_seed(3))
    eps = torch.randn(z.shape, generator=torch.Generator().manual_seed(4), dtype=z.dtype)
    sig = torch.tensor([0.1, 0.3, 0.3, 0.7], dtype=z.dtype)
    out = dsm_score_loss(m, z, 0.1, 1.0, noise=eps, sigma=sig)
    s4 = sig.reshape(-1, 1, 1, 1)
    zt = z + s4 * eps
    with torch.no_grad():
        by_score = (s4 * m.score(zt, sig) + eps).flatten(1).pow(2).sum(1)       # ‖σ s(z + σε, σ) + ε‖²
        by_denoiser = (m.denoise(zt, sig) - z).flatten(1).pow(2).sum(1) / sig ** 2
    torch.testing.assert_close(out.per_item, by_score)
    torch.testing.assert_close(out.per_item, by_denoiser)
    torch.testing.assert_close(out.loss, by_score.mean())
    torch.testing.assert_close(out.sigma, sig)
    # the hand-set MMSE denoiser: the score is analytic, and E ℓ = tr Σ(Σ + σ²I)⁻¹ per pixel
    torch.testing.assert_close(m.score(z, sigma).detach(), analytic_score(z, sigma))
    big = gaussian_pixels(2000, torch.Generator().manual_seed(5))
    with torch.no_grad():
        mc = float(dsm_score_loss(m, big, sigma, sigma, torch.Generator().manual_seed(6)).loss) / 16
    exact = float(torch.trace(COV @ torch.linalg.inv(COV + sigma ** 2 * torch.eye(2, dtype=torch.float64))))
    assert mc == pytest.approx(exact, rel=0.02), (mc, exact)


def test_sigmas_are_log_uniform_and_seeded():
    g = torch.Generator().manual_seed(0)
    s = log_uniform_sigmas(20000, 0.01, 1.0, g, dtype=torch.float64)
    assert float(s.min()) >= 0.01 and float(s.max()) <= 1.0
    # log σ uniform on [log .01, 0]: mean −2.303, quarter of the mass below log σ = −3.45
    assert float(s.log().mean()) == pytest.approx(0.5 * math.log(0.01), abs=0.03)
    assert float((s.log() < 0.75 * math.log(0.01)).double().mean()) == pytest.approx(0.25, abs=0.015)
    assert torch.equal(s, log_uniform_sigmas(20000, 0.01, 1.0, torch.Generator().manual_seed(0), dtype=torch.float64))


@pytest.mark.parametrize("unshuffle,residual", [(1, False), (2, False), (1, True), (2, True)])
def test_bias_free_denoiser_is_homogeneous_and_score_is_tweedie(unshuffle, residual):
    """Bias-free with multiplicative σ gains: D(αz, σ) = αD(z, σ) for α > 0 (Mohan et al. 2020),
    and score = (D − z)/σ² for per-item σ; for the polyphase (pixel-unshuffle) and residual-block
    networks too, on odd sizes, whose output has the input's shape."""
    torch.manual_seed(0)
    m = ScoreDenoiser(3, features=8, depth=6, dilations=[1, 2, 2, 1, 1, 1], sigma_min=0.01, sigma_max=0.5,
                      unshuffle=unshuffle, residual=residual).double()
    with torch.no_grad():
        for conv in m.convs:                                                     # (some are zero at init)
            conv.weight.normal_(0.0, 0.2)
        for a in m.gains:
            a.normal_()
        z = torch.randn(2, 3, 11, 9, dtype=torch.float64)
        sig = torch.tensor([0.05, 0.3], dtype=torch.float64)
        assert m.denoise(z, sig).shape == z.shape
        torch.testing.assert_close(m.denoise(2.5 * z, sig), 2.5 * m.denoise(z, sig))
        torch.testing.assert_close(m.score(z, sig), (m.denoise(z, sig) - z) / sig.reshape(-1, 1, 1, 1) ** 2)
        assert not torch.allclose(m.denoise(z, 0.05), m.denoise(z, 0.3))         # σ is an input


def test_store_round_trip_of_a_score_prior(tmp_path):
    torch.manual_seed(0)
    m = ScoreDenoiser(64, features=8, depth=3, sigma_min=0.5, sigma_max=40.0, scale=30.0, layer="conv1",
                      representation="squeezenet", padding_mode="reflect", unshuffle=2)
    with torch.no_grad():
        m.convs[-1].weight.normal_(0.0, 0.2)
        for a in m.gains:
            a.normal_()
    path = save_prior(m, tmp_path / "s.pt", {"command": "preimage prior fit --config score-conv1", "data": "train"})
    loaded = load_prior(path, kinds="score")
    e = loaded.energy
    assert type(e) is ScoreDenoiser and not e.training and not loaded.has_energy
    assert loaded.layer == "conv1" and loaded.meta["representation"] == "squeezenet" and loaded.meta["kind"] == "score"
    assert loaded.meta["sigma_min"] == 0.5 and loaded.meta["sigma_max"] == 40.0 and loaded.meta["scale"] == 30.0
    assert loaded.meta["hparams"] == m.hparams() and loaded.meta["has_energy"] is False
    assert loaded.meta["channels"] == 64 and loaded.meta["command"].startswith("preimage prior fit")
    z = torch.randn(2, 64, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(e.score(z, 3.0), m.score(z, 3.0))
    with pytest.raises(PreimageError, match="holds a score prior but a foe prior is needed"):
        load_prior(path, kinds="foe")
    foe = save_prior(FieldOfExperts(1, 3, 4), tmp_path / "f.pt")
    with pytest.raises(PreimageError, match="holds a foe prior but a score prior is needed"):
        load_prior(foe, kinds=["score"])
    with pytest.raises(PreimageError, match="contradicts"):
        save_prior(m, tmp_path / "bad.pt", {"layer": "fire3"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pt", "s.pt"]


@pytest.mark.parametrize("sigma", [0.0, -0.1, float("nan"), float("inf"), torch.tensor([0.1, -1.0]),
                                   torch.tensor([0.1, float("nan")]), torch.tensor([0.1, 0.2, 0.3])])
def test_bad_sigma_is_one_clear_error(sigma):
    m = ScoreDenoiser(1, features=4, depth=2)
    z = torch.randn(2, 1, 8, 8)
    for fn in (m.denoise, m.score):
        with pytest.raises(PreimageError) as info:
            fn(z, sigma)
        assert "\n" not in str(info.value) and "sigma" in str(info.value)


def test_bad_input_is_one_clear_error():
    m = ScoreDenoiser(3, features=4, depth=2)
    cases = [
        (lambda: m.denoise(torch.randn(1, 1, 8, 8), 0.1), "takes 3-channel"),
        (lambda: m.score(torch.randn(8, 8), 0.1), "takes 3-channel"),
        (lambda: m(torch.randn(1, 3, 8, 8)), "no energy"),
        (lambda: m.value_and_grad(torch.randn(1, 3, 8, 8)), "no energy"),
        (lambda: ScoreDenoiser(1, kernel_size=2), "odd kernel_size"),
        (lambda: ScoreDenoiser(1, depth=3, dilations=[1, 2]), "one dilation"),
        (lambda: ScoreDenoiser(1, unshuffle=0), "unshuffle ≥ 1"),
        (lambda: ScoreDenoiser(1, depth=5, residual=True), "even depth ≥ 4"),
        (lambda: ScoreDenoiser(1, sigma_min=0.5, sigma_max=0.1), "sigma_min"),
        (lambda: ScoreDenoiser(1, padding_mode="mirror"), "padding_mode"),
        (lambda: ScoreDenoiser(0), "channels"),
        (lambda: log_uniform_sigmas(4, 0.0, 1.0), "sigma_min"),
    ]
    for fn, match in cases:
        with pytest.raises(PreimageError, match=match) as info:
            fn()
        assert "\n" not in str(info.value)


def test_red_denoising_with_a_gaussian_score_prior_is_the_map_under_the_smoothed_gaussian():
    """RED's fixed point (x − y)/σ² = λ s(x, σ_p) with the exact Gaussian denoiser is the MAP
    estimate under the prior N(μ, (Σ + σ_p²I)/λ): (I/σ² + λC⁻¹) x = y/σ² + λC⁻¹μ, C = Σ + σ_p²I."""
    from preimage.priors.denoise import red_denoise

    sigma, lam = 0.3, 2.0
    m = mmse_denoiser(sigma)
    y = gaussian_pixels(3, torch.Generator().manual_seed(5)) + sigma * torch.randn(
        3, 2, 4, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    x = red_denoise(m, y, sigma, lam, iters=120)
    c_inv = torch.linalg.inv(COV + sigma ** 2 * torch.eye(2, dtype=torch.float64))
    lhs = torch.eye(2, dtype=torch.float64) / sigma ** 2 + lam * c_inv
    rhs = y.permute(0, 2, 3, 1) / sigma ** 2 + lam * (c_inv @ MU)
    want = torch.linalg.solve(lhs, rhs.unsqueeze(-1)).squeeze(-1).permute(0, 3, 1, 2)
    torch.testing.assert_close(x, want, rtol=1e-9, atol=1e-9)
    assert not torch.allclose(x, m.denoise(y, sigma))                          # not one pass of D
