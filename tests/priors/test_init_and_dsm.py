"""The DCT start gives distinct filters even when there are more experts than non-DC DCT
patches (identical filters get identical gradients and would stay duplicates), and the
denoising score-matching loss equals its definition by autograd (Vincent 2011, Eq. 9)."""

import pytest
import torch

from preimage.priors import FieldOfExperts, OvercompleteICA
from preimage.priors.experts import dct_filters
from preimage.priors.score_matching import dsm_loss

from learned_cases import correlated_patches


@pytest.mark.parametrize("n,p,c", [(64, 7, 1), (96, 5, 3), (48, 7, 1), (30, 3, 2)])
def test_dct_start_has_no_duplicate_filters(n, p, c):
    w = dct_filters(n, p, c)
    assert w.shape == (n, c * p * p)
    torch.testing.assert_close(w.norm(dim=1), torch.ones(n, dtype=w.dtype))
    cos = (w @ w.T).abs() - torch.eye(n, dtype=w.dtype)
    assert cos.max() < 0.9, cos.max()                          # no two filters (nearly) parallel
    first = min(n, c * (p * p - 1))                            # the first cycle is the orthonormal DCT basis
    torch.testing.assert_close(w[:first] @ w[:first].T, torch.eye(first, dtype=w.dtype), atol=1e-12, rtol=0)
    assert torch.equal(w, dct_filters(n, p, c))                # deterministic


def test_shipped_ica_grey_shape_starts_without_duplicates():
    e = OvercompleteICA(1, 7, 64, init="dct")
    w = e.whitened_filters().reshape(64, -1).double()
    d = torch.cdist(w, w) + 10 * torch.eye(64, dtype=w.dtype)
    assert d.min() > 0.3


@pytest.mark.parametrize("normalise", [True, False])
def test_dsm_loss_equals_its_autograd_definition(normalise):
    """½‖∇E(x + σε) − ε/σ‖² with ∇E by autograd of the energy, same draws, float64; the
    parameter gradients agree too (the closed-form score trains like the definition)."""
    torch.manual_seed(3)
    e = FieldOfExperts(1, 3, 5, whitening="zca", normalise=normalise, init="random").double()
    e.fit_whitening(correlated_patches(300, 1, 3, seed=1))
    with torch.no_grad():
        e.alpha_raw.add_(0.3 * torch.randn_like(e.alpha_raw))
    x, sigma = correlated_patches(4, 1, 6, seed=2), 0.2
    got = dsm_loss(e, x, sigma, torch.Generator().manual_seed(7))
    eps = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(7))
    xn = (x + sigma * eps).requires_grad_(True)
    (score,) = torch.autograd.grad(e(xn).sum(), xn, create_graph=True)
    want = 0.5 * (score - eps / sigma).flatten(1).pow(2).sum(1).mean()
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    params = [p for p in e.parameters() if p.requires_grad]
    for a, b in zip(torch.autograd.grad(got, params), torch.autograd.grad(want, params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
