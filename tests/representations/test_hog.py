"""HOG / HOGb / CNN-HOG: equality with VLFeat 0.9.21, orientation geometry, gradients,
bad input and the Representation contract."""

import math

import numpy as np
import pytest
import torch

from preimage.representations import PreimageError, build_representation
from preimage.representations.hog_op import hog, hog_cells
from preimage.representations.shallow import HOG
from vlfeat_ref import vl_hog


def _photo(name: str, shape=(67, 90)) -> np.ndarray:
    import skimage.data
    from skimage.transform import resize

    img = getattr(skimage.data, name)()[..., :3]
    return resize(img, shape, preserve_range=True, anti_aliasing=True).astype(np.float32)


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {n: _photo(n) for n in ("astronaut", "chelsea", "coffee")}
    out["random"] = (rng.random((53, 75, 3)) * 255).astype(np.float32)
    return out


def _ours(img: np.ndarray, **kw) -> np.ndarray:
    """(H, W[, C]) → ours as VLFeat's (H', W', D)."""
    x = torch.from_numpy(img if img.ndim == 3 else img[..., None]).permute(2, 0, 1)[None]
    return hog(x.contiguous(), **kw)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "random"])
@pytest.mark.parametrize("colour", [True, False], ids=["rgb", "grey"])
@pytest.mark.parametrize("cell", [4, 8])
@pytest.mark.parametrize("bilinear", [False, True], ids=["hard", "bilinear"])
@pytest.mark.parametrize("variant", ["UoCTTI", "DalalTriggs"])
def test_equals_vlfeat(images, name, colour, cell, bilinear, variant):
    img = images[name] if colour else images[name].mean(2).astype(np.float32)
    ref = vl_hog(img, cell, variant, 9, bilinear)
    ours = _ours(img, cell_size=cell, variant=variant.lower(), bilinear_orientations=bilinear)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()


@pytest.mark.parametrize("num_orientations", [4, 7])
def test_equals_vlfeat_other_orientation_counts(images, num_orientations):
    img = images["chelsea"].mean(2).astype(np.float32)
    for bilinear in (False, True):
        ref = vl_hog(img, 6, "UoCTTI", num_orientations, bilinear)
        ours = _ours(img, cell_size=6, num_orientations=num_orientations, bilinear_orientations=bilinear)
        assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()


def test_module_equals_functional_and_batches(images):
    x = torch.from_numpy(np.stack([images["astronaut"], images["coffee"]])).permute(0, 3, 1, 2).contiguous()
    m = HOG(channels=3, bilinear_orientations=True)
    out = m(x)["hog"]
    for i in range(2):
        torch.testing.assert_close(out[i : i + 1], hog(x[i : i + 1], bilinear_orientations=True))


@pytest.mark.parametrize("cell", [4, 8])
@pytest.mark.parametrize("n", [5, 8, 12, 13, 227])
def test_cell_count(n, cell):
    if n < cell:
        return
    x = torch.randn(1, 1, n, n + 3)
    assert hog(x, cell_size=cell).shape[-2:] == (hog_cells(n, cell), hog_cells(n + 3, cell))
    assert hog_cells(n, cell) == (n + cell // 2) // cell


def _ramp(theta: float, n: int = 32) -> torch.Tensor:
    r = torch.arange(n, dtype=torch.float64)
    y, x = torch.meshgrid(r, r, indexing="ij")
    return (10.0 * (math.cos(theta) * x + math.sin(theta) * y))[None, None]


@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("k", range(18))
def test_ramp_lights_directed_bin(k, bilinear):
    o = 9
    feat = hog(_ramp(k * math.pi / o), cell_size=8, bilinear_orientations=bilinear)
    directed = feat[0, : 2 * o, 1:-1, 1:-1]  # interior cells
    assert (directed.argmax(0) == k).all()
    others = torch.cat([directed[:k], directed[k + 1 :]])
    # HOGb: float32 bin directions (as VLFeat) make acos leak ~1e-4 into the neighbours
    assert others.abs().max() < (1e-3 if bilinear else 1e-9) * directed[k].min()


def test_vertical_edge_lights_bin_zero_and_flat_is_zero():
    x = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    x[..., 16:] = 100.0  # vertical edge: intensity grows along x
    for variant in ("uoctti", "dalaltriggs"):
        feat = hog(x, cell_size=8, variant=variant)
        energy = feat.abs().sum((0, 2, 3))
        if variant == "uoctti":
            assert energy[:18].argmax() == 0 and energy[1:18].max() == 0
            assert energy[18:27].argmax() == 0
        else:
            assert all(energy[9 * b : 9 * b + 9].argmax() == 0 for b in range(4))
    flat = hog(torch.full((1, 3, 24, 24), 7.0), cell_size=4)
    assert flat.abs().max() == 0


@pytest.mark.parametrize("variant", ["uoctti", "dalaltriggs"])
@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_gradcheck(variant, bilinear, channels):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(1, channels, 11, 10, generator=g, dtype=torch.float64) * 4.0).requires_grad_()
    f = lambda v: hog(v, cell_size=4, variant=variant, bilinear_orientations=bilinear)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_gradient_is_finite_on_flat_and_saturated_images():
    x = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    x[..., 8:, :] = 255.0
    for name in ("hog", "hogb", "cnn-hog"):
        x_ = x.clone().requires_grad_()
        build_representation(name)(x_.float())["hog"].sum().backward()
        assert torch.isfinite(x_.grad).all()


