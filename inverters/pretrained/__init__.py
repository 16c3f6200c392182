"""Shipped inverse models (see README.md here for the command that reproduces each)."""
