"""Annealed Langevin sampling: samples of a 2-D Gaussian mixture (its analytic score) have the
target's moments; on a linear-Gaussian pre-image problem (feature match + score priors at the
image and at a layer) they have the posterior's mean and the exact stationary covariance of the
discretised chain; same seed, same samples; bad schedules are one clear error."""

import pytest
import torch

from preimage.inversion import FeatureMatch, LangevinSchedule, Objective, ScoreTerm, langevin
from preimage.representations.errors import PreimageError

from score_cases import LinearRep, MixtureScore, gaussian

DT = torch.float64


def mixture() -> MixtureScore:
    w = torch.tensor([0.3, 0.7], dtype=DT)
    mu = torch.tensor([[-1.5, 0.0], [1.0, 1.0]], dtype=DT)
    cov = torch.tensor([[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]]], dtype=DT)
    return MixtureScore(w, mu, cov)


def test_annealed_langevin_matches_the_mixture_moments():
    """N = 3000 chains, σ from 2.0 down to 0.1 over 6 levels × 150 steps, ε = σ_L²/2: the sample
    mean and covariance are those of p_σL = Σ π_k N(μ_k, Σ_k + σ_L²I) within 0.06 / 0.08 (observed
    ≤ 0.02 for seeds 0–2; a chain stuck in one mode is off by ≥ 0.7 in the mean)."""
    prior, sigma, n = mixture(), 0.1, 3000
    obj = Objective(LinearRep(torch.eye(2, dtype=DT)), {"prior": (1.0, ScoreTerm(prior, sigma=sigma))})
    init = 3.0 * torch.randn(n, 2, 1, 1, generator=torch.Generator().manual_seed(9), dtype=DT)
    res = langevin(obj, init, LangevinSchedule.geometric(20.0, 6, 150, 0.5 * sigma ** 2), seed=0)
    x = res.images.reshape(n, 2)
    mean, cov = prior.mean_cov(sigma)
    assert (x.mean(0) - mean).abs().max() < 0.06, (x.mean(0), mean)
    assert (torch.cov(x.T) - cov).abs().max() < 0.08, (torch.cov(x.T), cov)
    assert res.steps == 900 and res.gradient_only == ("prior",)
    assert res.history["grad_norm@prior"].shape == (900, n) and bool(res.history["prior"].isnan().all())
    torch.testing.assert_close(res.extra["sigma_factor"][::150], torch.tensor(LangevinSchedule.geometric(
        20.0, 6, 150, 1.0).factors, dtype=DT))
    torch.testing.assert_close(res.extra["step_size"], 0.5 * sigma ** 2 * res.extra["sigma_factor"] ** 2)
    assert obj.terms["prior"].sigma == sigma                                       # restored after annealing


