"""Learned inverse networks x̂ = g(Φ(x))."""
