"""Optimisation engine: objectives, optimisers and schedules, metrics."""
