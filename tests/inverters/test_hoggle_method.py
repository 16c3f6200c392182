"""``method: hoggle`` of ``preimage invert``: the schema variant runs HOGgle on the job's Φ₀
and reports the same metrics as optimisation; wrong models and representations fail clearly."""

from __future__ import annotations

import pytest
import torch

from preimage.inverters.hoggle_fit import fit_hoggle
from preimage.representations import resize_crop, resolve_images
from preimage.representations.errors import PreimageError
from preimage.train.config.overrides import apply_overrides, load_preset
from preimage.train.jobs.setup import build_job


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    photos = [(n, resize_crop(img, 128)) for n, img in resolve_images(["astronaut", "camera"])]
    path = tmp_path_factory.mktemp("hoggle") / "tiny.npz"
    fit_hoggle(photos, atoms=16, windows=800, epochs=1, batch_size=128).save(path)
    return path


def _job(preset: str, model, size: int = 96, extra: tuple[str, ...] = ()):
    cfg = apply_overrides(load_preset(preset), ["method.name=hoggle", f"method.model={model}",
                                                f"image_size={size}", *extra])
    return build_job(cfg, resolve_images(["coffee", "china"]))


def test_method_hoggle_reconstructs_at_the_input_size_with_metrics(model_file):
    job = _job("hog-cvpr15", model_file, extra=("repeats=2",))
    res = job.method.run(job, [])
    assert res.images.shape == (4, 1, 96, 96) and res.steps == 0
    assert torch.equal(res.images[0], res.images[1])                # deterministic: restarts coincide
    rel = res.metrics["relative_error@match"]
    assert rel.shape == (4,) and bool(((rel > 0) & (rel < 1)).all())  # better than the constant image (error 1)
    assert res.extra["method"] == "hoggle"


def test_method_hoggle_rejects_other_representations(model_file):
    job = _job("dsift-cvpr15", model_file)
    with pytest.raises(PreimageError, match="inverts hog with 8-pixel cells"):
        job.method.run(job, [])


def test_method_hoggle_missing_model_is_one_clear_error(tmp_path):
    job = _job("hog-cvpr15", tmp_path / "none.npz")
    with pytest.raises(PreimageError, match="not found"):
        job.method.run(job, [])
