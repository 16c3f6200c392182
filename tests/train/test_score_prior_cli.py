"""Score priors through the command line: trained by ``prior fit`` (fast_dev_run of every score
config), placed as gradient-only terms by ``priors.<k>: {type: learned, prior: FILE}``,
denoising in one pass of D, sampling with ``method=langevin`` (seeded, reproducible; its run
directory holds the samples, each one's feature error, their figure and per-pixel spread), and
the bad inputs refused in one line before any step."""

from pathlib import Path

import numpy as np
import pytest
import torch

from preimage.priors.score import ScoreDenoiser
from preimage.priors.store import save_prior
from preimage.train.cli.main import main

SCORE_CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "prior").glob("score-*.yaml"))
HOG = ["invert", "--config", "hog-cvpr15", "--image", "chelsea", "--quiet", "image_size=48"]


@pytest.fixture(scope="module")
def grey_score(tmp_path_factory) -> Path:
    """A small grey score prior: a denoiser with a fixed, non-trivial last layer (so D ≠ identity)."""
    torch.manual_seed(0)
    prior = ScoreDenoiser(channels=1, features=4, depth=2, sigma_min=0.02, sigma_max=0.3)
    with torch.no_grad():
        prior.convs[-1].weight.normal_(0, 0.05)
    return save_prior(prior, tmp_path_factory.mktemp("score") / "grey.pt", {"data": {"grey": True}})


