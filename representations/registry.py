"""``build_representation(name, taps, weights)``: every representation by name.

Built-in CNNs: ``caffenet`` (the paper's CNN-A), ``alexnet``, ``vgg16``,
``squeezenet`` (1.1); any other torchvision classification model by its torchvision
name (taps are dotted module paths); shallow representations registered by
:func:`register`. Weights (``weights=``): a torchvision weights name
(``IMAGENET1K_V1``, ``DEFAULT``; read from ``$TORCH_HOME/hub/checkpoints``), a local
``.pth``/``.pt``/``.safetensors`` state dict (torchvision's keys or ours), a MatConvNet
``.mat`` model, ``ndf`` (SqueezeNet 1.1 ImageNet weights shipped in the ndf package)
or ``random`` (seeded). Nothing is ever downloaded.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from preimage.representations import networks, weights as W
from preimage.representations.base import (CAFFE_CONVENTION, TORCHVISION_CONVENTION, InputConvention,
                                  Representation)
from preimage.representations.errors import PreimageError
from preimage.representations.sequential import TappedSequential

MATCONVNET_CONVENTION = InputConvention(
    scale=255.0, mean=(122.74, 114.94, 101.64),
    description="MatConvNet: 0–255, RGB, minus the mean of the model's averageImage",
)


@dataclass(frozen=True)
class ChainFamily:
    """How to build one of the built-in chain networks."""

    torchvision_name: str | None          # None: defined here (CaffeNet)
    to_chain: Callable[[nn.Module | None], networks.Chain]
    default_weights: str | None
    input_size: int
    convention: InputConvention           # for torchvision-layout weights / random init


FAMILIES: dict[str, ChainFamily] = {
    "caffenet": ChainFamily(None, lambda _: networks.caffenet_chain(), None, 227, MATCONVNET_CONVENTION),
    "alexnet": ChainFamily("alexnet", networks.alexnet_chain, "IMAGENET1K_V1", 224, TORCHVISION_CONVENTION),
    "vgg16": ChainFamily("vgg16", networks.vgg16_chain, "IMAGENET1K_V1", 224, TORCHVISION_CONVENTION),
    "squeezenet": ChainFamily("squeezenet1_1", networks.squeezenet_chain, W.NDF, 227, TORCHVISION_CONVENTION),
}
ALIASES = {"cnn-a": "caffenet", "squeezenet1_1": "squeezenet", "vgg": "vgg16"}

_EXTRA: dict[str, Callable[..., Representation]] = {}


def register(name: str, factory: Callable[..., Representation]) -> None:
    """Add a representation factory ``factory(taps=..., weights=...)`` under ``name``."""
    _EXTRA[name] = factory


def model_names() -> list[str]:
    """Built-in and registered names (any torchvision model name works as well)."""
    _load_shallow()
    return list(FAMILIES) + list(_EXTRA)


def _load_shallow() -> None:
    from preimage.representations import shallow  # noqa: F401  (registers hog, dsift, …)


def build_representation(name: str, taps: Sequence[str] | str | None = None,
                         weights: str | None = None) -> Representation:
    """Build a frozen, eval-mode, truncated representation."""
    _load_shallow()
    key = ALIASES.get(name.lower(), name.lower())
    if key in FAMILIES:
        return _build_chain(key, FAMILIES[key], taps, weights)
    if key in _EXTRA:
        return _EXTRA[key](taps=taps, weights=weights)
    import torchvision.models

    if key in torchvision.models.list_models(module=torchvision.models):
        from preimage.representations.hooked import build_torchvision

        return build_torchvision(key, taps, weights)
    raise PreimageError(
        f"unknown model {name!r}; choose one of {', '.join(model_names())} "
        "or a torchvision classification model name such as resnet18"
    )


def _torchvision_model(family: ChainFamily) -> nn.Module | None:
    if family.torchvision_name is None:
        return None
    if family.torchvision_name == "squeezenet1_1":  # torchvision's layout, without importing torchvision
        from preimage.representations.squeezenet import SqueezeNet11

        return SqueezeNet11()
    import torchvision.models

    return torchvision.models.get_model(family.torchvision_name, weights=None)


def _build_chain(key: str, family: ChainFamily, taps, weights: str | None) -> TappedSequential:
    spec = weights if weights is not None else family.default_weights
    if spec is None:
        raise PreimageError(
            f"{key} has no built-in weights: pass --weights PATH to imagenet-caffe-alex.mat "
            "(MatConvNet's model that the paper inverted) or a state dict, or --weights random"
        )
    convention, size = family.convention, family.input_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # random init is seeded: same name, same network
        tv = _torchvision_model(family)
        chain = family.to_chain(tv)
    TappedSequential(key, chain, taps, convention, size)  # unknown taps fail before any file is read
    if spec == W.RANDOM:
        pass
    elif spec == W.NDF:
        if key != "squeezenet":
            raise PreimageError(f"ndf weights exist only for squeezenet, not {key}; pass --weights PATH or random")
        _assign(chain, W.load_ndf_squeezenet(), key, taps)
        convention = CAFFE_CONVENTION
    elif spec.lower().endswith(".mat"):
        mat = W.load_matconvnet(spec)
        _assign(chain, mat.params, key, taps)
        convention = replace(MATCONVNET_CONVENTION, mean=mat.mean_rgb or MATCONVNET_CONVENTION.mean)
        size = mat.image_size or size
    elif spec.lower().endswith(W.STATE_SUFFIXES) or Path(spec).is_file():
        state = W.load_state_file(spec)
        if tv is not None and set(state) == set(tv.state_dict()):
            W.load_into(tv, state, key)  # torchvision's layout: convert again after loading
            chain = family.to_chain(tv)
        else:
            _load_chain_state(chain, state, key, taps)
    else:
        if tv is None:
            raise PreimageError(f"{key} has no torchvision weights; pass --weights PATH (.mat or state dict) or random")
        tv.load_state_dict(W.torchvision_state(family.torchvision_name, spec))
        chain = family.to_chain(tv)
    return TappedSequential(key, chain, taps, convention, size)


def _needed(chain: networks.Chain, taps) -> list[str]:
    """Names of the chain's layers up to the deepest requested tap (all if taps is None)."""
    names = [n for n, _ in chain]
    wanted = names if taps is None else ([taps] if isinstance(taps, str) else list(taps))
    deepest = max((names.index(t) for t in wanted if t in names), default=len(names) - 1)
    return names[: deepest + 1]


