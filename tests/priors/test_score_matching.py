"""Score-matching objectives: closed form = autograd trace = Hyvärinen's textbook formula;
sliced and denoising SM are unbiased for the exact objective (statistical tests); SM recovers
a known ICA mixing; the Kingma–LeCun curvature penalty bounds SM on quantised data."""

import pytest
import torch

from preimage.priors import FieldOfExperts, OvercompleteICA
from preimage.priors.score_matching import (curvature_penalty, dsm_loss, exact_sm_loss, hyvarinen_loss,
                                            sliced_sm_loss)

from learned_cases import LINEAR, correlated_patches, make


# single patches for every energy; small images (overlapping patches) for three of them
CASES = [(n, 0) for n in LINEAR] + [("foe-full-raw", 2), ("foe-separable", 1), ("ica-channelwise", 1)]


@pytest.mark.parametrize("name,extra", CASES)
def test_closed_form_objective_equals_autograd_trace(name, extra):
    e = make(name)
    s = e.patch_size + extra
    x = correlated_patches(3, e.channels, s, seed=5)
    h, ex = hyvarinen_loss(e, x), exact_sm_loss(e, x)
    torch.testing.assert_close(h, ex, rtol=1e-10, atol=1e-10)
    if extra == 0:  # and the parameter gradients agree (the closed form trains like the generic one)
        g1 = torch.autograd.grad(h, list(e.parameters()), allow_unused=True)
        g2 = torch.autograd.grad(ex, list(e.parameters()), allow_unused=True)
        for a, b in zip(g1, g2):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("G", ["logcosh", "logistic"])
def test_matches_hyvarinen_2005_formula(G):
    """J = Σ_i α_i ⟨g′(w_iᵀx)⟩‖w_i‖² + ½ Σ_jk α_j α_k (w_jᵀw_k) ⟨g(w_jᵀx) g(w_kᵀx)⟩ with
    log p = Σ α_i G(w_iᵀx + b_i), G(u) = −log cosh u or −2 log cosh(u/2) (Hyvärinen 2005, §4)."""
    e = make("ica-logcosh") if G == "logcosh" else make("ica-logistic-pca")
    x = correlated_patches(50, e.channels, e.patch_size, seed=9)
    f, b = e.filters()
    w = f.flatten(1)                                                   # (n, D) raw-space filters
    u = x.flatten(1) @ w.T + b                                         # (N, n)
    s = 1.0 if G == "logcosh" else 0.5
    g = -torch.tanh(s * u)                                             # G′
    g1 = -s * (1 - torch.tanh(s * u) ** 2)                             # G″
    a = e.alpha
    j = (a * g1.mean(0) * (w * w).sum(1)).sum() + 0.5 * (a[:, None] * a[None] * (w @ w.T) * (g.T @ g) / len(x)).sum()
    torch.testing.assert_close(hyvarinen_loss(e, x), j, rtol=1e-10, atol=1e-12)


def test_sliced_sm_is_unbiased_for_the_exact_objective():
    e = make("foe-full-raw")
    x = correlated_patches(2, e.channels, e.patch_size + 1, seed=2)
    exact = exact_sm_loss(e, x).item()
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sliced_sm_loss(e, x, n_projections=32, generator=g).detach() for _ in range(8)])
    se = draws.std() / len(draws) ** 0.5
    assert abs(draws.mean().item() - exact) < 4 * se.item(), (draws.mean().item(), exact, se.item())
    assert se.item() < 0.05 * abs(exact) + 1.0                        # and the test has power


def test_dsm_differs_from_exact_sm_by_a_parameter_free_constant():
    """Vincent (2011): J_DSM(θ) = J_SM(θ; noisy data) + C. With the same noise draws, the
    difference between two models' DSM losses estimates the difference of their exact SM
    losses on the noisy data (Stein's lemma), up to Monte-Carlo error."""
    e1, e2 = make("foe-full-pca"), make("ica-channelwise")
    e2 = OvercompleteICA(2, 3, 4, whitening="pca").double()
    e2.whitening.load_state_dict(e1.whitening.state_dict())
    x = correlated_patches(400, 2, 3, seed=4).repeat(20, 1, 1, 1)
    sigma = 0.3
    g = torch.Generator().manual_seed(1)
    eps = torch.randn(x.shape, dtype=x.dtype, generator=g)
    xn = x + sigma * eps

    def dsm_per(e):  # per-sample DSM with the shared noise
        _, grad = e.value_and_grad(xn)
        return 0.5 * (grad - eps / sigma).flatten(1).pow(2).sum(1)

    def sm_per(e):
        _, grad = e.value_and_grad(xn)
        return 0.5 * grad.flatten(1).pow(2).sum(1) - e.laplacian(xn)

    diff = (dsm_per(e1) - dsm_per(e2)) - (sm_per(e1) - sm_per(e2))
    se = diff.std() / len(diff) ** 0.5
    assert abs(diff.mean().item()) < 4 * se.item()
    gap = (sm_per(e1) - sm_per(e2)).mean().abs()
    assert gap > 8 * se                                               # the models really differ
    # the library function is the batch mean of the same quantity
    g.manual_seed(1)
    torch.testing.assert_close(dsm_loss(e1, x, sigma, generator=g), dsm_per(e1).mean())


