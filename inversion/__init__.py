"""Optimisation engine: objectives, optimisers and schedules, metrics."""

from inversion.engine import InversionResult, StepInfo, invert
from inversion.errors import DivergenceError
from inversion.init import X0_SIGMA, random_init
from inversion.masks import feature_mask
from inversion.objective import Evaluation, Objective
from inversion.optimisers import LBFGS, OPTIMISERS, Adam, AdagradMomentum, MomentumSchedule, Optimiser, expand_schedule
from inversion.terms import ActivationMax, Caricature, FeatureMatch, PriorTerm, Term
from inversion.transforms import Box, Jitter

__all__ = [
    "LBFGS", "OPTIMISERS", "X0_SIGMA", "ActivationMax", "Adam", "AdagradMomentum", "Box", "Caricature", "DivergenceError",
    "Evaluation", "FeatureMatch", "InversionResult", "Jitter", "MomentumSchedule", "Objective", "Optimiser",
    "PriorTerm", "StepInfo", "Term", "expand_schedule", "feature_mask", "invert", "random_init",
]
