"""Receptive fields and output sizes computed from the modules, against the paper's
table, against a gradient probe, and against real forward passes."""

import pytest
import torch
import torchvision
from torch import nn

from preimage.representations import PreimageError, build_representation
from preimage.representations.hooked import probe_receptive_field
from preimage.representations.receptive import Window, out_size

# Mahendran & Vedaldi 2015, Table of CNN-A layers: receptive field size of each of the 20 taps.
PAPER_CAFFENET_RF = [11, 11, 19, 19, 51, 51, 67, 67, 99, 99, 131, 131, 163, 163, 195,
                     355, 355, 355, 355, 355]


def test_caffenet_receptive_fields_equal_paper_table():
    phi = build_representation("caffenet", weights="random", taps="conv1")
    assert [phi.receptive_field(n).size for n in phi.layers] == PAPER_CAFFENET_RF
    assert phi.receptive_field("pool5").stride == 32


@pytest.mark.parametrize("model,tv_name,pairs", [
    ("alexnet", "alexnet", [("pool1", "features.2"), ("conv2", "features.3"), ("pool5", "features.12")]),
    ("squeezenet", "squeezenet1_1", [("fire2", "features.3"), ("pool5", "features.8"), ("fire9", "features.12")]),
])
def test_analytic_receptive_field_equals_gradient_probe(model, tv_name, pairs):
    phi = build_representation(model, weights="random", taps="conv1")
    tv = torchvision.models.get_model(tv_name, weights=None)
    for ours, path in pairs:
        assert probe_receptive_field(tv, path, 224) == phi.receptive_field(ours)


@pytest.mark.parametrize("n", [17, 31, 55, 56, 99, 100])
@pytest.mark.parametrize("w", [Window(3, 2, 0, ceil_mode=True), Window(3, 2, 1, ceil_mode=True),
                               Window(5, 3, 2), Window(3, 1, 2, dilation=2)])
def test_window_out_size_matches_torch(n, w):
    if w.dilation > 1:
        m = nn.Conv2d(1, 1, w.kernel, w.stride, w.padding, w.dilation)
    else:
        m = nn.MaxPool2d(w.kernel, w.stride, w.padding, ceil_mode=w.ceil_mode)
    assert m(torch.zeros(1, 1, n, n)).shape[-1] == w.out_size(n)
    assert out_size([m], n) == w.out_size(n)


@pytest.mark.parametrize("layer", ["conv1", "pool2", "conv5", "pool5", "fc6"])
def test_min_input_size_is_tight(layer):
    phi = build_representation("caffenet", weights="random", taps=layer)
    n = phi.min_input_size(layer)
    assert phi(torch.zeros(1, 3, n, n))[layer].shape[-1] >= 1
    with pytest.raises(PreimageError, match=f"at least {n}x{n}"):
        phi.check_input(torch.zeros(1, 3, n - 1, n - 1), layer)


def test_hooked_min_input_size_equals_shape_arithmetic():
    chain = build_representation("alexnet", weights="random", taps="pool5")
    from preimage.representations.hooked import HookedModel

    hooked = HookedModel("alexnet", torchvision.models.alexnet(weights=None), ["features.5", "features.12"])
    assert hooked.min_input_size("features.5") == chain.min_input_size("pool2")
    assert hooked.min_input_size("features.12") == chain.min_input_size("pool5")
    assert hooked.min_input_size("features.12") < hooked.receptive_field("features.12").size  # padding


def test_global_layer_has_no_receptive_field():
    phi = build_representation("resnet18", weights="random", taps=["avgpool"])
    with pytest.raises(PreimageError, match="whole image"):
        phi.receptive_field("avgpool")
    assert phi.min_input_size("avgpool") == 1
