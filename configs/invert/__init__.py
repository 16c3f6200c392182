"""Inversion presets (YAML): the papers' settings as data."""
