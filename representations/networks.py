"""The paper's networks as named chains of modules: CaffeNet (CNN-A of Mahendran &
Vedaldi 2015, Sec. 4), and torchvision's AlexNet, VGG16 and SqueezeNet 1.1 renamed
with paper-style layer names. Fully connected layers become convolutions so every
layer keeps a spatial map and a receptive field (fc6 of CaffeNet: 6×6 over pool5)."""

from __future__ import annotations

import sys

from torch import nn

from preimage.representations.receptive import register_branches

Chain = list[tuple[str, nn.Module]]

CAFFENET_LAYERS = [
    "conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2", "conv3", "relu3",
    "conv4", "relu4", "conv5", "relu5", "pool5", "fc6", "relu6", "fc7", "relu7", "fc8",
]


def caffenet_chain() -> Chain:
    """CaffeNet (Jia et al. 2014), the paper's CNN-A: AlexNet with pooling before LRN,
    two filter groups in conv2, conv4 and conv5, Caffe's ceil-mode pooling, 227×227 input."""

    def lrn() -> nn.Module:
        # Caffe: x / (1 + α/n Σ x²)^β over n = 5 channels; torch divides α by n the same way.
        return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=1.0)

    def pool() -> nn.Module:
        return nn.MaxPool2d(3, stride=2, ceil_mode=True)

    mods = [
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), pool(), lrn(),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), pool(), lrn(),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), pool(),
        nn.Conv2d(256, 4096, 6), nn.ReLU(),
        nn.Conv2d(4096, 4096, 1), nn.ReLU(),
        nn.Conv2d(4096, 1000, 1),
    ]
    return list(zip(CAFFENET_LAYERS, mods))


def linear_as_conv(linear: nn.Linear, in_channels: int, kernel: int) -> nn.Conv2d:
    """A Linear layer over a flattened (C, k, k) map as the equivalent k×k convolution."""
    conv = nn.Conv2d(in_channels, linear.out_features, kernel, bias=linear.bias is not None)
    conv.weight.data.copy_(linear.weight.data.reshape(linear.out_features, in_channels, kernel, kernel))
    if linear.bias is not None:
        conv.bias.data.copy_(linear.bias.data)
    return conv


def _fc_head(classifier: nn.Sequential, in_channels: int, kernel: int) -> Chain:
    """torchvision's [Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear] → fc6 … fc8."""
    linears = [m for m in classifier if isinstance(m, nn.Linear)]
    fc6 = linear_as_conv(linears[0], in_channels, kernel)
    fc7 = linear_as_conv(linears[1], linears[0].out_features, 1)
    fc8 = linear_as_conv(linears[2], linears[1].out_features, 1)
    return [("fc6", fc6), ("relu6", nn.ReLU()), ("fc7", fc7), ("relu7", nn.ReLU()), ("fc8", fc8)]


def _name_features(features: nn.Sequential, per_block: bool) -> Chain:
    """Name conv/relu/pool layers: AlexNet's conv1 relu1 pool1 conv2 … (numbered by conv,
    pools after the conv before them) or, ``per_block``, VGG's conv1_1 relu1_1 … pool1."""
    chain: Chain = []
    block, index, n = 1, 0, 0
    for m in features:
        if isinstance(m, nn.Conv2d):
            index, n = index + 1, n + 1
        tag = f"{block}_{index}" if per_block else f"{n}"
        if isinstance(m, nn.MaxPool2d):
            chain.append((f"pool{block if per_block else n}", m))
            block, index = block + 1, 0
        else:
            chain.append((("conv" if isinstance(m, nn.Conv2d) else "relu") + tag, m))
    return chain


def alexnet_chain(model: nn.Module) -> Chain:
    """torchvision AlexNet → conv1 relu1 pool1 conv2 … pool5 fc6 relu6 fc7 relu7 fc8 (18)."""
    return _name_features(model.features, per_block=False) + _fc_head(model.classifier, 256, 6)


def vgg16_chain(model: nn.Module) -> Chain:
    """torchvision VGG16 → conv1_1 relu1_1 conv1_2 relu1_2 pool1 … pool5 fc6 … fc8."""
    return _name_features(model.features, per_block=True) + _fc_head(model.classifier, 512, 7)


def _fire_branches(fire: nn.Module) -> list[list[nn.Module]]:
    return [[fire.squeeze, fire.expand1x1], [fire.squeeze, fire.expand3x3]]


def squeezenet_chain(model: nn.Module) -> Chain:
    """torchvision SqueezeNet 1.1 → conv1 relu1 pool1 fire2 fire3 pool3 fire4 fire5 pool5
    fire6 fire7 fire8 fire9 conv10 relu10 (Caffe names; pools named after the layer
    before them)."""
    from preimage.representations.squeezenet import Fire

    register_branches(Fire, _fire_branches)
    if "torchvision" in sys.modules:  # a torchvision SqueezeNet given by the caller
        from torchvision.models.squeezenet import Fire as TorchvisionFire

        register_branches(TorchvisionFire, _fire_branches)
    chain: Chain = []
    fire = 1
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            chain.append(("conv1", m))
        elif isinstance(m, nn.ReLU):
            chain.append(("relu1", m))
        elif isinstance(m, nn.MaxPool2d):
            chain.append((f"pool{fire}", m))
        else:
            fire += 1
            chain.append((f"fire{fire}", m))
    conv10 = next(m for m in model.classifier if isinstance(m, nn.Conv2d))
    return chain + [("conv10", conv10), ("relu10", nn.ReLU())]
