"""Energies E(x) = −log p(x) + c on images or feature maps: handcrafted (TV^β, α-norm) and
learned patch energies (field of experts, over-complete ICA, EPLL's Gaussian mixture) with
their score-matching losses, MAP denoising and storage."""

from preimage.priors.alpha import AlphaNormPrior, alpha_norm, alpha_norm_grad
from preimage.priors.foe import FieldOfExperts
from preimage.priors.gmm import GMMPatchPrior
from preimage.priors.ica import OvercompleteICA
from preimage.priors.learned import PatchEnergy
from preimage.priors.prune import expert_strength, prune_experts
from preimage.priors.store import LoadedPrior, list_priors, load_prior, save_prior
from preimage.priors.tv import TVPrior, tv_beta, tv_beta_grad
from preimage.priors.whitening import Whitening

__all__ = ["AlphaNormPrior", "FieldOfExperts", "GMMPatchPrior", "LoadedPrior", "OvercompleteICA", "PatchEnergy",
           "TVPrior", "Whitening", "alpha_norm", "alpha_norm_grad", "expert_strength", "list_priors", "load_prior",
           "prune_experts", "save_prior", "tv_beta", "tv_beta_grad"]
