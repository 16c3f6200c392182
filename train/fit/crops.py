"""Training data for inverse networks: random crops with horizontal flips from image
folders or the bundled photos, and fixed crops of held-out photos for validation.

Images are returned as RGB in [0, 1]; the LightningModule turns them into the
representation's input and computes the features on the fly (frozen, batched, no grad).
The bundled photos coffee, china and grace_hopper are held out by default and may never
be training images at the same time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from preimage.representations import resolve_images
from preimage.representations.errors import PreimageError

from preimage.representations.images import HELD_OUT_PHOTOS, TRAIN_PHOTOS  # noqa: E402


def load_scaled(specs: list[str], shorter_side: int) -> list[Tensor]:
    """Images (files, folders, bundled names) with the shorter side resized to ``shorter_side``."""
    out = []
    for _, img in resolve_images(specs):
        h, w = img.shape[-2:]
        s = shorter_side / min(h, w)
        size = (max(shorter_side, round(h * s)), max(shorter_side, round(w * s)))
        out.append(F.interpolate(img[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0])
    return out


class RandomCrops(Dataset):
    """``length`` crops of ``crop``² pixels: image, position and flip drawn from a seeded
    generator (index ``i`` always gives the same crop)."""

    def __init__(self, images: list[Tensor], crop: int, length: int, seed: int, flip: bool = True) -> None:
        small = [tuple(im.shape[-2:]) for im in images if min(im.shape[-2:]) < crop]
        if small:
            raise PreimageError(f"crop size {crop} exceeds an image of {small[0][1]}x{small[0][0]}; "
                                "use a smaller crop or a larger resize")
        self.images, self.crop, self.length, self.seed, self.flip = images, crop, length, seed, flip

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        im = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
        h, w = im.shape[-2:]
        y = int(torch.randint(h - self.crop + 1, (1,), generator=g))
        x = int(torch.randint(w - self.crop + 1, (1,), generator=g))
        out = im[:, y : y + self.crop, x : x + self.crop]
        if self.flip and bool(torch.rand(1, generator=g) < 0.5):
            out = out.flip(-1)
        return out.contiguous()


class FreshIndices(Sampler[int]):
    """``n`` new consecutive indices every epoch (0 … n−1, then n … 2n−1, …): every epoch
    sees new crops, and the sequence is the same for the same seed."""

    def __init__(self, n: int) -> None:
        self.n, self.start = n, 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        start, self.start = self.start, self.start + self.n
        return iter(range(start, start + self.n))


class InverterData(LightningDataModule):
    """Crops for training an inverter.

    ``images``: training images (bundled names, files or folders); ``val_images``: held
    out; ``crop``: side of the square crops; ``resize``: shorter side the photos are
    resized to first; ``steps_per_epoch`` batches of ``batch_size`` per epoch;
    ``val_crops``: fixed crops per held-out image.
    """

    def __init__(self, images: list[str] | None = None, val_images: list[str] | None = None, crop: int = 65,
                 resize: int = 256, batch_size: int = 16, steps_per_epoch: int = 100, val_crops: int = 8,
                 seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        self.images = list(images) if images is not None else list(TRAIN_PHOTOS)
        self.val_images = list(val_images) if val_images is not None else list(HELD_OUT_PHOTOS)
        both = set(self.images) & set(self.val_images)
        if both:
            raise PreimageError(f"{', '.join(sorted(both))} is both a training and a held-out image; "
                                "remove it from data.images or data.val_images")
        if crop < 1 or batch_size < 1 or steps_per_epoch < 1:
            raise PreimageError("crop, batch_size and steps_per_epoch must be positive")
        self.crop, self.resize, self.batch_size = int(crop), int(resize), int(batch_size)
        self.steps_per_epoch, self.val_crops = int(steps_per_epoch), int(val_crops)
        self.seed, self.num_workers = int(seed), int(num_workers)
        self.train_set: RandomCrops | None = None
        self.val_set: RandomCrops | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = RandomCrops(load_scaled(self.images, self.resize), self.crop, 2**62, self.seed)
            self.val_set = RandomCrops(load_scaled(self.val_images, self.resize), self.crop,
                                       self.val_crops * len(self.val_images), self.seed + 7919, flip=False)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, num_workers=self.num_workers,
                          sampler=FreshIndices(self.steps_per_epoch * self.batch_size))

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers)
