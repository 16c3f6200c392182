"""Shipped learned priors (see README.md here for the command that reproduces each)."""
