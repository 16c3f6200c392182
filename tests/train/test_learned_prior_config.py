"""Learned priors as invert-config terms: the image prior sees the photo in [0, 1] whatever the
representation's convention; a feature-map prior taps its layer; ``weight: auto`` gives the
prior the stated share of the data term's response to noise; ``sweep`` weights each restart."""

import pytest
import torch

from preimage.priors import FieldOfExperts, GMMPatchPrior, save_prior
from preimage.priors.adapt import for_convention
from preimage.representations import load_image
from preimage.representations.errors import PreimageError
from preimage.train.config.overrides import apply_overrides, load_preset
from preimage.train.jobs.setup import build_job

TINY = ["optimiser.schedule=[[1, 3], [0.1, 2]]", "image_size=48", "repeats=2", "x0_sigma_scale_with_size=true"]


def _image_prior(tmp_path, channels=3):
    torch.manual_seed(0)
    e = FieldOfExperts(channels, 3, 6, whitening="zca")
    rgb = load_image("astronaut")[None, :channels, 100:160, 100:160]
    e.fit_whitening(torch.nn.functional.unfold(rgb, 3).transpose(1, 2).reshape(-1, channels, 3, 3))
    return save_prior(e, tmp_path / f"img{channels}.pt"), e


def _feature_prior(tmp_path, layer="conv1", channels=64, representation="squeezenet"):
    torch.manual_seed(0)
    e = FieldOfExperts(channels, 3, 4, whitening=None)
    return save_prior(e, tmp_path / f"{layer}.pt", {"layer": layer, "representation": representation}), e


def _job(overrides, images=("chelsea",)):
    cfg = apply_overrides(load_preset("squeezenet-cvpr15"), ["layer=conv1", *TINY, *overrides])
    return build_job(cfg, [(n, load_image(n)) for n in images])


def test_image_prior_reads_rgb_in_unit_range_with_closed_form_gradient(tmp_path):
    path, e = _image_prior(tmp_path)
    job = _job([f"priors.foe.type=learned", f"priors.foe.prior={path}", "priors.foe.weight=2.0"])
    term = job.objective.terms["foe"]
    x = job.init.double().requires_grad_(True)
    x0 = job.x0.double()
    torch.testing.assert_close(term.energy.double()(x0), e.double()(job.rgb.double()), rtol=1e-8, atol=1e-6)
    value, grad = term.closed_form(x.detach())
    (auto,) = torch.autograd.grad(term(x, {}).sum(), x)
    torch.testing.assert_close(grad, auto, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(value, 2.0 * term.energy(x.detach()))


def test_grey_prior_on_colour_input_uses_luma(tmp_path):
    from preimage.representations.base import InputConvention

    e = FieldOfExperts(1, 3, 4, whitening=None).double()
    conv = InputConvention(scale=255.0, mean=(10.0, 20.0, 30.0), std=(2.0, 1.0, 0.5), channel_order="BGR")
    rgb = torch.rand(2, 3, 7, 7, dtype=torch.float64)
    luma = (rgb * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)[:, None, None]).sum(1, keepdim=True)
    wrapped = for_convention(e, conv)
    torch.testing.assert_close(wrapped(conv.preprocess(rgb)), e(luma))


def test_feature_prior_is_tapped_and_auto_weight_gives_the_share(tmp_path):
    path, _ = _feature_prior(tmp_path, layer="fire2", channels=128)
    job = _job([f"priors.fp.type=learned", f"priors.fp.prior={path}", "priors.fp.share=0.25"])
    assert "fire2" in job.representation.taps and "fp@fire2" in job.objective.terms
    term = job.objective.terms["fp@fire2"]
    # recompute the definition: share · D(x0 + δ) / (E(Φ(x0 + δ)) − E(Φ0)) with the job's δ
    ctx = job.context
    g = torch.Generator().manual_seed(ctx.seed + 8191)
    delta = torch.randn(ctx.rgb.shape, generator=g, dtype=ctx.rgb.dtype) * (25 / 255)
    with torch.no_grad():
        feats = ctx.representation(ctx.representation.convention.preprocess(ctx.rgb + delta))
        d = ((feats["conv1"] - ctx.phi0["conv1"]).pow(2).sum() / ctx.phi0["conv1"].pow(2).sum()).item()
        rise = (term.energy(feats["fire2"]) - term.energy(ctx.phi0["fire2"])).item()
    assert rise > 0
    torch.testing.assert_close(term.scale, torch.full((1,), 0.25 * d / rise, dtype=term.scale.dtype))
    with pytest.raises(PreimageError, match="leave the learned prior's layer unset"):
        _job([f"priors.fp.type=learned", f"priors.fp.prior={path}", "priors.fp.layer=conv1"])


def test_sweep_gives_each_restart_its_weight(tmp_path):
    path, _ = _image_prior(tmp_path)
    job = _job([f"priors.foe.type=learned", f"priors.foe.prior={path}", "priors.foe.weight=3.0",
                "priors.foe.sweep=[0.0, 1.0]"], images=("chelsea", "coffee"))
    term = job.objective.terms["foe"]
    x = job.init                                                     # (4, 3, 48, 48): image-major, 2 restarts
    value, _ = term.closed_form(x)
    e = term.energy(x)
    torch.testing.assert_close(value, e * torch.tensor([0.0, 3.0, 0.0, 3.0], dtype=e.dtype))
    with pytest.raises(PreimageError, match="set repeats=3"):
        _job([f"priors.foe.type=learned", f"priors.foe.prior={path}", "priors.foe.sweep=[1, 2, 3]"])
    with pytest.raises(PreimageError, match=r"sweep is empty; give one weight factor per restart .* or leave sweep out"):
        _job([f"priors.foe.type=learned", f"priors.foe.prior={path}", "priors.foe.sweep=[]"])


def test_bad_prior_names_are_one_clear_error(tmp_path):
    with pytest.raises(PreimageError, match="unknown prior"):
        _job(["priors.foe.type=learned", "priors.foe.prior=no-such-prior"])
    path, _ = _feature_prior(tmp_path, layer="conv1", representation="caffenet")
    with pytest.raises(PreimageError, match="use a prior of this representation"):
        _job(["priors.fp.type=learned", f"priors.fp.prior={path}"])


def test_prior_slot_check_is_generic_and_names_both_spaces():
    """The one check every prior variant (learned energies, score priors) calls with its channels and layer."""
    from preimage.train.config.slots import check_prior_slot

    check_prior_slot("priors.s", 3, None, 3, None, prior="'x'", slot_representation="squeezenet")
    check_prior_slot("priors.s", 64, "conv1", 64, "conv1", prior_representation="squeezenet",
                     slot_representation="squeezenet")
    with pytest.raises(PreimageError, match=r"has 1 channel \(grey\) on the image, but its slot, squeezenet's input "
                                            r"image, has 3 channels \(RGB\)"):
        check_prior_slot("priors.s", 1, None, 3, None, prior="'x'", slot_representation="squeezenet")
    with pytest.raises(PreimageError, match="trained on squeezenet conv1 .64 channels., not on the image"):
        check_prior_slot("priors.s", 64, "conv1", 3, None, prior_representation="squeezenet")
    with pytest.raises(PreimageError, match="use a prior of this representation"):
        check_prior_slot("priors.s", 64, "conv1", 64, "conv1", prior_representation="alexnet",
                         slot_representation="squeezenet")
