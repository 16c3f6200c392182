"""EPLL's GMM energy equals scikit-learn's −score_samples on mean-removed patches; MAP
denoising reaches a stationary point of its objective; EPLL's splitting and the MAP estimate
denoise a held-out photo crop better than the noisy input."""

import torch

from preimage.priors import FieldOfExperts, GMMPatchPrior
from preimage.priors.denoise import epll_denoise, map_denoise, map_objective
from preimage.priors.learned import patches_of

from learned_cases import correlated_patches


def test_gmm_energy_equals_sklearn_score_samples():
    from sklearn.mixture import GaussianMixture

    x = correlated_patches(500, 3, 2, seed=1)
    prior = GMMPatchPrior.fit(x, n_components=4, reg_covar=1e-4, max_iter=20, seed=0).double()
    flat = x.reshape(500, -1)
    v = (flat - flat.mean(1, keepdim=True)).numpy()
    gm = GaussianMixture(4, covariance_type="full", reg_covar=1e-4, max_iter=20, random_state=0).fit(v)
    ref = -torch.from_numpy(gm.score_samples(v[:50]))
    torch.testing.assert_close(prior(x[:50]), ref, rtol=1e-10, atol=1e-10)            # per patch
    # a patch and its DC-shifted copy have the same energy (the DC is left to the data term)
    torch.testing.assert_close(prior(x[:5] + 3.0), prior(x[:5]), rtol=1e-10, atol=1e-10)
    # the covariances the EPLL step uses are scikit-learn's
    torch.testing.assert_close(prior.covariances(), torch.from_numpy(gm.covariances_), rtol=1e-8, atol=1e-10)


def _grey(name: str) -> torch.Tensor:
    """A bundled photo as (1, 1, H, W) float64 grey in [0, 1] (ITU-R 601 luma)."""
    from preimage.representations.images import load_image

    rgb = load_image(name).double()
    rgb = rgb if rgb.dim() == 4 else rgb[None]
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)[None, :, None, None]
    return (rgb * w).sum(1, keepdim=True)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return (10 * torch.log10(1.0 / (a - b).pow(2).mean())).item()


def test_denoising_a_held_out_crop():
    train = _grey("camera")[..., 100:300, 100:300]
    p = patches_of(train, 5)[0].reshape(-1, 1, 5, 5)[::29]                   # ~1.3 k training patches
    gmm = GMMPatchPrior.fit(p, n_components=4, reg_covar=1e-5, max_iter=15, seed=0)
    clean = _grey("coffee")[..., 120:160, 200:240]                           # held-out photo
    sigma = 25 / 255
    y = clean + sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    noisy = _psnr(y, clean)
    epll = _psnr(epll_denoise(gmm, y, sigma, lam=1 / 25), clean)             # EPLL's λ = D/σ² ⇒ prior weight 1/D
    assert epll > noisy + 5.0, (noisy, epll)                                 # seen: 20.3 → 31.0 dB (K = 6)
    # MAP with a (hand-set) FoE: the L-BFGS result is a stationary point and beats the noisy input
    foe = FieldOfExperts(1, 5, 8, whitening="zca").double()
    foe.fit_whitening(p)
    x = map_denoise(foe, y, sigma, lam=0.05, steps=100)
    _, g = map_objective(foe, x, y, sigma, 0.05)
    _, g0 = map_objective(foe, y, y, sigma, 0.05)
    assert g.norm() < 1e-3 * g0.norm()
    assert _psnr(x, clean) > noisy + 1.0                                     # seen: 20.3 → 21.8 dB
