"""The built-in CNNs: tap names, architecture, equality with torchvision's forward,
input gradients (gradcheck), frozen parameters and truncation."""

import pytest
import torch
import torchvision
from torch import nn

from preimage.representations import PreimageError, build_representation

TAPS = {
    "caffenet": "conv1 relu1 pool1 norm1 conv2 relu2 pool2 norm2 conv3 relu3 conv4 relu4 conv5 relu5 "
                "pool5 fc6 relu6 fc7 relu7 fc8",
    "alexnet": "conv1 relu1 pool1 conv2 relu2 pool2 conv3 relu3 conv4 relu4 conv5 relu5 pool5 "
               "fc6 relu6 fc7 relu7 fc8",
    "vgg16": " ".join(
        [f"{k}{b}_{i}" for b, n in [(1, 2), (2, 2)] for i in range(1, n + 1) for k in ("conv", "relu")][:4]
    ),
    "squeezenet": "conv1 relu1 pool1 fire2 fire3 pool3 fire4 fire5 pool5 fire6 fire7 fire8 fire9 conv10 relu10",
}
VGG16 = []
for block, convs in enumerate([2, 2, 3, 3, 3], start=1):
    for i in range(1, convs + 1):
        VGG16 += [f"conv{block}_{i}", f"relu{block}_{i}"]
    VGG16.append(f"pool{block}")
VGG16 += ["fc6", "relu6", "fc7", "relu7", "fc8"]


@pytest.mark.parametrize("model", ["caffenet", "alexnet", "vgg16", "squeezenet"])
def test_every_tap_name(model):
    phi = build_representation(model, weights="random", taps="conv1" if model != "vgg16" else "conv1_1")
    expected = VGG16 if model == "vgg16" else TAPS[model].split()
    assert phi.layers == expected


def test_caffenet_architecture():
    phi = build_representation("caffenet", weights="random", taps=["pool5", "fc8"])
    convs = {n: m for n, m in phi.body.named_children() if isinstance(m, nn.Conv2d)}
    assert [m.out_channels for m in convs.values()] == [96, 256, 384, 384, 256, 4096, 4096, 1000]
    assert {n for n, m in convs.items() if m.groups == 2} == {"conv2", "conv4", "conv5"}
    for norm in ("norm1", "norm2"):
        lrn = getattr(phi.body, norm)
        assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 1.0)
    assert list(phi.body.named_children())[3][0] == "norm1"  # LRN after pooling (CaffeNet)
    out = phi(torch.zeros(1, 3, 227, 227))
    assert out["pool5"].shape == (1, 256, 6, 6) and out["fc8"].shape == (1, 1000, 1, 1)


@pytest.mark.parametrize("model,tv_name", [("alexnet", "alexnet"), ("squeezenet", "squeezenet1_1")])
def test_fc_as_conv_equals_torchvision_logits(model, tv_name, tmp_path):
    tv = torchvision.models.get_model(tv_name, weights=None).eval()
    torch.save(tv.state_dict(), tmp_path / "w.pth")
    phi = build_representation(model, weights=str(tmp_path / "w.pth"))
    x = torch.randn(2, 3, 224, 224)
    deepest = phi.layers[-1]
    ours = phi(x)[deepest].mean((2, 3))
    with torch.no_grad():
        ref = tv(x)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("model,tap,size", [("caffenet", "norm2", 51), ("squeezenet", "fire3", 23),
                                            ("alexnet", "conv2", 23)])
def test_gradcheck_input(model, tap, size):
    phi = build_representation(model, weights="random", taps=tap).double()
    x = torch.randn(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    # a random projection keeps gradcheck's Jacobian small
    proj = torch.randn_like(phi(x)[tap])
    assert torch.autograd.gradcheck(lambda z: (phi(z)[tap] * proj).sum((1, 2, 3)), (x,), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("model", ["caffenet", "squeezenet", "alexnet"])
def test_parameters_get_no_gradient(model):
    phi = build_representation(model, weights="random", taps="relu1")
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    phi(x)["relu1"].square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in phi.parameters())
    assert not phi.training and not phi.train().training


def test_truncation_drops_later_modules():
    phi = build_representation("caffenet", weights="random", taps=["conv1", "conv2"])
    assert [n for n, _ in phi.body.named_children()] == phi.layers[:5]
    assert not any(k.startswith(("body.conv3", "body.fc")) for k in phi.state_dict())
    assert set(phi(torch.zeros(1, 3, 67, 67))) == {"conv1", "conv2"}


def test_unknown_layer_lists_valid_ones():
    with pytest.raises(PreimageError, match="valid layers: conv1, relu1, pool1"):
        build_representation("squeezenet", taps="conv7")


def test_unknown_model():
    with pytest.raises(PreimageError, match="unknown model 'lenet'"):
        build_representation("lenet")


def test_any_torchvision_model_by_module_path():
    phi = build_representation("resnet18", taps=["layer1", "layer2.0.conv1"], weights="random")
    x = torch.randn(1, 3, 64, 64)
    out = phi(x)
    tv = phi.model
    with torch.no_grad():
        ref = tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x)))))
    torch.testing.assert_close(out["layer1"], ref)
    assert out["layer2.0.conv1"].shape == (1, 128, 8, 8)
    assert phi.receptive_field("layer2.0.conv1").stride == 8
    assert all(not p.requires_grad for p in phi.parameters())


def test_own_squeezenet_equals_torchvisions_layout_init_and_output():
    """SqueezeNet 1.1 is built without importing torchvision; its parameter names, seeded
    initialisation and output equal torchvision's squeezenet1_1."""
    import torchvision

    from preimage.representations.squeezenet import SqueezeNet11

    torch.manual_seed(3)
    ours = SqueezeNet11().eval()
    torch.manual_seed(3)
    theirs = torchvision.models.squeezenet1_1(weights=None).eval()
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(2, 3, 67, 67)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
