"""Energies E(x) = −log p(x) + c on images or feature maps: handcrafted (TV^β, α-norm) and
learned patch energies (field of experts, over-complete ICA, EPLL's Gaussian mixture) with
their score-matching losses, MAP denoising and storage; and gradient-only score priors
(a denoiser D(z, σ), s = (D − z)/σ², trained by denoising score matching)."""

from preimage.priors.adapt import ScoreAffine, score_for_convention
from preimage.priors.alpha import AlphaNormPrior, alpha_norm, alpha_norm_grad
from preimage.priors.dsm import DSMLoss, dsm_score_loss, log_uniform_sigmas
from preimage.priors.foe import FieldOfExperts
from preimage.priors.gmm import GMMPatchPrior
from preimage.priors.ica import OvercompleteICA
from preimage.priors.learned import PatchEnergy
from preimage.priors.prune import expert_strength, prune_experts
from preimage.priors.registry import prior_classes, register_prior
from preimage.priors.score import ScoreDenoiser, ScorePrior, check_sigma, score_from_denoiser
from preimage.priors.store import LoadedPrior, list_priors, load_prior, save_prior
from preimage.priors.tv import TVPrior, tv_beta, tv_beta_grad
from preimage.priors.whitening import Whitening

__all__ = ["AlphaNormPrior", "DSMLoss", "FieldOfExperts", "GMMPatchPrior", "LoadedPrior", "OvercompleteICA",
           "PatchEnergy", "ScoreAffine", "ScoreDenoiser", "ScorePrior", "TVPrior", "Whitening", "alpha_norm",
           "alpha_norm_grad", "check_sigma", "dsm_score_loss", "expert_strength", "list_priors", "load_prior",
           "log_uniform_sigmas", "prior_classes", "prune_experts", "register_prior", "save_prior",
           "score_for_convention", "score_from_denoiser", "tv_beta", "tv_beta_grad"]
