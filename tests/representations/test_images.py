"""Image loading: every PIL mode to RGB in [0, 1]; resize/crop; the bundled samples."""

import numpy as np
import pytest
import torch
from PIL import Image

from preimage.representations import PreimageError, load_image, resize_crop, resolve_images, sample_names
from preimage.representations.images import GREY_PHOTOS


def _check(img, h, w):
    assert img.shape == (3, h, w) and img.dtype == torch.float32
    assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0


def test_modes_become_rgb(tmp_path):
    yy, xx = np.mgrid[0:20, 0:30]
    rgb = np.dstack([xx * 8, yy * 12, 255 - xx * 8]).astype(np.uint8)  # smooth: JPEG keeps it
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=95)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full((20, 30), 7, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "deep.png")  # 16-bit grey

    exact = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(load_image(tmp_path / "rgb.png"), exact)
    torch.testing.assert_close(load_image(tmp_path / "rgba.png"), exact)
    assert (load_image(tmp_path / "rgb.jpg") - exact).abs().mean() < 0.02
    grey = load_image(tmp_path / "grey.png")
    torch.testing.assert_close(grey, exact[:1].expand(3, -1, -1))
    deep = load_image(tmp_path / "deep.png")
    torch.testing.assert_close(deep, exact[:1].expand(3, -1, -1), atol=1e-6, rtol=0)
    for name in ("palette.png", "deep.png", "grey.png"):
        _check(load_image(tmp_path / name), 20, 30)


def test_not_an_image(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(PreimageError, match="cannot read .*notes.txt as an image"):
        load_image(tmp_path / "notes.txt")
    with pytest.raises(PreimageError, match="not found"):
        load_image(tmp_path / "missing.png")


def test_resize_crop():
    img = torch.rand(3, 300, 451)
    out = resize_crop(img, 227)
    _check(out, 227, 227)
    x = torch.linspace(0, 1, 100).expand(3, 50, 100)
    torch.testing.assert_close(resize_crop(x, 50), x[:, :, 25:75])  # no resize: pure centre crop


def test_samples_offline():
    names = sample_names()
    assert {"astronaut", "chelsea", "coffee", "china", "flower", "grace_hopper", *GREY_PHOTOS} <= set(names)
    for name in names:
        img = load_image(name)
        assert img.shape[0] == 3 and min(img.shape[1:]) >= 227
        if name in GREY_PHOTOS:  # grey photos come as three equal channels, and are photos (not flat)
            assert torch.equal(img[0], img[1]) and torch.equal(img[1], img[2]) and img.std() > 0.05


def test_resolve_folder_and_names(tmp_path):
    for n in ("b", "a"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{n}.png")
    (tmp_path / "readme.txt").write_text("x")
    got = resolve_images([str(tmp_path), "chelsea"])
    assert [n for n, _ in got] == ["a", "b", "chelsea"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(PreimageError, match="no image files"):
        resolve_images([tmp_path / "empty"])


def test_sklearn_photos_equal_load_sample_images():
    """china and flower are read from scikit-learn's folder without importing it: the same pixels."""
    import numpy as np
    from sklearn.datasets import load_sample_images

    from preimage.representations import load_image

    for name, ref in zip(("china", "flower"), load_sample_images().images):
        got = (load_image(name).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert np.array_equal(got, ref)