def test_cnn_hog_drops_texture():
    x = torch.randn(2, 1, 40, 48) * 50
    full = build_representation("hog")(x)["hog"]
    cnn = build_representation("cnn-hog")(x)["hog"]
    assert cnn.shape[1] == 27 and full.shape[1] == 31
    torch.testing.assert_close(cnn, full[:, :27])


def test_contract():
    m = build_representation("hogb", taps="hist")
    assert m.layers == ["hist", "hog"] and m.taps == ["hist"]
    assert list(m(torch.randn(1, 1, 33, 33))) == ["hist"]
    assert all(not p.requires_grad for p in m.parameters())
    rf = HOG(cell_size=8).receptive_field("hog")
    assert (rf.size, rf.stride, rf.offset) == (34, 8, 3.5)
    assert HOG(cell_size=8).min_input_size("hog") == 8
    conv = HOG().convention
    assert (conv.scale, conv.mean, conv.channels) == (255.0, (128.0,), 1)
    assert HOG(channels=3).convention.mean == (128.0, 128.0, 128.0)
    assert HOG().input_size == 227
    out = HOG(channels=3)(torch.randn(1, 3, 16, 16, dtype=torch.float64))["hog"]
    assert out.dtype == torch.float64


def test_bad_input():
    with pytest.raises(PreimageError, match="smaller than one HOG cell|too small"):
        hog(torch.randn(1, 1, 7, 30), cell_size=8)
    with pytest.raises(PreimageError, match="too small"):
        HOG()(torch.randn(1, 1, 7, 30))
    with pytest.raises(PreimageError, match="channels|shape"):
        HOG()(torch.randn(1, 3, 32, 32))
    with pytest.raises(PreimageError, match="NaN or infinite"):
        hog(torch.tensor(float("nan")).expand(1, 1, 16, 16))
    with pytest.raises(PreimageError, match="NaN or infinite"):
        HOG()(torch.full((1, 1, 16, 16), float("inf")))
    with pytest.raises(PreimageError, match="batch"):
        hog(torch.randn(16, 16))
    with pytest.raises(PreimageError, match="variant"):
        hog(torch.randn(1, 1, 16, 16), variant="felzenszwalb")
    with pytest.raises(PreimageError, match="unknown layer"):
        HOG(taps="conv1")
    with pytest.raises(PreimageError, match="texture"):
        HOG(variant="dalaltriggs", texture=False)


def test_gradcheck_full_jacobian_hogb():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(1, 1, 8, 9, generator=g, dtype=torch.float64) * 4.0).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: hog(v, cell_size=4, bilinear_orientations=True), (x,),
                                    eps=1e-6, atol=1e-5)


def _gradients(dtype):
    """Gradients that stress the bin choice: random, small integers (axis-aligned, exact
    diagonals, zeros), exact directions kπ/O and points within 1e-7 rad of the ties."""
    g = torch.Generator().manual_seed(3)
    rand = torch.randn(2, 4000, generator=g, dtype=torch.float64) * 50
    ints = torch.randint(-4, 5, (2, 4000), generator=g).to(torch.float64)
    ang = torch.cat([torch.arange(36) * math.pi / 18, (torch.arange(36) + 0.5) * math.pi / 18,
                     (torch.arange(28) + 0.5) * math.pi / 14, (torch.arange(8) + 0.5) * math.pi / 4])
    ang = (ang[:, None] + torch.tensor([-1e-7, 0.0, 1e-7])).reshape(-1).to(torch.float64)
    rad = torch.rand(ang.numel(), generator=g, dtype=torch.float64) * 100 + 1e-3
    ring = torch.stack([rad * torch.cos(ang), rad * torch.sin(ang)])
    gxy = torch.cat([rand, ints, ring], 1).to(dtype)
    return gxy[0].reshape(1, 1, -1), gxy[1].reshape(1, 1, -1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_orientations", [4, 7, 9])
@pytest.mark.parametrize("second", [False, True], ids=["hard", "bilinear"])
def test_angle_bin_choice_equals_hog_c_loop(dtype, num_orientations, second):
    """The few-pass bin choice makes hog.c's decisions (its loop over O directions, with
    strict '>' in k order), ties included; where g = 0 the hard bin's vote weight is 0."""
    from preimage.representations.hog_op import _best_directions, _best_directions_loop, orientation_basis

    gx, gy = _gradients(dtype)
    basis = orientation_basis(num_orientations, dtype)
    fast = _best_directions(gx, gy, basis, second)
    loop = _best_directions_loop(gx, gy, basis, second)
    moving = (gx != 0) | (gy != 0)
    assert moving.sum() > 0.9 * gx.numel() and (~moving).any()
    assert torch.equal(fast[0][moving], loop[0][moving])
    assert torch.equal(fast[0][~moving] % num_orientations, torch.zeros_like(fast[0][~moving]))
    if second:
        assert torch.equal(fast[0], loop[0]) and torch.equal(fast[2], loop[2])
        assert torch.equal(fast[1], loop[1])  # |g·u| of the best, the same float operations
