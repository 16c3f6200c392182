"""Patches for learning priors: shapes, the held-out split, feature maps through the frozen
representation, default patch sizes from receptive fields, and one clear error per bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from preimage.representations import build_representation
from preimage.representations.errors import PreimageError
from preimage.train.fit import patches as P
from preimage.train.fit.patch_data import PatchDataModule


@pytest.fixture
def ramp_folder(tmp_path):
    """Two images whose red channel is the column index / 255 (so a patch says where it came from)."""
    d = tmp_path / "imgs"
    d.mkdir()
    for k, (h, w) in enumerate([(40, 100), (50, 80)]):
        a = np.zeros((h, w, 3), np.uint8)
        a[..., 0] = np.arange(w)[None, :]
        a[..., 1] = np.arange(h)[:, None]
        a[..., 2] = 10 * k
        Image.fromarray(a).save(d / f"ramp{k}.png")
    return d


def test_patches_shapes_and_disjoint_split(ramp_folder):
    dm = PatchDataModule(images=[str(ramp_folder)], patch_size=6, n_train=500, n_val=200, val_fraction=0.25)
    dm.setup("fit")
    assert dm.train_patches.shape == (500, 3, 6, 6) and dm.val_patches.shape == (200, 3, 6, 6)
    assert dm.channels == 3 and dm.patch_size == 6
    cols_tr = (dm.train_patches[:, 0] * 255).round()
    cols_va = (dm.val_patches[:, 0] * 255).round()
    img_tr, img_va = (dm.train_patches[:, 2, 0, 0] * 25.5).round(), (dm.val_patches[:, 2, 0, 0] * 25.5).round()
    for k, w in enumerate([100, 80]):
        split = w - round(0.25 * w)
        tr, va = cols_tr[img_tr == k], cols_va[img_va == k]
        assert len(tr) and len(va)
        assert tr.max() < split <= va.min()  # no held-out pixel is ever in a training patch
        assert va.max() <= w - 1
    # patches are contiguous windows: columns increase by one within a patch
    assert torch.all(cols_tr[:, :, 1:] - cols_tr[:, :, :-1] == 1)


def test_grey_patches_and_seed(ramp_folder):
    a = PatchDataModule(images=[str(ramp_folder)], grey=True, patch_size=5, n_train=50, n_val=10, seed=3)
    b = PatchDataModule(images=[str(ramp_folder)], grey=True, patch_size=5, n_train=50, n_val=10, seed=3)
    a.setup(), b.setup()
    assert a.train_patches.shape == (50, 1, 5, 5)
    assert torch.equal(a.train_patches, b.train_patches) and torch.equal(a.val_patches, b.val_patches)


def test_feature_map_patches_are_windows_of_the_frozen_map(tmp_path):
    img = torch.rand(3, 72, 72)
    Image.fromarray((img.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "a.png")
    dm = PatchDataModule(images=[str(tmp_path / "a.png")], representation="squeezenet", layer="conv1",
                         weights="random", n_train=40, n_val=10)
    dm.setup()
    assert dm.patch_size == 3 and dm.channels == 64  # conv1's 3x3 window (default patch size)
    rep = build_representation("squeezenet", taps=["conv1"], weights="random")
    from preimage.representations import load_image

    with torch.no_grad():
        fmap = rep(rep.convention.preprocess(load_image(tmp_path / "a.png")[None]))["conv1"][0]
    windows = torch.nn.functional.unfold(fmap[None], 3)[0].T  # (L, C*9)
    for patch in dm.train_patches[:5]:
        d = (windows - patch.flatten()[None]).abs().amax(1)
        assert float(d.min()) < 1e-4  # every patch is a window of the map
    assert not any(p.requires_grad for p in rep.parameters())


@pytest.mark.parametrize("model,layer,expected", [("squeezenet", "conv1", 3), ("squeezenet", "relu1", 3),
                                                  ("squeezenet", "fire3", 3), ("squeezenet", "pool3", 3),
                                                  ("caffenet", "conv2", 5)])
def test_default_patch_size_is_the_window_in_the_layer_below(model, layer, expected):
    rep = build_representation(model, taps=[layer], weights="random")
    assert P.default_patch_size(rep, layer) == expected


def test_bad_inputs_are_one_clear_error(tmp_path, ramp_folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PreimageError, match="no image files"):
        PatchDataModule(images=[str(empty)]).setup()
    with pytest.raises(PreimageError, match="larger than the"):
        PatchDataModule(images=[str(ramp_folder)], patch_size=45).setup()
    with pytest.raises(PreimageError, match="unknown layer 'conv9'.*valid layers: conv1"):
        PatchDataModule(images=[str(ramp_folder)], representation="squeezenet", layer="conv9",
                        weights="random").setup()
    with pytest.raises(PreimageError, match="held out"):
        PatchDataModule(images=["coffee"]).setup()
    with pytest.raises(PreimageError, match="val_fraction"):
        PatchDataModule(val_fraction=1.5)
