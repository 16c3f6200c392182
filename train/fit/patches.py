"""Patches for learning priors: from photos (colour or grey) or from the feature maps of
any layer of any representation, with a held-out split that never overlaps training.

Each map is split by columns: the right-hand ``val_fraction`` of its width is held out,
the rest is for training, so no held-out patch shares a pixel with a training patch.
Positions are drawn uniformly (seeded) inside each part, in proportion to its number of
valid positions. Feature maps are computed through the frozen representation, batched
per image, without gradients; the representation is never trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from preimage.representations.errors import PreimageError
# the photos shipped priors are trained on, those kept for evaluation, the grey conversion:
from preimage.representations.images import TRAIN_PHOTOS as TRAIN_IMAGES
from preimage.representations.images import refuse_held_out, to_grey


def default_patch_size(representation, layer: str) -> int:
    """The receptive field of ``layer`` in the layer below it: the extent of the last
    spatial module (conv, pool or Fire block) at or before ``layer``, in units of the map
    it reads (3 for SqueezeNet's conv1 and fire blocks, 3 for its pools, 5 for CaffeNet's
    conv2); pointwise layers (ReLU, LRN) inherit the module before them."""
    from preimage.representations.receptive import window_of

    modules = getattr(representation, "_all_modules", None)
    if modules is None:  # not a chain (torchvision hooks, HOG): the field of one unit
        return min(representation.receptive_field(layer).size, 3)
    for m in reversed(modules[: representation.layers.index(layer) + 1]):
        w = window_of(m)
        if w is not None:
            return w.extent
    return 1


@dataclass
class MapSource:
    """The maps patches are cut from: ``maps`` list of (C, H, W), one per image."""

    names: list[str]
    maps: list[Tensor]
    representation: str | None = None
    layer: str | None = None
    weights: str | None = None
    grey: bool = False

    @property
    def channels(self) -> int:
        return int(self.maps[0].shape[0])


def load_maps(images: Sequence[str], grey: bool = False, representation: str | None = None,
              layer: str | None = None, weights: str | None = None, allow_held_out: bool = False) -> MapSource:
    """Photos (files, folders, bundled names) → RGB/grey images in [0, 1], or the feature
    maps of ``layer`` of ``representation`` (computed with no gradient, one image at a time)."""
    from preimage.representations import resolve_images

    if not images:
        raise PreimageError("no training images given; pass --data.images with files, folders or bundled photos")
    loaded = resolve_images(images)
    if not allow_held_out:  # by pixel content: a renamed copy of coffee is still coffee
        refuse_held_out(loaded, "data.images", "train on other photos (or pass --data.allow_held_out true to "
                                               "train on them anyway)")
    names = [n for n, _ in loaded]
    if representation is None:
        if layer is not None:
            raise PreimageError(f"layer {layer!r} given without a representation; pass --data.representation "
                                "(e.g. squeezenet) or leave out --data.layer for image patches")
        maps = [to_grey(img) if grey else img for _, img in loaded]
        return MapSource(names, maps, grey=grey)
    from preimage.representations import build_representation

    if layer is None:
        raise PreimageError(f"no layer given for {representation}; pass --data.layer (e.g. conv1)")
    rep = build_representation(representation, taps=[layer], weights=weights)
    maps = []
    with torch.inference_mode():
        for name, img in loaded:
            x = rep.convention.preprocess(img[None])
            rep.check_input(x, layer)
            maps.append(rep(x)[layer][0].float().clone())
    return MapSource(names, maps, representation, layer, weights)


def split_column(width: int, p: int, val_fraction: float) -> int:
    """Column where the held-out part starts (train: [0, split), held out: [split, W)); the
    held-out part is at least ``p`` wide (the inverter data splits its photos the same way)."""
    val = max(p, int(round(val_fraction * width))) if val_fraction > 0 else 0
    return width - val


def check_fits(source: MapSource, p: int, val_fraction: float) -> None:
    """One clear error if a ``p``×``p`` patch does not fit the maps (or their split)."""
    what = f"layer {source.layer} of {source.representation}" if source.layer else "image"
    for name, m in zip(source.names, source.maps):
        h, w = m.shape[-2:]
        if p > min(h, w):
            raise PreimageError(f"patch of {p}x{p} is larger than the {w}x{h} map of {what} for {name}; "
                                f"use a patch size of at most {min(h, w)} or a larger image")
    split_ok = [min(m.shape[-2], split_column(m.shape[-1], p, val_fraction)) >= p for m in source.maps]
    if not any(split_ok):
        raise PreimageError(f"maps of {what} are too narrow to hold out {val_fraction:.0%} of their width and "
                            f"still give {p}x{p} training patches; use a smaller patch or val_fraction")


def sample_patches(source: MapSource, p: int, n: int, part: str, val_fraction: float,
                   generator: torch.Generator) -> Tensor:
    """``n`` random ``p``×``p`` patches (N, C, p, p) from the training (``part='train'``) or
    held-out (``'val'``) columns of every map, in proportion to each part's positions."""
    regions = []
    for m in source.maps:
        h, w = m.shape[-2:]
        split = split_column(w, p, val_fraction)
        lo, hi = (0, split) if part == "train" else (split, w)
        n_pos = max(0, h - p + 1) * max(0, hi - lo - p + 1)
        regions.append((m, lo, n_pos))
    total = sum(r[2] for r in regions)
    if total == 0:
        raise PreimageError(f"no {p}x{p} {part} patch fits the maps; use a smaller patch size")
    counts = torch.tensor([r[2] for r in regions], dtype=torch.float64)
    which = torch.multinomial(counts / total, n, replacement=True, generator=generator)
    ar = torch.arange(p)
    out = torch.empty(n, source.channels, p, p)
    for i, (m, lo, n_pos) in enumerate(regions):
        idx = (which == i).nonzero().flatten()
        if len(idx) == 0:
            continue
        width = m.shape[-1]
        cols = (split_column(width, p, val_fraction) if part == "train" else width) - lo - p + 1
        pos = torch.randint(0, n_pos, (len(idx),), generator=generator)
        ys, xs = pos // cols, lo + pos % cols
        # m[:, y+i, x+j] for every patch → (C, n_i, p, p) → (n_i, C, p, p)
        block = m[:, ys[:, None, None] + ar[None, :, None], xs[:, None, None] + ar[None, None, :]]
        out[idx] = block.permute(1, 0, 2, 3)
    return out
