"""Comparison presets for ``preimage compare`` (YAML)."""