@pytest.mark.parametrize("cfg", SCORE_CONFIGS, ids=lambda c: c.stem)
def test_fast_dev_run_of_every_score_config(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stage = [f"model.init={cfg.stem.rsplit('-stage', 1)[0]}"] if "init:" in cfg.read_text() else []  # a later stage
    assert main(["prior", "fit", "--config", cfg.stem, "trainer.fast_dev_run=true", "data.batch_size=2",
                 "data.n_train=8", "data.n_val=4", "data.images=[astronaut]", *stage]) == 0


def test_score_prior_in_an_inversion_moves_the_image_along_its_score(grey_score, tmp_path):
    """One step from x: the update is −lr·scale·(∇match + w·(−s)); with the score term alone the
    image moves along +s (the gradient-only contract, end to end through the config)."""
    from preimage.train.api import prepare_invert

    job = prepare_invert("hog-cvpr15", ["chelsea"], ["image_size=48", "priors.tv=null", "priors.alpha=null",
                                                    "priors.s.type=learned", f"priors.s.prior={grey_score}",
                                                    "priors.s.weight=2.5", "priors.s.sigma=0.05"])
    term = job.objective.terms["s"]
    assert term.gradient_only and job.objective.weights["s"] == 2.5
    x = job.init.clone()
    ev = job.objective.energy_and_grad(x)
    match_only = job.objective.terms["match"]
    with torch.enable_grad():
        xr = x.clone().requires_grad_(True)
        m = match_only(xr, job.representation(xr)).sum()
        (gm,) = torch.autograd.grad(m, xr)
    gs = -2.5 * term.prior.score(x, 0.05)
    torch.testing.assert_close(ev.grad, gm + gs, rtol=1e-4, atol=1e-5)
    assert torch.isnan(ev.values["s"]).all() and torch.isfinite(ev.total).all()


def test_denoise_with_a_score_prior_is_one_pass_of_d(grey_score, tmp_path, capsys):
    import json

    from preimage.train.analysis.denoise import add_noise, prepare
    from preimage.priors.store import load_prior
    from preimage.representations import load_image

    assert main(["prior", "denoise", "--prior", str(grey_score), "--image", "coffee", "--crop", "32",
                 "--out", str(tmp_path)]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    got = json.loads((run / "metrics.json").read_text())["images"]["coffee"]["psnr_after"]
    x = prepare(load_image("coffee"), 1, 32)
    y = add_noise(x, 25.0, 0)
    d = load_prior(grey_score).energy.denoise(y[None], 25 / 255)[0]
    ref = 10 * np.log10(1 / float((d.clamp(0, 1) - x).double().pow(2).mean()))
    assert abs(got - ref) < 1e-4


def test_denoise_route_red_is_reds_fixed_point_and_refused_for_an_energy(grey_score, tmp_path, capsys):
    import json

    from preimage.priors.denoise import red_denoise
    from preimage.priors.store import load_prior
    from preimage.representations import load_image
    from preimage.train.analysis.denoise import add_noise, prepare

    assert main(["prior", "denoise", "--prior", str(grey_score), "--image", "coffee", "--crop", "32", "--lam", "0.5",
                 "--route", "red", "--out", str(tmp_path / "a")]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    metrics = json.loads((run / "metrics.json").read_text())
    x = prepare(load_image("coffee"), 1, 32)
    d = red_denoise(load_prior(grey_score).energy, add_noise(x, 25.0, 0)[None], 25 / 255, 0.5)[0]
    ref = 10 * np.log10(1 / float((d.clamp(0, 1) - x).double().pow(2).mean()))
    assert metrics["route"] == "red" and abs(metrics["images"]["coffee"]["psnr_after"] - ref) < 1e-4
    rc = main(["prior", "denoise", "--prior", "foe-grey", "--image", "coffee", "--crop", "32", "route=red",
               "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "score priors" in err[0] and not (tmp_path / "b").exists()


def test_denoise_route_ensemble_is_the_self_ensemble_and_refused_for_an_energy(grey_score, tmp_path, capsys):
    import json

    from preimage.priors.denoise import ensemble_denoise
    from preimage.priors.store import load_prior
    from preimage.representations import load_image
    from preimage.train.analysis.denoise import add_noise, prepare

    assert main(["prior", "denoise", "--prior", str(grey_score), "--image", "coffee", "--crop", "32",
                 "route=ensemble", "--out", str(tmp_path / "a")]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    metrics = json.loads((run / "metrics.json").read_text())
    x = prepare(load_image("coffee"), 1, 32)
    y = add_noise(x, 25.0, 0)
    energy = load_prior(grey_score).energy
    d = ensemble_denoise(energy, y[None], 25 / 255)[0]
    ref = 10 * np.log10(1 / float((d.clamp(0, 1) - x).double().pow(2).mean()))
    one = 10 * np.log10(1 / float((energy.denoise(y[None], 25 / 255)[0].clamp(0, 1) - x).double().pow(2).mean()))
    got = metrics["images"]["coffee"]["psnr_after"]
    assert metrics["route"] == "ensemble" and abs(got - ref) < 1e-4 and abs(got - one) > 1e-4
    rc = main(["prior", "denoise", "--prior", "foe-grey", "--image", "coffee", "--crop", "32", "--route", "ensemble",
               "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "score priors" in err[0] and not (tmp_path / "b").exists()


def test_langevin_samples_are_seeded_and_reproducible(grey_score, tmp_path, capsys):
    args = [*HOG, "repeats=2", "method.name=langevin", "method.levels=2", "method.steps_per_level=3",
            "priors.s.type=learned", f"priors.s.prior={grey_score}", "priors.s.weight=1"]
    runs = []
    for seed in (0, 0, 1):
        assert main([*args, f"seed={seed}", "--out", str(tmp_path / f"o{len(runs)}")]) == 0
        runs.append(Path(capsys.readouterr().out.strip().splitlines()[-1]))
    a, b, c = (np.load(r / "chelsea-r0.npy") for r in runs)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(np.load(runs[0] / "chelsea-r0.npy"), np.load(runs[0] / "chelsea-r1.npy"))


def test_a_langevin_run_directory_holds_the_samples_their_errors_and_spread(grey_score, tmp_path, capsys):
    """repeats=3 samples of one image: each sample's PNG and .npy, its relative feature error in
    metrics.json, ``sample_std`` there = the mean per-pixel std (n − 1) of the saved samples,
    ``samples.png`` and ``sample_std.png``; one sample has no spread (no sample_std)."""
    import json

    from PIL import Image

    args = [*HOG, "method.name=langevin", "method.levels=2", "method.steps_per_level=2",
            "priors.s.type=learned", f"priors.s.prior={grey_score}", "priors.s.weight=1"]
    assert main([*args, "repeats=3", "--out", str(tmp_path / "a")]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    metrics = json.loads((run / "metrics.json").read_text())
    samples = [e["relative_error"] for e in metrics["images"]["chelsea"]]
    assert metrics["method"] == "langevin" and len(samples) == 3 and all(0 < e < float("inf") for e in samples)
    assert len(set(samples)) == 3  # each sample its own error
    rgb = np.stack([np.asarray(Image.open(run / f"chelsea-r{k}.png").convert("RGB"), np.float64) / 255
                    for k in range(3)])
    assert metrics["sample_std"]["chelsea"] == pytest.approx(rgb.std(0, ddof=1).mean(-1).mean(), abs=2e-3)
    assert metrics["sample_std"]["chelsea"] > 0
    for name, panels in (("samples.png", 5), ("sample_std.png", 2)):  # original, 3 samples, mean | mean, std
        w, h = Image.open(run / name).size
        assert w == 8 + panels * (48 + 8) and h == 8 + 48 + 16 + 8, (name, w, h)
    assert main([*args, "repeats=1", "--out", str(tmp_path / "b")]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (run / "samples.png").is_file() and not (run / "sample_std.png").exists()
    assert "sample_std" not in json.loads((run / "metrics.json").read_text())


def test_a_far_sample_is_warned_with_the_sampler_s_own_advice():
    """Langevin samples are not minimised (no 'ended above' warning) and have no optimiser, so
    a relative feature error above 1 points at the match weight and the step size instead."""
    from preimage.inversion import InversionResult
    from preimage.train.jobs.run import run_warnings

    hist = {"total": torch.tensor([[1.0, 1.0], [2.0, 2.0]])}
    metrics = {"total": torch.tensor([2.0, 2.0]), "relative_error@match": torch.tensor([0.5, 1.5])}
    sampled = InversionResult(torch.zeros(2, 1, 4, 4), hist, metrics, 2, 0.0, {"sigma_factor": torch.ones(2)})
    assert run_warnings(sampled, ["a-r0", "a-r1"]) == [
        "relative feature error 1.5 > 1 for a-r1; try a larger objective.weight or a smaller method.eps"]
    optimised = InversionResult(torch.zeros(2, 1, 4, 4), hist, metrics, 2, 0.0)
    assert run_warnings(optimised, ["a-r0", "a-r1"])[-1].endswith("; try a smaller optimiser.lr or a box")


@pytest.mark.parametrize("override, message", [
    ("priors.s.sigma=0", "priors.s.sigma=0"),
    ("priors.s.sigma=-1", "priors.s.sigma=-1"),
    ("priors.s.sweep=[1]", "sweep and patch_stride apply to energies"),
    ("optimiser.name=lbfgs", "gradient"),
])
def test_bad_score_prior_input_is_one_line(grey_score, override, message, tmp_path, capsys):
    out = tmp_path / "runs"
    rc = main([*HOG, "priors.s.type=learned", f"priors.s.prior={grey_score}", override, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_a_grey_score_prior_on_a_colour_inversion_is_refused(grey_score, tmp_path, capsys):
    rc = main(["invert", "--config", "squeezenet-cvpr15", "--image", "chelsea", "--quiet", "image_size=32",
               "priors.s.type=learned", f"priors.s.prior={grey_score}", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "1 channel" in err[0] and "3 channels" in err[0]


def test_model_init_starts_from_a_prior_s_weights_and_refuses_another_network(grey_score, tmp_path, capsys):
    from preimage.priors.foe import FieldOfExperts
    from preimage.representations.errors import PreimageError
    from preimage.train.fit.prior import PriorModule

    saved = torch.load(grey_score, weights_only=True)["state_dict"]
    fresh = ScoreDenoiser(channels=1, features=4, depth=2, sigma_min=0.02, sigma_max=0.3)
    assert any(not torch.equal(v, saved[k]) for k, v in fresh.state_dict().items())  # a random start differs
    module = PriorModule(fresh, loss="dsm", init=str(grey_score))
    for k, v in module.energy.state_dict().items():
        torch.testing.assert_close(v, saved[k], rtol=0, atol=0)
    with pytest.raises(PreimageError) as err:  # another width
        PriorModule(ScoreDenoiser(channels=1, features=8, depth=2, sigma_min=0.02, sigma_max=0.3), loss="dsm",
                    init=str(grey_score))
    assert "features=4" in str(err.value) and "features=8" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(PreimageError) as err:  # another class
        PriorModule(FieldOfExperts(n_experts=2, patch_size=3, channels=1), init=str(grey_score))
    assert "ScoreDenoiser" in str(err.value) and "FieldOfExperts" in str(err.value)
    from preimage.priors.store import load_prior  # an energy: its whitening comes too; its own init scheme is no matter
    foe = load_prior("foe-grey").energy
    start = FieldOfExperts(**{**foe.hparams(), "init": "random"})
    for (k, v), w in zip(PriorModule(start, init="foe-grey").energy.state_dict().items(), foe.state_dict().values()):
        assert torch.equal(v, w), k
    # through the CLI: the second stage starts from the first stage's file, and its file says so
    args = ["prior", "fit", "--config", "score-grey", "data.batch_size=2", "data.n_train=8", "data.n_val=4",
            "data.images=[astronaut]", "trainer.max_steps=1", "trainer.val_check_interval=1",
            "model.energy.init_args.features=4", "model.energy.init_args.depth=4"]
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    assert main([*args, f"--trainer.default_root_dir={tmp_path / 'a'}", f"model.export={first}"]) == 0
    assert main([*args, f"--trainer.default_root_dir={tmp_path / 'b'}", f"model.init={first}",
                 f"model.export={second}", "model.lr=1e-12"]) == 0
    a, b = torch.load(first, weights_only=True), torch.load(second, weights_only=True)
    assert b["meta"]["init"] == str(first)
    for k, v in a["state_dict"].items():  # one step at a vanishing rate: still the first stage's weights
        torch.testing.assert_close(b["state_dict"][k], v, rtol=1e-6, atol=1e-9)
    capsys.readouterr()
    rc = main([*args, f"--trainer.default_root_dir={tmp_path / 'c'}", f"model.init={first}",
               "model.energy.init_args.features=8", f"model.export={tmp_path / 'third.pt'}"])
    assert rc == 2 and not (tmp_path / "third.pt").exists() and not (tmp_path / "c").exists()
    assert "model.init" in capsys.readouterr().err
