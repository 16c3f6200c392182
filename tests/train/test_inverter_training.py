"""Each training mode lowers its own held-out loss on a tiny set (a few steps, tiny
crops); the fine-tune starts from a saved stacked chain; the LightningModule never
saves the frozen representation."""

import pytest
import torch
from lightning import Trainer

from preimage.inverters import load_inverter, save_inverter
from preimage.representations import PreimageError
from preimage.representations import resolve_images
from preimage.train.fit.crops import InverterData, load_scaled
from preimage.train.fit.inverter import InverterTask


def _data():
    return InverterData(images=["astronaut", "chelsea"], val_images=["flower"], crop=24, resize=96,
                        batch_size=4, steps_per_epoch=12, val_crops=4, seed=0)


def _trainer(steps):
    return Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=1)


def _val_loss(task, data):
    return float(_trainer(1).validate(task, datamodule=data, verbose=False)[0]["val/loss"])


def _fit(task, steps=12):
    data = _data()
    before = _val_loss(task, data)
    _trainer(steps).fit(task, datamodule=data)
    return before, _val_loss(task, data)


@pytest.mark.parametrize("mode", ["stacked", "joint", "end_to_end"])
def test_each_mode_lowers_its_held_out_loss(mode):
    torch.manual_seed(0)
    task = InverterTask("squeezenet", "pool1", block="transposed", width=8, mode=mode, lr=1e-2)
    assert len(task.inverter.blocks) == 2  # relu1 → image, pool1 → relu1
    before, after = _fit(task, steps=15)
    assert after < 0.9 * before
    assert not any(k.startswith("phi") for k in task.state_dict())


def test_finetune_of_a_stacked_chain_and_feature_loss(tmp_path):
    torch.manual_seed(0)
    stacked = InverterTask("squeezenet", "pool1", width=8, mode="stacked", lr=3e-3)
    _fit(stacked)
    path = save_inverter(stacked.inverter, tmp_path / "stacked.pt", mode="stacked")
    tune = InverterTask("squeezenet", "pool1", mode="finetune", lr=1e-3, init_checkpoint=str(path), feature_loss=0.1)
    start = _val_loss(tune, _data())
    before, after = _fit(tune, steps=6)
    assert before == pytest.approx(start) and after < before
    assert load_inverter(path).spec == tune.inverter.spec


def test_normalised_blocks_for_hog():
    torch.manual_seed(0)
    task = InverterTask("hog", "hog", width=8, mode="end_to_end", lr=3e-3, normalise=True)
    assert len(task.inverter.blocks) == 1 and task.inverter.scales[0] < 1 < task.inverter.scales[1]
    data = InverterData(images=["astronaut", "chelsea"], crop=32, resize=96,
                        batch_size=4, steps_per_epoch=12, val_crops=4)
    before = _val_loss(task, data)
    _trainer(12).fit(task, datamodule=data)
    assert _val_loss(task, data) < 0.95 * before  # HOG keeps no contrast: image MSE falls slowly


def test_bad_settings_are_one_clear_error():
    with pytest.raises(PreimageError, match="unknown training mode"):
        InverterTask(mode="greedy")
    with pytest.raises(PreimageError, match="needs model.init_checkpoint"):
        InverterTask(mode="finetune")
    with pytest.raises(PreimageError, match="both a training and a validation image"):
        InverterData(images=["rocket"], val_images=["rocket"])


def test_crops_are_seeded_flipped_and_fresh_each_epoch():
    data = _data()
    data.setup()
    a, b = data.train_set[3], data.train_set[3]
    assert torch.equal(a, b) and a.shape == (3, 24, 24)
    loader = data.train_dataloader()
    first, second = next(iter(loader)), next(iter(loader))
    assert not torch.equal(first, second)  # a new epoch draws new crops


def test_validation_is_a_split_of_the_training_photos_never_an_evaluation_photo(tmp_path):
    """Model selection sees no evaluation photo: by default the validation crops are the
    right-hand 20 % (at least one crop wide) of each training photo, disjoint from every
    training crop; coffee, china, grace_hopper are refused as training or validation images,
    also renamed (the same pixels in another file)."""
    from PIL import Image

    from preimage.representations import load_image

    data = InverterData(images=["astronaut", "chelsea"], crop=24, resize=96, val_crops=4)
    data.setup()
    assert len(data.val_set) == 8
    for tr, va in zip(data.train_set.images, data.val_set.images):  # columns [0, s) and [s, W) of one photo
        assert tr.shape[-2] == va.shape[-2] and va.shape[-1] == max(24, round(0.2 * (tr.shape[-1] + va.shape[-1])))
    astronaut = load_scaled(resolve_images(["astronaut"]), 96)[0]
    split = data.train_set.images[0].shape[-1]
    assert torch.equal(data.train_set.images[0], astronaut[..., :split])
    assert torch.equal(data.val_set.images[0], astronaut[..., split:])
    renamed = tmp_path / "holiday.png"
    Image.fromarray((load_image("coffee").permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")).save(renamed)
    for kw in ({"images": ["astronaut", "china"]}, {"images": ["astronaut"], "val_images": ["grace_hopper"]},
               {"images": [str(renamed)]}, {"images": ["astronaut"], "val_images": [str(tmp_path)]}):
        with pytest.raises(PreimageError, match="held out for evaluation"):
            InverterData(crop=24, resize=96, **kw).setup()
    with pytest.raises(PreimageError, match=r"holiday \(the held-out photo coffee\)"):
        InverterData(images=[str(tmp_path)], crop=24, resize=96).setup()
    with pytest.raises(PreimageError, match="too narrow"):
        InverterData(images=["astronaut"], crop=60, resize=96).setup()
