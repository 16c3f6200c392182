"""The forward operations of a representation up to a tap, and their output shapes.

An inverse network mirrors the forward network one operation at a time (Dosovitskiy &
Brox 2016; the thesis' modular inverters): one *stage* per forward operation — a
convolution with the ReLU after it, a pooling, an LRN, a SqueezeNet fire module, a
ResNet block — named by the layer at its output. Element-wise layers that keep the
shape (ReLU, batch norm, dropout) belong to the stage before them. Shallow
representations (HOG, DSIFT) are a single stage: one learned inverse of the whole map.

Shapes are read from the representation by a probe forward pass, never computed by
hand: CaffeNet's conv1 without padding and ceil-mode pooling make ×2 give 226, not 227.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from preimage.representations import Representation, TappedSequential
from preimage.representations.errors import PreimageError
from preimage.representations.hooked import HookedModel

# Shape-preserving element-wise modules: folded into the stage before them.
ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Sigmoid, nn.Tanh,
               nn.Dropout, nn.modules.batchnorm._BatchNorm, nn.Identity)


@dataclass(frozen=True)
class Shape:
    """(channels, height, width) of one stage's output for one input size."""

    channels: int
    height: int
    width: int


def _chain_stages(rep: TappedSequential, layer: str) -> list[str]:
    names = rep.layers[: rep.layers.index(layer) + 1]
    modules = dict(zip(rep.layers, rep._all_modules))
    stages: list[str] = []
    for n in names:
        if stages and isinstance(modules[n], ELEMENTWISE):
            stages[-1] = n  # conv1 + relu1: the stage ends at relu1
        else:
            stages.append(n)
    if stages[-1] != layer:  # the tap is mid-stage (never: a stage ends at each name)
        stages.append(layer)  # pragma: no cover
    return stages


def _hooked_stages(rep: HookedModel, layer: str) -> list[str]:
    """Siblings executed before ``layer`` in each of its ancestor containers, then ``layer``
    (ResNet ``layer3.1.conv2``: conv1 … layer2, layer3.0, layer3.1.conv1 … layer3.1.conv2)."""
    parts = layer.split(".")
    ancestors = {".".join(parts[:i]) for i in range(len(parts))}  # "" is the model itself
    modules = dict(rep.model.named_modules())
    order = rep.layers[: rep.layers.index(layer) + 1]
    stages: list[str] = []
    for n in order:
        parent = n.rpartition(".")[0]
        if n in ancestors or parent not in ancestors:
            continue
        if stages and isinstance(modules[n], ELEMENTWISE) and n != layer:
            stages[-1] = n
        else:
            stages.append(n)
    return stages


def stage_names(rep: Representation, layer: str) -> list[str]:
    """The layers ending each forward operation from the image to ``layer`` (shallow first)."""
    rep.check_layer(layer)
    if isinstance(rep, TappedSequential):
        return _chain_stages(rep, layer)
    if isinstance(rep, HookedModel):
        return _hooked_stages(rep, layer)
    return [layer]  # shallow representation: one inverse of the whole map


def tapped(rep: Representation, names: list[str]) -> Representation:
    """The same network with taps at ``names`` (sharing its modules)."""
    if list(rep.taps) == list(names):
        return rep
    if hasattr(rep, "with_taps"):
        return rep.with_taps(names)
    if len(names) == 1 and names[0] in rep.taps:
        return rep
    raise PreimageError(f"{rep.name} cannot be re-tapped at {', '.join(names)}")  # pragma: no cover


def probe_shapes(rep: Representation, stages: list[str], size: tuple[int, int]) -> list[Shape]:
    """Output shape of every stage for an input of ``size`` = (H, W), image first:
    ``[image, stage_1, …, stage_L]``, from one forward pass of zeros."""
    h, w = size
    x = torch.zeros(1, rep.convention.channels, h, w)
    rep.check_input(x, stages[-1])
    with torch.no_grad():
        feats = tapped(rep, stages)(x)
    out = [Shape(rep.convention.channels, h, w)]
    for n in stages:
        f = feats[n]
        if f.dim() != 4:
            raise PreimageError(f"layer {n} of {rep.name} has no spatial map; invert a convolutional layer")
        out.append(Shape(int(f.shape[1]), int(f.shape[2]), int(f.shape[3])))
    return out
