"""Energies E(x) = −log p(x) + c on images or feature maps."""
