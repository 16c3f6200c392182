"""Every inverter returns an image of exactly the input's shape: every tap of every built-in
network, both block types, shapes read from the representation (no training)."""

from dataclasses import replace

import pytest
import torch

from preimage.inverters import BLOCKS, Inverter, build_inverter, stage_names, stage_sizes
from preimage.representations import build_representation

NETWORKS = ["squeezenet", "alexnet", "vgg16", "caffenet"]
SLOW_SIZE = 100  # taps needing a larger input than this (VGG/AlexNet/CaffeNet fc layers) are marked slow


_REPS: dict = {}


def _rep(net):
    if net not in _REPS:
        _REPS[net] = build_representation(net, weights="random")
    return _REPS[net]


def _taps():
    out = []
    for net in NETWORKS:
        rep = _rep(net)
        for layer in rep.layers:
            size = max(rep.min_input_size(layer), 17)
            marks = [pytest.mark.slow] if size > SLOW_SIZE else []
            out.append(pytest.param(net, layer, size, marks=marks, id=f"{net}-{layer}"))
    return out


@pytest.mark.parametrize("net, layer, size", _taps())
def test_output_shape_equals_input_shape(net, layer, size):
    rep = _rep(net)
    inv = build_inverter(rep, layer, "transposed", width=2, image_size=size)
    spec = inv.spec
    assert spec.stages[-1] == layer and spec.shapes[0] == (3, size, size)
    for block in BLOCKS:
        g = inv if block == "transposed" else Inverter(replace(spec, block=block))
        with torch.no_grad():
            out = g(torch.randn(1, *spec.shapes[-1]), return_all=True)
        # every block hits the exact size the forward operation took as input
        assert [tuple(o.shape[1:]) for o in out] == list(reversed(spec.shapes[:-1]))


def test_stages_fold_relu_into_conv_and_keep_pooling_lrn_fire():
    assert stage_names(_rep("caffenet"), "conv2") == ["relu1", "pool1", "norm1", "conv2"]
    assert stage_names(_rep("squeezenet"), "fire3") == ["relu1", "pool1", "fire2", "fire3"]
    assert stage_names(_rep("vgg16"), "pool1") == ["relu1_1", "relu1_2", "pool1"]


def test_exact_sizes_not_stride_times_output():
    # SqueezeNet conv1 (no padding) and ceil-mode pool1: x2 gives 226 and 112, the truth is 227 and 113
    inv = build_inverter(_rep("squeezenet"), "pool1", width=2)
    assert [s[1] for s in inv.spec.shapes] == [227, 113, 56]


@pytest.mark.parametrize("block", BLOCKS)
def test_other_input_sizes_and_non_square(block):
    rep = _rep("squeezenet").with_taps(["fire2"])
    inv = Inverter(replace(build_inverter(rep, "fire2", width=2, image_size=64).spec, block=block))
    x = torch.randn(2, 3, 67, 91)
    with torch.no_grad():
        out = inv(rep(x)["fire2"], stage_sizes(rep, inv, (67, 91)))
    assert out.shape == x.shape


@pytest.mark.parametrize("name, layer", [("hog", "hog"), ("dsift", "dsift"), ("resnet18", "layer2.1.conv2"),
                                         ("resnet18", "maxpool")])
@pytest.mark.parametrize("block", BLOCKS)
def test_shallow_and_torchvision_models(name, layer, block):
    rep = build_representation(name, taps=[layer], weights="random" if name == "resnet18" else None)
    inv = build_inverter(rep, layer, block, width=2, image_size=64)
    if name in ("hog", "dsift"):
        assert len(inv.blocks) == 1  # one learned inverse of the whole representation
    x = torch.randn(1, rep.convention.channels, 64, 64)
    with torch.no_grad():
        assert inv(rep(x)[layer]).shape == x.shape
