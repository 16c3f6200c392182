"""Energies E(x) = −log p(x) + c on images or feature maps."""

from preimage.priors.alpha import AlphaNormPrior, alpha_norm, alpha_norm_grad
from preimage.priors.tv import TVPrior, tv_beta, tv_beta_grad

__all__ = ["AlphaNormPrior", "TVPrior", "alpha_norm", "alpha_norm_grad", "tv_beta", "tv_beta_grad"]