def test_langevin_samples_the_linear_gaussian_preimage_posterior():
    """Φ(x) = A x; E = λ‖Φ(x) − y‖²/‖y‖² − log N_σ0(x; μ₀, Σ₀) − log N_σ1(Φ(x); μ₁, Σ₁): the target
    is N(P⁻¹h, P⁻¹), P = 2λ/‖y‖² AᵀA + (Σ₀ + σ₀²I)⁻¹ + Aᵀ(Σ₁ + σ₁²I)⁻¹A. The chain
    x ← x − (α/2)∇E + √α ξ has the stationary covariance (P(I − αP/4))⁻¹ exactly; with α = 0.8/λ_max(P)
    it differs from P⁻¹ by 0.034, and the samples match it within 0.015 (observed 0.006)."""
    a = torch.tensor([[1.0, 0.5], [0.0, 1.0], [0.7, -0.4]], dtype=DT)
    y = (a @ torch.tensor([0.8, -0.6], dtype=DT)).reshape(1, 3, 1, 1)
    lam, s0, s1 = 0.6, 0.05, 0.1
    p0 = gaussian([0.0, 0.5], [[0.5, 0.1], [0.1, 0.3]])
    p1 = gaussian([0.2, -0.2, 0.4], [[1.0, 0.2, 0.0], [0.2, 0.6, 0.1], [0.0, 0.1, 0.8]], layer="lin")
    obj = Objective(LinearRep(a), {"match": (lam, FeatureMatch("lin", y)), "image": (1.0, ScoreTerm(p0, None, s0)),
                                   "feat": (1.0, ScoreTerm(p1, "lin", s1))})
    i2, i3 = torch.eye(2, dtype=DT), torch.eye(3, dtype=DT)
    prec0, prec1 = torch.linalg.inv(p0.covs[0] + s0 ** 2 * i2), torch.linalg.inv(p1.covs[0] + s1 ** 2 * i3)
    c = 2 * lam / float(y.pow(2).sum())
    p = c * a.T @ a + prec0 + a.T @ prec1 @ a
    mean = torch.linalg.solve(p, c * a.T @ y.reshape(3) + prec0 @ p0.means[0] + a.T @ prec1 @ p1.means[0])
    alpha = 0.8 / float(torch.linalg.eigvalsh(p).max())
    cov_chain = torch.linalg.inv(p @ (i2 - alpha * p / 4))
    assert (cov_chain - torch.linalg.inv(p)).abs().max() > 0.025                      # the check can tell them apart
    n = 4000
    init = mean.reshape(1, 2, 1, 1) + torch.randn(n, 2, 1, 1, generator=torch.Generator().manual_seed(1), dtype=DT)
    res = langevin(obj, init, LangevinSchedule((1.0,), 150, alpha), seed=0)
    x = res.images.reshape(n, 2)
    assert (x.mean(0) - mean).abs().max() < 0.02, (x.mean(0), mean)
    assert (torch.cov(x.T) - cov_chain).abs().max() < 0.015, (torch.cov(x.T), cov_chain)
    torch.testing.assert_close(res.history["total"], res.history["match"])            # scores are not in the total
    assert set(res.gradient_only) == {"image", "feat"} and "relative_error@match" in res.metrics


def _linear_gaussian_case():
    """The linear-Gaussian pre-image problem above: its objective, precision P and posterior mean."""
    a = torch.tensor([[1.0, 0.5], [0.0, 1.0], [0.7, -0.4]], dtype=DT)
    y = (a @ torch.tensor([0.8, -0.6], dtype=DT)).reshape(1, 3, 1, 1)
    lam, s0 = 0.6, 0.05
    p0 = gaussian([0.0, 0.5], [[0.5, 0.1], [0.1, 0.3]])
    obj = Objective(LinearRep(a), {"match": (lam, FeatureMatch("lin", y)), "image": (1.0, ScoreTerm(p0, None, s0))})
    prec0 = torch.linalg.inv(p0.covs[0] + s0 ** 2 * torch.eye(2, dtype=DT))
    c = 2 * lam / float(y.pow(2).sum())
    p = c * a.T @ a + prec0
    mean = torch.linalg.solve(p, c * a.T @ y.reshape(3) + prec0 @ p0.means[0])
    return obj, p, mean


def test_underdamped_langevin_has_the_chains_exact_stationary_covariance():
    """With momentum μ the chain u ← μu − (α/2)P(x − m) + √((1 − μ)α) ξ, x ← x + u is linear:
    z = (x − m, u) ← M z + B ξ with M = [[I − αP/2, μI], [−αP/2, μI]], B = √((1 − μ)α)[I; I], so
    its stationary covariance S solves S = M S Mᵀ + BBᵀ (solved here by vectorisation). The
    samples' mean is the posterior mean and their covariance S's x block within 0.015
    (observed ≤ 0.008, seeds 0–2); S_xx differs from the target P⁻¹ by 0.042, the discretisation
    bias at this step."""
    obj, p, mean = _linear_gaussian_case()
    mu = 0.7
    alpha = 1.2 / float(torch.linalg.eigvalsh(p).max())
    i2 = torch.eye(2, dtype=DT)
    m = torch.cat([torch.cat([i2 - alpha * p / 2, mu * i2], 1), torch.cat([-alpha * p / 2, mu * i2], 1)])
    b = (1 - mu) * alpha * torch.cat([torch.cat([i2, i2], 1)] * 2)
    s = torch.linalg.solve(torch.eye(16, dtype=DT) - torch.kron(m, m), b.reshape(16)).reshape(4, 4)
    cov_chain = s[:2, :2]
    assert (cov_chain - torch.linalg.inv(p)).abs().max() > 0.04                     # the check can tell them apart
    n = 8000
    init = mean.reshape(1, 2, 1, 1) + torch.randn(n, 2, 1, 1, generator=torch.Generator().manual_seed(2), dtype=DT)
    res = langevin(obj, init, LangevinSchedule((1.0,), 300, alpha, momentum=mu), seed=0)
    x = res.images.reshape(n, 2)
    assert (x.mean(0) - mean).abs().max() < 0.02, (x.mean(0), mean)
    assert (torch.cov(x.T) - cov_chain).abs().max() < 0.015, (torch.cov(x.T), cov_chain)
    # momentum 0 is exactly the overdamped chain (Alg. 1)
    a0 = langevin(obj, init[:50], LangevinSchedule((1.0,), 20, alpha), seed=5)
    b0 = langevin(obj, init[:50], LangevinSchedule((1.0,), 20, alpha, momentum=0.0), seed=5)
    assert torch.equal(a0.images, b0.images)


