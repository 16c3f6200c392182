"""``PatchDataModule``: training and held-out patches for learning priors, from photos
or from a layer's feature maps (see :mod:`preimage.train.fit.patches`). Every option is a
constructor argument, so configs, the command line (``--data.patch_size 8``) and Python
share one vocabulary.

Both loaders yield ``(patches, indices)``: each patch with its index in the training (or
held-out) set, from which a score prior draws its noise (:mod:`preimage.train.fit.prior`).
Under DDP, see :meth:`PatchDataModule.train_dataloader`."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from preimage.representations.errors import PreimageError
from preimage.train.fit import patches as P

IMAGE_PATCH_SIZE = 8


class PatchDataModule(pl.LightningDataModule):
    """Patches (N, C, p, p) cut from ``images`` (files, folders or bundled photos).

    Args:
        images: training photos: bundled names, image files or folders (one, or a list); the
            held-out evaluation photos (coffee, china, grace_hopper) are refused, under any
            name, unless ``allow_held_out``.
        grey: image patches in grey (ITU-R 601 luma) instead of RGB.
        representation: e.g. ``squeezenet``; patches are then cut from the feature
            maps of ``layer``, computed through the frozen network.
        layer: the representation's layer (``conv1``, ``fire3``, …).
        weights: the representation's weights (default: its own).
        patch_size: side of a patch; default 8 for images and, for feature maps, the
            layer's receptive field in the layer below (3 for SqueezeNet's conv1/fire).
        n_train: training patches drawn (seeded) from the training part of the maps.
        n_val: held-out patches, from the right-hand ``val_fraction`` of every map.
        val_fraction: share of each map's width held out.
        batch_size: patches per training step.
        seed: seed of the patch positions and of their order (``seed + 1``).
        allow_held_out: permit training on the evaluation photos.

    ``global_order`` (not an option: :class:`~preimage.train.fit.prior.PriorModule` sets it for
    score priors) makes the training order the same for any number of processes; without it
    one process keeps torch's seeded shuffle, the order the shipped FoE / ICA priors were
    trained with (see :meth:`train_dataloader`).
    """

    def __init__(self, images: list[str] | str | None = None, grey: bool = False, representation: str | None = None,
                 layer: str | None = None, weights: str | None = None, patch_size: int | None = None,
                 n_train: int = 50_000, n_val: int = 5_000, val_fraction: float = 0.2, batch_size: int = 256,
                 seed: int = 0, allow_held_out: bool = False) -> None:
        super().__init__()
        if patch_size is not None and patch_size < 1:
            raise PreimageError(f"patch_size must be at least 1, got {patch_size}")
        if not 0.0 < val_fraction < 1.0:
            raise PreimageError(f"val_fraction must lie in (0, 1), got {val_fraction}")
        if n_train < 1 or n_val < 1 or batch_size < 1:
            raise PreimageError("n_train, n_val and batch_size must be positive")
        self.images = [images] if isinstance(images, str) else list(images) if images is not None \
            else list(P.TRAIN_IMAGES)
        self.grey, self.representation, self.layer, self.weights = grey, representation, layer, weights
        self.patch_size_arg = patch_size
        self.n_train, self.n_val, self.val_fraction = n_train, n_val, val_fraction
        self.batch_size, self.seed, self.allow_held_out = batch_size, seed, allow_held_out
        self.train_patches: Tensor | None = None
        self.val_patches: Tensor | None = None
        self.patch_size: int | None = patch_size
        self.channels: int | None = None
        self.global_order = False

    def setup(self, stage: str | None = None) -> None:
        """Load the maps (through the frozen representation if any) and draw the patches."""
        if self.train_patches is not None:
            return
        source = P.load_maps(self.images, self.grey, self.representation, self.layer, self.weights,
                             self.allow_held_out)
        p = self.patch_size_arg
        if p is None:
            if self.representation is None:
                p = IMAGE_PATCH_SIZE
            else:
                from preimage.representations import build_representation

                p = P.default_patch_size(build_representation(self.representation, taps=[self.layer],
                                                              weights=self.weights), self.layer)
        P.check_fits(source, p, self.val_fraction)
        g = torch.Generator().manual_seed(self.seed)
        self.train_patches = P.sample_patches(source, p, self.n_train, "train", self.val_fraction, g)
        self.val_patches = P.sample_patches(source, p, self.n_val, "val", self.val_fraction, g)
        self.patch_size, self.channels = p, source.channels
        self.image_names = source.names

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches of ``batch_size`` patches per process.

        With ``global_order`` the sampler is a :class:`~torch.utils.data.DistributedSampler`
        (``shuffle``, seed ``seed + 1``, ``drop_last``) over ``trainer.world_size`` processes —
        ``num_replicas=1`` in one process — which Lightning keeps and calls ``set_epoch`` on
        every epoch. Process r takes every W-th entry of the epoch's permutation from r, so the
        global batch at step t is the contiguous ``perm[t·B:(t+1)·B]`` (B = W · ``batch_size``)
        whatever W is: ``batch_size=16`` on one device and 8 on each of two see the same
        patches at every step. Without it, one process shuffles with a seeded torch generator
        and under DDP Lightning puts its own DistributedSampler (seeded by ``seed_everything``)
        in its place."""
        n = len(self.train_patches)
        data = TensorDataset(self.train_patches, torch.arange(n))
        if not self.global_order:
            g = torch.Generator().manual_seed(self.seed + 1)
            return DataLoader(data, batch_size=self.batch_size, shuffle=True, drop_last=n > self.batch_size,
                              generator=g)
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=self.seed + 1,
                                     drop_last=True)
        return DataLoader(data, batch_size=self.batch_size, sampler=sampler, drop_last=len(sampler) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        """The held-out patches in order (under DDP Lightning splits them over the processes,
        repeating a few to make the shares equal when ``n_val`` is not a multiple of them)."""
        data = TensorDataset(self.val_patches, torch.arange(len(self.val_patches)))
        return DataLoader(data, batch_size=max(self.batch_size, 1024))

    def meta(self) -> dict[str, Any]:
        """What the patches are (stored with an exported prior)."""
        return {"representation": self.representation, "layer": self.layer, "weights": self.weights,
                "grey": self.grey, "patch_size": self.patch_size, "channels": self.channels,
                "images": list(self.images)}