def _assign(chain: networks.Chain, params: dict[str, W.LayerParams], key: str, taps) -> None:
    """Copy named layer parameters (MatConvNet / Caffe names) into the chain's convs;
    every conv up to the deepest tap must be in the file."""
    modules = dict(chain)
    for name, p in params.items():
        layer, _, sub = name.partition("/")
        if layer not in modules:
            continue  # e.g. MatConvNet's softmax/prob layers
        m = modules[layer]
        if sub:  # SqueezeNet Fire: fire2/squeeze1x1 → .squeeze, expand1x1, expand3x3
            m = getattr(m, "squeeze" if sub.startswith("squeeze") else sub)
        if not isinstance(m, nn.Conv2d) or tuple(m.weight.shape) != tuple(p.weight.shape):
            have = tuple(m.weight.shape) if isinstance(m, nn.Conv2d) else type(m).__name__
            raise PreimageError(f"weights for layer {name} have shape {tuple(p.weight.shape)} but {key} "
                                f"expects {have}; give weights made for {key}")
        m.weight.data.copy_(p.weight)
        if p.bias is not None:
            m.bias.data.copy_(p.bias)
    needed = set(_needed(chain, taps))
    missing = [n for n, m in chain if n in needed and (isinstance(m, nn.Conv2d) or hasattr(m, "squeeze"))
               and n not in params and not any(k.startswith(n + "/") for k in params)]
    if missing:
        raise PreimageError(f"the weights file has no layer {missing[0]} (nor {len(missing) - 1} more) that "
                            f"{key} needs for the requested layers; give weights made for {key}")


def _load_chain_state(chain: networks.Chain, state: dict, key: str, taps) -> None:
    """Load a state dict saved from one of our representations (keys body.<layer>.*)."""
    state = {k.removeprefix("body."): v for k, v in state.items()}
    seq = nn.Sequential(OrderedDict(chain))
    result = W.load_into(seq, state, key, strict=False)
    names = [n for n, _ in chain]
    if result.unexpected_keys:
        raise PreimageError(f"weights file has keys {result.unexpected_keys[:3]} that {key} does not; "
                            f"give a state dict of torchvision's {key} or of this representation")
    wanted = names if taps is None else ([taps] if isinstance(taps, str) else list(taps))
    deepest = max((names.index(t) for t in wanted if t in names), default=len(names) - 1)
    missing = [k for k in result.missing_keys if names.index(k.split(".")[0]) <= deepest]
    if missing:
        raise PreimageError(f"weights file lacks {missing[:3]} needed for {key}; "
                            "give a state dict saved from a network reaching the requested layer")
