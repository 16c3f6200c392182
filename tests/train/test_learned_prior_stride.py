"""``patch_stride`` of a learned GMM prior in an invert config: the term scores s² × the grid
patches (the explicit approximation), the prior stays exact elsewhere; other priors refuse it."""

import pytest
import torch

from preimage.priors import FieldOfExperts, GMMPatchPrior, save_prior
from preimage.representations import load_image
from preimage.representations.errors import PreimageError
from preimage.train.config.overrides import apply_overrides, load_preset
from preimage.train.jobs.setup import build_job

TINY = ["layer=conv1", "optimiser.schedule=[[1, 2]]", "image_size=32", "repeats=1", "x0_sigma_scale_with_size=true"]


def _job(overrides):
    cfg = apply_overrides(load_preset("squeezenet-cvpr15"), [*TINY, *overrides])
    return build_job(cfg, [("chelsea", load_image("chelsea"))])


def test_gmm_patch_stride_reaches_the_term(tmp_path):
    rgb = load_image("astronaut")[None, :, 100:140, 100:140]
    patches = torch.nn.functional.unfold(rgb, 3).transpose(1, 2).reshape(-1, 3, 3, 3)
    path = save_prior(GMMPatchPrior.fit(patches, n_components=2, max_iter=5), tmp_path / "g.pt")
    common = ["priors.g.type=learned", f"priors.g.prior={path}", "priors.g.weight=1.0"]
    exact = _job(common).objective.terms["g"]
    strided = _job([*common, "priors.g.patch_stride=2"]).objective.terms["g"]
    x = exact.energy._map(_job(common).init)
    with torch.no_grad():
        assert strided.energy.energy.patch_stride == 2 and exact.energy.energy.patch_stride == 1
        torch.testing.assert_close(strided.closed_form(_job(common).init)[0],
                                   exact.energy.energy.with_patch_stride(2)(x))
        assert not torch.allclose(strided.closed_form(_job(common).init)[0], exact.closed_form(_job(common).init)[0])


def test_patch_stride_on_a_field_of_experts_is_one_clear_error(tmp_path):
    path = save_prior(FieldOfExperts(3, 3, 4, whitening=None), tmp_path / "f.pt")
    with pytest.raises(PreimageError, match="GMM priors only"):
        _job(["priors.f.type=learned", f"priors.f.prior={path}", "priors.f.patch_stride=2"])