def amari_index(p: torch.Tensor) -> float:
    """Amari et al. (1996) index of P = B·A, normalised to [0, 1]; 0 iff P is a scaled permutation."""
    p = p.abs()
    n = p.shape[0]
    rows = (p / p.max(1, keepdim=True).values).sum(1) - 1
    cols = (p / p.max(0, keepdim=True).values).sum(0) - 1
    return ((rows.sum() + cols.sum()) / (2 * n * (n - 1))).item()


def test_score_matching_recovers_ica_mixing():
    """x = A s with 4 heavy-tailed sources; SM (closed form) on ICA with log-cosh experts.

    The sources are hyperbolic-secant distributed (exponential tails like the Laplace, kurtosis 2
    but smooth at 0: score matching's integration by parts needs a differentiable density, which
    the Laplace's cusp breaks). Threshold 0.1 on the Amari index; a random 4×4 matrix scores
    ≈ 0.41 on average, the start here 0.30, and this run ends at 0.040.
    """
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    n, N = 4, 2000
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    s = (2 / torch.pi) * torch.log(torch.tan(torch.pi / 2 * torch.rand(N, n, generator=g, dtype=torch.float64)))
    x = (s @ a.T).reshape(N, n, 1, 1)
    m = OvercompleteICA(n, 1, n, G="logcosh", whitening="zca", remove_dc=False).double()
    m.fit_whitening(x)
    with torch.no_grad():  # start from a random orthogonal matrix in whitened space
        m.weight.copy_(torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0][None])
    start = amari_index(m.filters()[0].reshape(n, n) @ a)
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(250):
        opt.zero_grad()
        hyvarinen_loss(m, x).backward()
        opt.step()
    final = amari_index(m.filters()[0].reshape(n, n) @ a)
    assert final < 0.1 and final < start / 3, (start, final)


def test_curvature_penalty_bounds_score_matching_on_quantised_data():
    """Kingma & LeCun (2010): on quantised data (40 % of values exactly 0, the rest on a lattice)
    an expert with a free scale w, E = log(1 + ½(w x)²), has an SM objective unbounded below
    (the Laplacian term −w² at x = 0 wins as w → ∞); the penalty λ⟨Σ (∂²E/∂x²)²⟩ ≈ λ w⁴ bounds it
    and puts the minimiser at a finite scale."""
    x = torch.tensor([0.0] * 40 + [1.0, -1.0, 2.0, -2.0, 3.0, -3.0] * 10, dtype=torch.float64).reshape(-1, 1, 1, 1)
    e = FieldOfExperts(1, 1, 1, whitening=None, normalise=False).double()
    scales = torch.logspace(-1, 3, 41, dtype=torch.float64)
    plain, regular = [], []
    for w in scales:
        with torch.no_grad():
            e.weight.fill_(w)
            sm = hyvarinen_loss(e, x)
            plain.append(sm.item())
            regular.append((sm + 1e-2 * curvature_penalty(e, x)).item())
    plain, regular = torch.tensor(plain), torch.tensor(regular)
    assert plain.argmin() == len(scales) - 1 and plain[-1] < plain[-11] - 1e4      # diverges to −∞
    best = regular.argmin().item()
    assert 0 < best < len(scales) - 10 and regular[-1] > 0 > regular[best]     # finite minimiser
    # closed-form penalty equals the autograd definition
    z = correlated_patches(3, 1, 4, seed=0)
    e2 = make("foe-full-raw")
    zz = z.clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(e2(zz).sum(), zz, create_graph=True)
    diag = torch.stack([torch.autograd.grad(gr.flatten(1)[:, d].sum(), zz, retain_graph=True)[0].flatten(1)[:, d]
                        for d in range(16)], 1)
    torch.testing.assert_close(curvature_penalty(e2, z), diag.pow(2).sum(1).mean())
