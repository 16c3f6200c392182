"""IJCV'16 pieces: the AdaGrad-normalised momentum of the reference code, the per-pixel
colour-norm box, caricatures and activation maximisation (they must do what they say:
push Φ(x) along Φ₀, drive the chosen neuron up), and the presets built from config."""

import pytest
import torch

from preimage.inversion import (AdagradMomentum, ActivationMax, Box, Caricature, Objective, PriorTerm, expand_schedule,
                       invert, random_init)
from preimage.priors import TVPrior
from preimage.train.config.overrides import apply_overrides, load_preset
from preimage.train.jobs.setup import build_job


def test_adagrad_momentum_matches_reference_update():
    opt = AdagradMomentum([0.5, 0.5, 0.05], momentum=0.9, scale=2.0)
    x = torch.tensor([1.0, -2.0])
    g1, g2, g3 = torch.tensor([0.3, -1.0]), torch.tensor([0.1, 0.2]), torch.tensor([-0.4, 0.5])
    sq, m, ref = torch.zeros(2), torch.zeros(2), x.clone()
    for t, (g, lr) in enumerate([(g1, 1.0), (g2, 1.0), (g3, 0.1)]):
        opt.step(x, g, t)
        if t == 2:
            m = torch.zeros(2)  # momentum reset at the lr change; the squared sum is kept
        sq = 0.9 * sq + g * g
        m = 0.9 * m - g / (1 / lr + sq.sqrt())
        ref = ref + m
        torch.testing.assert_close(x, ref)
    assert opt.resets == [0, 2]


def test_box_norm_shrinks_colour_vectors_only_when_too_long():
    x = torch.tensor([[3.0, 0.5], [4.0, 0.5], [0.0, 0.5]]).reshape(1, 3, 1, 2)
    Box(-2.5, 2.5, mode="norm")(x)
    torch.testing.assert_close(x.norm(dim=1)[0, 0], torch.tensor([2.5, 0.75 ** 0.5]))
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([1.5, 2.0, 0.0]))  # direction kept


def test_caricature_pushes_features_along_phi0(squeeze_conv1, chelsea64):
    x0 = squeeze_conv1.convention.preprocess(chelsea64)
    phi0 = squeeze_conv1(x0)["conv1"]
    obj = Objective(squeeze_conv1, {"caricature": (1.0, Caricature("conv1", phi0)),
                                    "tv": (1e-9, PriorTerm(TVPrior()))})
    res = invert(obj, x0, AdagradMomentum([53.3] * 20, scale=64 * 64))  # the reference: lr · H·W
    proj = lambda x: float((squeeze_conv1(x)["conv1"] * phi0).sum() / phi0.square().sum())  # noqa: E731
    assert proj(x0) == pytest.approx(1.0)
    assert proj(res.images) > 1.2
    assert res.history["caricature"][-1, 0] < res.history["caricature"][0, 0]


def test_activation_maximisation_drives_the_neuron_up(squeeze_conv1):
    w = torch.zeros(1, 64, 31, 31)
    w[0, 7, 15, 15] = 1.0
    obj = Objective(squeeze_conv1, {"act": (1.0, ActivationMax("conv1", w, sigma=10.0)),
                                    "tv": (1e-4, PriorTerm(TVPrior()))})
    init = random_init((2, 3, 64, 64), 500.0, seed=0)
    before = squeeze_conv1(init)["conv1"][:, 7, 15, 15]
    res = invert(obj, init, AdagradMomentum([53.3] * 30, scale=64 * 64))
    after = squeeze_conv1(res.images)["conv1"][:, 7, 15, 15]
    assert (after > before + 15).all()


@pytest.mark.parametrize("preset,term", [("squeezenet-ijcv16", "match"),
                                         ("squeezenet-caricature-ijcv16", "caricature"),
                                         ("squeezenet-actmax-ijcv16", "activation")])
def test_ijcv16_presets_decrease_their_energy(preset, term, chelsea64):
    cfg = apply_overrides(load_preset(preset), ["image_size=64", "repeats=1", "layer=fire3",
                                                "optimiser.schedule=[[1, 12]]", "jitter.steps=6"])
    if term == "activation":
        cfg["objective"]["target_channel"] = 3
    job = build_job(cfg, [("chelsea", chelsea64[0])])
    assert type(job.optimiser) is AdagradMomentum and job.box.mode == "norm"
    if term == "caricature":
        torch.testing.assert_close(job.init, job.x0)  # caricatures start from the image
    res = invert(job.objective, job.init, job.optimiser, job.steps, jitter=job.jitter, box=job.box)
    assert res.metrics["total"][0] < res.history["total"][0, 0]
    assert res.images.norm(dim=1).max() <= 160.0 + 1e-3


def test_activation_needs_a_channel(chelsea64):
    from preimage.representations.errors import PreimageError

    cfg = apply_overrides(load_preset("squeezenet-actmax-ijcv16"), ["objective.target_channel=null", "image_size=64"])
    with pytest.raises(PreimageError, match="target_channel"):
        build_job(cfg, [("chelsea", chelsea64[0])])
    with pytest.raises(PreimageError, match="unknown objective 'dream'"):
        cfg = apply_overrides(load_preset("squeezenet-cvpr15"), ["objective=dream"])
        build_job(cfg, [("chelsea", chelsea64[0])])


def test_prior_on_a_feature_map_from_config(chelsea64):
    cfg = apply_overrides(load_preset("squeezenet-cvpr15"), ["image_size=64", "repeats=2", "layer=fire3",
                                                             "priors.tv.layer=conv1", "priors.tv.weight=0.001",
                                                             "optimiser.schedule=[[1, 8]]"])
    job = build_job(cfg, [("chelsea", chelsea64[0])])
    assert set(job.objective.terms) == {"match", "tv@conv1", "alpha"}
    assert job.representation.taps == ["conv1", "fire3"] and job.layers == ["fire3"]
    ev = job.objective.energy_and_grad(job.x0)
    torch.testing.assert_close(ev.values["tv@conv1"], torch.tensor([0.001]))  # normalised: 1 at the original
    res = invert(job.objective, job.init, job.optimiser, job.steps, box=job.box)
    assert (res.metrics["total"] < res.history["total"][0]).all()


def test_unknown_prior_type():
    from preimage.representations.errors import PreimageError

    cfg = load_preset("squeezenet-cvpr15")
    cfg["priors"]["tv"]["type"] = "foe"
    with pytest.raises(PreimageError, match="unknown type 'foe'"):
        build_job(cfg, [("x", torch.rand(3, 64, 64))])
