"""CNN-DSIFT: equality with VLFeat 0.9.21's vl_dsift (float descriptors and frames),
gradients, bad input and the Representation contract."""

import math

import numpy as np
import pytest
import torch

from preimage.representations import PreimageError, build_representation
from preimage.representations.dsift_op import dsift, dsift_frames, vlfeat_atan2
from preimage.representations.shallow import DSIFT
from vlfeat_ref import vl_dsift


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.transform import resize

    rng = np.random.default_rng(0)
    out = {n: (255 * resize(rgb2gray(getattr(skimage.data, n)()[..., :3]), (61, 77), anti_aliasing=True))
           .astype(np.float32) for n in ("astronaut", "chelsea", "coffee")}
    out["random"] = (rng.random((47, 58)) * 255).astype(np.float32)
    return out


def _ours(img: np.ndarray, **kw) -> tuple[np.ndarray, tuple[int, int]]:
    """Ours as VLFeat's (frames, D) descriptor matrix, plus the (ny, nx) grid."""
    out = dsift(torch.from_numpy(img)[None, None], **kw)[0]
    d, ny, nx = out.shape
    return out.reshape(d, ny * nx).T.numpy(), (ny, nx)


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "random"])
@pytest.mark.parametrize("fast", [True, False], ids=["flat", "gaussian"])
@pytest.mark.parametrize("step,bin_size", [(4, 8), (3, 5)])
def test_equals_vlfeat(images, name, fast, step, bin_size):
    img = images[name]
    frames, ref = vl_dsift(img, step, bin_size, fast)
    ours, (ny, nx) = _ours(img, step=step, bin_size=bin_size, fast=fast)
    assert ours.shape == ref.shape
    # VLFeat's fast inverse sqrt (two Newton steps) leaves ~1e-6; we mimic its fast atan2
    assert np.abs(ours - ref).max() <= 1e-3
    # frame order and centres: y outer, x inner, first centre at 1.5 bins
    iy, ix = np.divmod(np.arange(ny * nx), nx)
    centre = bin_size * 1.5
    np.testing.assert_allclose(frames, np.stack([iy * step + centre, ix * step + centre], 1))


def test_exact_atan2_is_close_to_vlfeat(images):
    """With exact atan2 instead of VLFeat's cubic approximation the descriptors move by < 1e-2."""
    frames, ref = vl_dsift(images["chelsea"], 4, 8, True)
    ours, _ = _ours(images["chelsea"], step=4, bin_size=8, fast=True, use_vlfeat_atan2=False)
    assert np.abs(ours - ref).max() < 1e-2


def test_other_geometry(images):
    frames, ref = vl_dsift(images["coffee"], 2, 4, False, geometry=(3, 2, 6))
    ours, _ = _ours(images["coffee"], step=2, bin_size=4, fast=False, geometry=(3, 2, 6))
    assert ours.shape == ref.shape and np.abs(ours - ref).max() <= 1e-3


def test_vlfeat_atan2_approximates_atan2():
    ang = torch.linspace(-math.pi + 1e-3, math.pi, 2001, dtype=torch.float64)
    approx = vlfeat_atan2(torch.sin(ang), torch.cos(ang))
    assert (approx - ang).abs().max() < 7e-3  # ~6.1e-3 rad at worst


def test_ramp_lights_orientation_bin():
    y, x = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    for k in range(8):
        theta = 2 * math.pi * k / 8
        img = (3.0 * (math.cos(theta) * x + math.sin(theta) * y))[None, None]
        d = dsift(img, step=8, bin_size=6).view(1, 16, 8, -1)  # (B, spatial bin, T, frames)
        assert (d.argmax(2) == k).all()
    flat = dsift(torch.full((1, 1, 30, 30), 5.0), step=4, bin_size=5)
    assert flat.abs().max() == 0


@pytest.mark.parametrize("fast", [True, False])
def test_gradcheck(fast):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1, 1, 12, 13, generator=g, dtype=torch.float64) * 10).requires_grad_()
    f = lambda v: dsift(v, step=2, bin_size=3, fast=fast)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_gradient_finite_on_flat_image():
    x = torch.zeros(1, 1, 32, 32, requires_grad=True)
    build_representation("dsift")(x)["dsift"].sum().backward()
    assert torch.isfinite(x.grad).all()


def test_contract_and_module_equals_functional():
    m = build_representation("dsift")
    assert m.layers == ["dsift"] and m.taps == ["dsift"]
    assert all(not p.requires_grad for p in m.parameters())
    assert {n for n, _ in m.named_buffers()} == {"bin_weights"}
    assert {n for n, _ in DSIFT(fast=False).named_buffers()} == {"ky", "kx"}
    x = torch.randn(2, 1, 40, 45) * 50
    torch.testing.assert_close(m(x)["dsift"], dsift(x))
    torch.testing.assert_close(DSIFT(fast=False, step=3)(x)["dsift"], dsift(x, fast=False, step=3))
    assert m(x)["dsift"].shape == (2, 128, dsift_frames(40, 4, 8, 4), dsift_frames(45, 4, 8, 4))
    assert m.min_input_size("dsift") == 25
    rf = m.receptive_field("dsift")
    assert (rf.size, rf.stride, rf.offset) == (41, 4, 12.0)
    assert (m.convention.channels, m.convention.mean, m.convention.scale) == (1, (128.0,), 255.0)
    assert build_representation("cnn-dsift", taps="dsift").taps == ["dsift"]


def test_bad_input():
    with pytest.raises(PreimageError, match="smaller than one DSIFT descriptor"):
        dsift(torch.randn(1, 1, 24, 60), bin_size=8)
    with pytest.raises(PreimageError, match="too small"):
        DSIFT()(torch.randn(1, 1, 24, 60))
    with pytest.raises(PreimageError, match="grey"):
        dsift(torch.randn(1, 3, 40, 40))
    with pytest.raises(PreimageError, match="shape|channels"):
        DSIFT()(torch.randn(1, 3, 40, 40))
    with pytest.raises(PreimageError, match="NaN or infinite"):
        dsift(torch.full((1, 1, 40, 40), float("nan")))
    with pytest.raises(PreimageError, match="no learned weights"):
        build_representation("dsift", weights="IMAGENET1K_V1")
