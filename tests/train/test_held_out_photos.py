"""The evaluation photos (coffee, china, grace_hopper) are recognised by their pixels, not
their names: a renamed lossless copy (or its mirror image) is refused wherever a model is
trained or tuned — prior patches, λ tuning, inverter training and validation."""

import numpy as np
import pytest
from PIL import Image

from preimage.representations import PreimageError, load_image
from preimage.representations.images import held_out_among, pixel_digest


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    """coffee saved as PNG under another name, and china mirrored."""
    d = tmp_path_factory.mktemp("photos")
    for name, photo, flip in (("holiday", "coffee", False), ("mirror", "china", True)):
        img = load_image(photo)
        img = img.flip(-1) if flip else img
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)).save(d / f"{name}.png")
    return d


def test_digest_follows_pixels_not_names(renamed):
    coffee = load_image("coffee")
    assert pixel_digest(load_image(renamed / "holiday.png")) == pixel_digest(coffee)
    assert pixel_digest(coffee[:, :, :-1]) != pixel_digest(coffee)
    found = held_out_among([("holiday", load_image(renamed / "holiday.png")), ("mirror", load_image(renamed / "mirror.png")),
                            ("astronaut", load_image("astronaut"))])
    assert found == [("holiday", "coffee"), ("mirror", "china")]


def test_prior_data_refuses_a_renamed_held_out_photo(renamed):
    from preimage.train.fit.patch_data import PatchDataModule

    with pytest.raises(PreimageError, match=r"holiday \(the held-out photo coffee\), mirror \(the held-out photo china\) "
                                            r"are held out for evaluation"):
        PatchDataModule(images=[str(renamed)], n_train=8, n_val=8).setup()
    dm = PatchDataModule(images=[str(renamed)], n_train=8, n_val=8, allow_held_out=True)  # asked for: allowed
    dm.setup()
    assert dm.train_patches.shape[0] == 8


def test_lambda_tuning_refuses_a_renamed_held_out_photo(renamed):
    from preimage.priors.foe import FieldOfExperts
    from preimage.train.analysis.denoise import tune_lambda

    with pytest.raises(PreimageError, match="held out for evaluation.*tune λ on a training photo"):
        tune_lambda(FieldOfExperts(channels=1, patch_size=3, n_experts=2), str(renamed / "holiday.png"))
