"""Base class of learned patch energies (ARCHITECTURE.md, "Prior / energy").

A :class:`PatchEnergy` scores every overlapping ``patch_size`` × ``patch_size`` patch of an
image or of any (B, C, H, W) feature map and sums: E(z) = Σ_patches e(P z) (Roth & Black 2005,
Eq. 1 for the field of experts; Zoran & Weiss 2011, Eq. 2 for EPLL). Patches are "valid"
ones (no padding), so a (B, C, p, p) input is exactly one patch per item and the same
object scores a patch, an image or a whole map.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from preimage.representations.errors import PreimageError


class PatchEnergy(nn.Module, ABC):
    """E(z) = −log p(z) + c summed over every overlapping patch; one value per batch item.

    Subclasses implement :meth:`forward` (autograd-differentiable in z and in the
    parameters), :meth:`value_and_grad` (closed-form ∂E/∂z, no autograd through z) and
    :meth:`hparams` (the constructor's keyword arguments, JSON-able).
    """

    kind: ClassVar[str]

    def __init__(self, channels: int, patch_size: int) -> None:
        super().__init__()
        if channels < 1 or patch_size < 1:
            raise PreimageError(f"a patch energy needs channels ≥ 1 and patch_size ≥ 1, got {channels} and {patch_size}")
        self.channels, self.patch_size = int(channels), int(patch_size)

    @property
    def dim(self) -> int:
        """Length of a flattened patch: channels · patch_size²."""
        return self.channels * self.patch_size ** 2

    def check_input(self, z: Tensor) -> None:
        """One clear error for a wrong shape: (B, channels, H ≥ p, W ≥ p)."""
        p = self.patch_size
        if z.dim() != 4 or z.shape[1] != self.channels:
            raise PreimageError(f"{type(self).__name__} scores (B, {self.channels}, H, W) inputs, got {tuple(z.shape)}; "
                                f"use a prior trained on {z.shape[1] if z.dim() == 4 else '?'}-channel data")
        if z.shape[2] < p or z.shape[3] < p:
            raise PreimageError(f"input of size {z.shape[2]}×{z.shape[3]} is smaller than the prior's "
                                f"{p}×{p} patches; give an input of at least {p}×{p}")

    @abstractmethod
    def forward(self, z: Tensor) -> Tensor:
        """Energy of each batch item, (B,)."""

    @abstractmethod
    def value_and_grad(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(E(z) (B,), ∂E/∂z (B, C, H, W)) in closed form."""

    def grad(self, z: Tensor) -> Tensor:
        """∂E/∂z in closed form."""
        return self.value_and_grad(z)[1]

    def score(self, z: Tensor) -> Tensor:
        """The model's score ∇_z log p(z) = −∂E/∂z (Hyvärinen 2005, Eq. 1)."""
        return -self.value_and_grad(z)[1]

    def fit_whitening(self, patches: Tensor) -> None:
        """Fit the data-dependent preprocessing from (N, C, p, p) patches (no-op by default)."""
        self.check_patches(patches)

    def check_patches(self, patches: Tensor) -> None:
        p = self.patch_size
        if patches.dim() != 4 or tuple(patches.shape[1:]) != (self.channels, p, p):
            raise PreimageError(f"expected patches of shape (N, {self.channels}, {p}, {p}), got {tuple(patches.shape)}; "
                                f"extract patches of the prior's channels and patch size")

    @abstractmethod
    def hparams(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-able): ``type(self)(**self.hparams())`` rebuilds it."""


def patches_of(z: Tensor, patch_size: int) -> Tensor:
    """Every overlapping patch: (B, C, H, W) → (B, L, C·p·p), channel-major like ``nn.Unfold``."""
    return torch.nn.functional.unfold(z, patch_size).transpose(1, 2)


def fold_patches(g: Tensor, size: tuple[int, int], patch_size: int) -> Tensor:
    """Adjoint of :func:`patches_of`: (B, L, C·p·p) → (B, C, H, W), overlapping entries summed."""
    return torch.nn.functional.fold(g.transpose(1, 2), size, patch_size)
