"""Optimisation engine: objectives, optimisers and schedules, metrics."""

from preimage.inversion.engine import InversionResult, StepInfo, invert
from preimage.inversion.errors import DivergenceError
from preimage.inversion.init import X0_SIGMA, random_init
from preimage.inversion.langevin import LangevinSchedule, langevin
from preimage.inversion.masks import feature_mask
from preimage.inversion.memory import batch_bytes, format_bytes, keep_freed_memory, memory_limit
from preimage.inversion.objective import Evaluation, Objective
from preimage.inversion.optimisers import LBFGS, OPTIMISERS, Adam, AdagradMomentum, MomentumSchedule, Optimiser, expand_schedule
from preimage.inversion.score_term import ScoreTerm
from preimage.inversion.terms import ActivationMax, Caricature, FeatureMatch, PriorTerm, Term
from preimage.inversion.transforms import Box, Jitter

__all__ = [
    "LBFGS", "OPTIMISERS", "X0_SIGMA", "ActivationMax", "Adam", "AdagradMomentum", "Box", "Caricature", "DivergenceError",
    "Evaluation", "FeatureMatch", "InversionResult", "Jitter", "LangevinSchedule", "MomentumSchedule", "Objective",
    "Optimiser", "PriorTerm", "ScoreTerm", "StepInfo", "Term", "batch_bytes", "expand_schedule", "feature_mask",
    "format_bytes", "invert", "keep_freed_memory", "langevin", "memory_limit", "random_init",
]