def test_step_power_and_decay_set_every_steps_size():
    """α_t = ε f_i^p m_t, as recorded per step (levels, power and decay segments combined)."""
    obj, _, _ = _linear_gaussian_case()
    sched = LangevinSchedule.geometric(4.0, 2, 5, 0.01, momentum=0.5, step_power=1.0, decay=[[1, 6], [0.25, 4]])
    res = langevin(obj, torch.zeros(3, 2, 1, 1, dtype=DT), sched, seed=0)
    want = [0.04] * 5 + [0.01] + [0.0025] * 4
    torch.testing.assert_close(res.extra["step_size"], torch.tensor(want, dtype=DT))
    torch.testing.assert_close(res.extra["sigma_factor"], torch.tensor([4.0] * 5 + [1.0] * 5, dtype=DT))
    assert sched.steps == 10 and sched.step_size(0) == pytest.approx(0.04)


def test_same_seed_same_samples_and_callbacks_see_every_step():
    obj = Objective(LinearRep(torch.eye(2, dtype=DT)), {"prior": (1.0, ScoreTerm(mixture(), sigma=0.2))})
    init = torch.zeros(8, 2, 3, 3, dtype=DT)
    sched = LangevinSchedule.geometric(5.0, 3, 4, 0.01)
    seen = []

    class Recorder:
        def on_step(self, info):
            seen.append((info.step, info.lr, info.gradient_only, float(info.grad_norms["prior"].sum())))

        def on_end(self, result):
            seen.append(result.steps)

    a = langevin(obj, init, sched, seed=3, callbacks=[Recorder()])
    b = langevin(obj, init, sched, seed=torch.Generator().manual_seed(3))
    c = langevin(obj, init, sched, seed=4)
    assert torch.equal(a.images, b.images) and not torch.allclose(a.images, c.images)
    assert torch.equal(init, torch.zeros_like(init))                                  # init untouched
    assert [s[0] for s in seen[:-1]] == list(range(12)) and seen[-1] == 12
    assert seen[0][1] == pytest.approx(0.01 * 25.0) and seen[0][2] == {"prior"}
    assert a.extra["seed"] == 3 and b.extra["seed"] is None


@pytest.mark.parametrize("make", [
    lambda: LangevinSchedule((1.0, 2.0), 10, 0.1),
    lambda: LangevinSchedule((), 10, 0.1),
    lambda: LangevinSchedule((1.0, -1.0), 10, 0.1),
    lambda: LangevinSchedule((1.0,), 0, 0.1),
    lambda: LangevinSchedule((1.0,), 10, 0.0),
    lambda: LangevinSchedule((1.0,), 10, float("nan")),
    lambda: LangevinSchedule.geometric(0.5, 3, 10, 0.1),
    lambda: LangevinSchedule((1.0,), 10, 0.1, momentum=1.0),
    lambda: LangevinSchedule((1.0,), 10, 0.1, momentum=-0.1),
    lambda: LangevinSchedule((1.0,), 10, 0.1, step_power=float("inf")),
    lambda: LangevinSchedule((1.0,), 10, 0.1, decay=[[1, 5]]),
    lambda: LangevinSchedule((1.0,), 10, 0.1, decay=[[1, 5], [0.0, 5]]),
])
def test_bad_schedules_are_one_clear_error(make):
    with pytest.raises(PreimageError) as info:
        make()
    assert "\n" not in str(info.value)
