"""Every learned energy and variant, fitted on small correlated data, in float64 (shared by the tests)."""

from __future__ import annotations

import torch

from preimage.priors import FieldOfExperts, GMMPatchPrior, OvercompleteICA


def autograd_value_and_grad(energy, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(energy(z), ∂Σenergy(z)/∂z) by autograd: the reference every closed form is checked against.
    ``energy``: any callable (B, …) → (B,)."""
    zz = z.clone().requires_grad_(True)
    e = energy(zz)
    (g,) = torch.autograd.grad(e.sum(), zz)
    return e.detach(), g


def correlated_patches(n: int, channels: int, p: int, seed: int = 0) -> torch.Tensor:
    """Smooth-ish random patches: white noise mixed by a random matrix plus a random DC offset."""
    g = torch.Generator().manual_seed(seed)
    d = channels * p * p
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / d ** 0.5
    x = torch.randn(n, d, generator=g, dtype=torch.float64) @ mix.T
    x = x + torch.randn(n, 1, generator=g, dtype=torch.float64)
    return x.reshape(n, channels, p, p)


LINEAR_SPECS = [
    ("foe-full-zca", lambda: FieldOfExperts(3, 3, 7, variant="full", whitening="zca")),
    ("foe-full-pca", lambda: FieldOfExperts(2, 3, 5, variant="full", whitening="pca", init="random")),
    ("foe-full-raw", lambda: FieldOfExperts(1, 4, 6, variant="full", whitening=None)),
    ("foe-channelwise", lambda: FieldOfExperts(4, 3, 3, variant="channelwise", whitening="zca")),
    ("foe-separable", lambda: FieldOfExperts(4, 3, 5, variant="separable", whitening="pca")),
    ("foe-free-norm", lambda: FieldOfExperts(1, 3, 4, whitening="zca", normalise=False)),
    ("ica-logcosh", lambda: OvercompleteICA(3, 3, 9, G="logcosh", whitening="zca")),
    ("ica-logistic-pca", lambda: OvercompleteICA(1, 5, 12, G="logistic", whitening="pca")),
    ("ica-channelwise", lambda: OvercompleteICA(3, 2, 2, variant="channelwise", whitening="pca")),
    ("ica-separable", lambda: OvercompleteICA(5, 3, 4, variant="separable", whitening="zca")),
]


def make_linear(name: str):
    """A fitted linear-expert energy (random filters and α ≠ 1) from :data:`LINEAR_SPECS`."""
    torch.manual_seed(len(name))
    e = dict(LINEAR_SPECS)[name]().double()
    e.fit_whitening(correlated_patches(400, e.channels, e.patch_size))
    with torch.no_grad():
        e.alpha_raw.add_(0.5 * torch.randn_like(e.alpha_raw))
    return e


def make_gmm(channels: int = 1, p: int = 3, k: int = 3):
    return GMMPatchPrior.fit(correlated_patches(300, channels, p, seed=3), n_components=k, reg_covar=1e-4,
                             max_iter=10, seed=0).double()


LINEAR = [n for n, _ in LINEAR_SPECS]
ALL = LINEAR + ["gmm-grey", "gmm-rgb"]


def make(name: str):
    if name == "gmm-grey":
        return make_gmm(1, 3, 3)
    if name == "gmm-rgb":
        return make_gmm(3, 2, 2)
    return make_linear(name)
