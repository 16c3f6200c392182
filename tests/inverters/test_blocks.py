"""An inverse module learns to undo its own forward operation: on held-out true pairs
(Φₖ₋₁, Φₖ) it beats the best constant; exact-size fitting."""

import pytest
import torch

from preimage.inverters import BLOCKS, InverseBlock, fit_size
from preimage.representations import build_representation, load_image, resize_crop


def _pairs(layer_in: str | None, layer_out: str, n: int = 12, size: int = 40):
    """True pairs from SqueezeNet (real weights) on random crops of training photos."""
    rep = build_representation("squeezenet", taps=[t for t in (layer_in, layer_out) if t])
    g = torch.Generator().manual_seed(0)
    crops = []
    for name in ("astronaut", "chelsea", "rocket", "flower"):
        img = resize_crop(load_image(name), 128)
        for _ in range(n // 4):
            y, x = (int(v) for v in torch.randint(0, 128 - size, (2,), generator=g))
            crops.append(img[:, y:y + size, x:x + size])
    x = rep.convention.preprocess(torch.stack(crops))
    with torch.no_grad():
        f = rep(x)
    return (x if layer_in is None else f[layer_in]), f[layer_out]


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("layer_in, layer_out", [(None, "relu1"), ("relu1", "pool1")])
def test_module_inverts_its_forward_operation_better_than_a_constant(block, layer_in, layer_out):
    target, phi = _pairs(layer_in, layer_out)
    train, test = slice(0, 8), slice(8, 12)
    stride = round(target.shape[-1] / phi.shape[-1])
    m = InverseBlock(phi.shape[1], target.shape[1], stride, 16, block)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    size = tuple(target.shape[-2:])
    for _ in range(60):
        opt.zero_grad()
        loss = (m(phi[train], size) - target[train]).pow(2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = (m(phi[test], size) - target[test]).pow(2).mean()
    constant = (target[test] - target[train].mean((0, 2, 3), keepdim=True)).pow(2).mean()  # best per-channel constant
    assert err < 0.7 * constant


def test_fit_size_crops_pads_and_resizes_exactly():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(fit_size(x, (3, 3)), x[..., :3, :3])
    padded = fit_size(x, (5, 5))
    assert padded.shape[-2:] == (5, 5) and torch.equal(padded[..., :4, :4], x)
    assert torch.equal(padded[..., 4, :4], x[..., 3, :])  # replicate
    assert fit_size(x, (9, 11)).shape[-2:] == (9, 11)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("stride", [1, 2, 3, 4, 8])
def test_block_reaches_any_requested_size(block, stride):
    m = InverseBlock(5, 2, stride, 4, block)
    h = 7
    for size in [(h * stride, h * stride), (h * stride + 1, h * stride - 1)]:
        assert m(torch.randn(1, 5, h, h), size).shape == (1, 2, *size)
