"""Training data for inverse networks: random crops with horizontal flips from image
folders or the bundled photos, and fixed crops of a validation split for model selection.

Images are returned as RGB in [0, 1]; the LightningModule turns them into the
representation's input and computes the features on the fly (frozen, batched, no grad).
Validation (``val/loss``: early stopping, the best checkpoint, the exported model) is scored
on the right-hand ``val_fraction`` of every training photo (the split of the prior data,
:mod:`preimage.train.fit.patches`), whose pixels training crops never touch, or on separate
``val_images``. The evaluation photos (coffee, china, grace_hopper) are never a training or
validation image, under any name (checked by pixel content).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from preimage.representations import resolve_images
from preimage.representations.errors import PreimageError
from preimage.representations.images import TRAIN_PHOTOS, pixel_digest, refuse_held_out
from preimage.train.fit.patches import split_column


def load_scaled(images: Sequence[tuple[str, Tensor]], shorter_side: int) -> list[Tensor]:
    """Loaded images with the shorter side resized to ``shorter_side``."""
    out = []
    for _, img in images:
        h, w = img.shape[-2:]
        s = shorter_side / min(h, w)
        size = (max(shorter_side, round(h * s)), max(shorter_side, round(w * s)))
        out.append(F.interpolate(img[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0])
    return out


def _as_list(images: Sequence[str] | str | None, default: Sequence[str] | None) -> list[str] | None:
    """One name, file or folder, or a list of them (``--data.images DIR`` or ``[a, b]``)."""
    if images is None:
        return None if default is None else list(default)
    return [images] if isinstance(images, str) else [str(i) for i in images]


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
    """Crops for training an inverter, and a validation split of the same photos.

    Args:
        images: training images: bundled photo names, image files or folders (one, or a list);
            default the six bundled training photos. The evaluation photos (coffee, china,
            grace_hopper) are refused, under any name.
        val_images: separate validation images (same forms); default none: the right-hand
            ``val_fraction`` of every training image is the validation split.
        val_fraction: share of each training image's width (after ``resize``) kept for
            validation when no ``val_images`` are given (at least one crop wide).
        crop: side of the square crops, in pixels.
        resize: shorter side every image is resized to first.
        batch_size: crops per training step.
        steps_per_epoch: training batches per epoch (each epoch draws new crops).
        val_crops: fixed validation crops per validation image.
        seed: seed of the crop positions and flips.
        num_workers: DataLoader worker processes.
    """

    def __init__(self, images: list[str] | str | None = None, val_images: list[str] | str | None = None,
                 val_fraction: float = 0.2, crop: int = 65, resize: int = 256, batch_size: int = 16,
                 steps_per_epoch: int = 100, val_crops: int = 8, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        self.images = _as_list(images, TRAIN_PHOTOS)
        self.val_images = _as_list(val_images, None)
        if not self.images:
            raise PreimageError("no training images given; pass --data.images with files, folders or bundled photos")
        if self.val_images is not None and not self.val_images:
            raise PreimageError("data.val_images is empty; give validation images or leave it out "
                                "(the right-hand data.val_fraction of every training image)")
        both = set(self.images) & set(self.val_images or ())
        if both:
            raise PreimageError(f"{', '.join(sorted(both))} is both a training and a validation image; "
                                "remove it from data.images or data.val_images")
        if self.val_images is None and not 0.0 < val_fraction < 1.0:
            raise PreimageError(f"data.val_fraction must lie in (0, 1), got {val_fraction}")
        if crop < 1 or batch_size < 1 or steps_per_epoch < 1 or val_crops < 1 or resize < 1:
            raise PreimageError("crop, resize, batch_size, steps_per_epoch and val_crops must be positive")
        self.val_fraction = float(val_fraction)
        self.crop, self.resize, self.batch_size = int(crop), int(resize), int(batch_size)
        self.steps_per_epoch, self.val_crops = int(steps_per_epoch), int(val_crops)
        self.seed, self.num_workers = int(seed), int(num_workers)
        self.train_set: RandomCrops | None = None
        self.val_set: RandomCrops | None = None

    def _load(self, specs: list[str], what: str) -> list[tuple[str, Tensor]]:
        loaded = resolve_images(specs)
        refuse_held_out(loaded, what, "train and validate on other photos (the default: "
                                      f"{', '.join(TRAIN_PHOTOS)}, validated on a split of each)")
        return loaded

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train = self._load(self.images, "data.images")
        scaled = load_scaled(train, self.resize)
        if self.val_images is None:  # columns [0, split) train, [split, W) validate: no shared pixel
            splits = [split_column(im.shape[-1], self.crop, self.val_fraction) for im in scaled]
            narrow = [n for (n, _), im, s in zip(train, scaled, splits) if min(s, im.shape[-2]) < self.crop]
            if narrow:
                raise PreimageError(f"{narrow[0]} is too narrow at --data.resize {self.resize} to keep "
                                    f"{self.val_fraction:.0%} of its width for validation and still give "
                                    f"{self.crop}x{self.crop} training crops; raise data.resize, lower data.crop, "
                                    "or give data.val_images")
            val = [im[..., s:] for im, s in zip(scaled, splits)]
            scaled = [im[..., :s] for im, s in zip(scaled, splits)]
        else:
            loaded = self._load(self.val_images, "data.val_images")
            same = {pixel_digest(img) for _, img in train} & {pixel_digest(img) for _, img in loaded}
            if same:
                raise PreimageError("data.val_images repeats a training image (the same pixels); validate on "
                                    "other photos or leave data.val_images out")
            val = load_scaled(loaded, self.resize)
        self.train_set = RandomCrops(scaled, self.crop, 2**62, self.seed)
        self.val_set = RandomCrops(val, self.crop, self.val_crops * len(val), self.seed + 7919, flip=False)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, num_workers=self.num_workers,
                          sampler=FreshIndices(self.steps_per_epoch * self.batch_size))

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers)
