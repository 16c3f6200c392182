"""A constant or near-constant image is refused before any step, in one line that says why
(its code is zero, or the same everywhere, so the normalised feature loss has nothing to match),
and not reported as a divergence with advice to lower the learning rate."""

import pytest
import torch

from preimage.train.cli.main import main


def _image(tmp_path, levels: int):
    import numpy as np
    from PIL import Image

    a = np.full((48, 48, 3), 128, np.uint8)
    if levels > 1:
        a[::7, ::5] = 128 + levels - 1
    path = tmp_path / f"flat{levels}.png"
    Image.fromarray(a).save(path)
    return path


@pytest.mark.parametrize("config, levels, message", [
    ("hog-cvpr15", 1, "has a zero code at layer hog"),
    ("hog-cvpr15", 2, "is constant or near-constant"),
    ("squeezenet-cvpr15", 1, "is constant or near-constant"),
    ("squeezenet-cvpr15", 2, "is constant or near-constant"),
])
def test_constant_image_is_refused_before_any_step(config, levels, message, tmp_path, capsys):
    img = _image(tmp_path, levels)
    out = tmp_path / "runs"
    assert main(["invert", "--config", config, "--image", str(img), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "diverged" not in err[0] and "learning rate" not in err[0]
    assert not out.exists()


def test_an_image_with_structure_passes_the_check():
    from preimage.train.jobs.setup import check_codes

    rgb = torch.rand(2, 3, 16, 16)
    check_codes(["a", "b"], rgb, {"l": torch.rand(2, 4, 3, 3)}, ["l"])  # no error
    phi = torch.rand(2, 4, 3, 3)
    phi[1] = 0
    with pytest.raises(Exception, match="'b' has a zero code at layer l"):
        check_codes(["a", "b"], rgb, {"l": phi}, ["l"])
