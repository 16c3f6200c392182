"""`preimage prior fit / fit-gmm / denoise / list`: every config instantiates and runs
(fast_dev_run, tiny), checkpoints round-trip and resume, bad input is one line with exit 2
and nothing written."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from preimage.train.cli.main import main

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "prior").glob("*.yaml"))
SGD_CONFIGS = [c for c in CONFIGS if "trainer" in yaml.safe_load(c.read_text())]
GMM_CONFIGS = [c for c in CONFIGS if c not in SGD_CONFIGS]


@pytest.fixture
def photo(tmp_path):
    """A small natural-looking image (a crop of the bundled camera photo)."""
    from preimage.representations import load_image

    x = load_image("camera")[:, 200:280, 200:300]
    path = tmp_path / "photo.png"
    Image.fromarray((x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(path)
    return path


def tiny(cfg: Path, photo: Path) -> list[str]:
    """Overrides that make a config run in about a second."""
    data = yaml.safe_load(cfg.read_text())["data"]
    args = ["--data.images", f"[{photo}]", "--data.n_train", "64", "--data.n_val", "16"]
    if data.get("representation") is None:
        args += ["--data.patch_size", str(min(int(data.get("patch_size", 8)), 12))]
    elif data.get("patch_size") is not None:  # a score prior's windows: the tiny photo's deep maps are ~20 wide
        args += ["--data.patch_size", str(min(int(data["patch_size"]), 8))]
    return args + stage(cfg)


def stage(cfg: Path) -> list[str]:
    """A later training stage starts from its first stage's file (``model.init``, made by the
    first stage's command); here from the shipped prior of the same network."""
    init = yaml.safe_load(cfg.read_text())["model"].get("init")
    return ["--model.init", cfg.stem.rsplit("-stage", 1)[0]] if init else []


def test_configs_found():
    names = {c.stem for c in CONFIGS}
    assert {"foe-grey", "foe-rgb", "ica-rgb", "gmm-grey", "gmm-rgb"} <= names
    assert sum("squeezenet" in n for n in names) >= 2


@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=lambda c: c.stem)
def test_every_config_instantiates(cfg):
    from preimage.priors.learned import PatchEnergy
    from preimage.train.fit.app import run_lightning_cli
    from preimage.train.fit.patch_data import PatchDataModule
    from preimage.train.fit.prior import PriorModule

    from preimage.priors.score import ScorePrior

    cli = run_lightning_cli(PriorModule, PatchDataModule, ["--config", str(cfg), *stage(cfg)], run=False)
    assert isinstance(cli.model.energy, ScorePrior if cfg.stem.startswith("score-") else PatchEnergy)
    expected = yaml.safe_load(cfg.read_text())["model"]["energy"]["init_args"]
    assert all(cli.model.energy.hparams()[k] == v for k, v in expected.items() if k in cli.model.energy.hparams())


@pytest.mark.parametrize("cfg", GMM_CONFIGS, ids=lambda c: c.stem)
def test_every_gmm_config_instantiates(cfg):
    from preimage.train.fit.gmm import GMMFit, build_parser

    parser = build_parser()
    init = parser.instantiate_classes(parser.parse_args(["--config", str(cfg)]))
    assert isinstance(init.model, GMMFit)
    assert init.model.n_components == yaml.safe_load(cfg.read_text())["model"]["n_components"]


@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=lambda c: c.stem)
def test_fast_dev_run_of_every_config(cfg, photo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["prior", "fit", "--config", str(cfg), "--trainer.fast_dev_run", "true",
               "--data.batch_size", "4", *tiny(cfg, photo)])
    assert rc == 0


@pytest.mark.parametrize("cfg", GMM_CONFIGS, ids=lambda c: c.stem)
def test_fit_gmm_of_every_gmm_config(cfg, photo, tmp_path, capsys):
    from preimage.priors.store import load_prior

    rc = main(["prior", "fit-gmm", "--config", str(cfg), "--data.images", f"[{photo}]", "--data.n_train", "400",
               "--data.n_val", "50", "--model.n_components", "3", "--model.max_iter", "3", "--model.lam", "0.5",
               "--model.out", str(tmp_path / "runs")])
    assert rc == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    loaded = load_prior(run / "prior.pt")
    assert loaded.meta["kind"] == "gmm" and loaded.lam == 0.5 and loaded.meta["command"].startswith("preimage prior fit-gmm")
    assert (run / "metrics.json").is_file() and (run / "config.yaml").is_file()


def _fit(tmp_path, photo, *extra):
    cfg = next(c for c in SGD_CONFIGS if c.stem == "foe-grey")
    args = ["prior", "fit", "--config", str(cfg), "--data.images", f"[{photo}]", "--data.patch_size", "10",
            "--data.n_train", "64", "--data.n_val", "16", "--data.batch_size", "8",
            "--model.energy.init_args.patch_size", "3", "--model.energy.init_args.n_experts", "4",
            "--model.lam", "0.2", "--trainer.enable_progress_bar", "false", *extra]
    return main(args)


def test_checkpoint_round_trip_and_resume(photo, tmp_path, monkeypatch, capsys):
    from preimage.priors.store import load_prior

    monkeypatch.chdir(tmp_path)
    assert _fit(tmp_path, photo, "--trainer.max_steps", "4", "--trainer.val_check_interval", "2") == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    ckpt = run / "checkpoints" / "last.ckpt"
    raw = torch.load(ckpt, weights_only=True)  # plain tensors and containers only
    assert raw["global_step"] == 4 and raw["preimage"]["prior_kind"] == "foe"
    exported, from_ckpt = load_prior(run / "prior.pt"), load_prior(ckpt)
    z = torch.rand(2, 1, 9, 9)
    assert torch.allclose(exported.energy(z), from_ckpt.energy(z))
    assert exported.lam == 0.2 and exported.meta["command"].startswith("preimage prior fit --config")
    # resume: continues from step 4 with the restored (not refitted) whitening, in the run
    # directory that wrote the checkpoint (its first config kept, the resumed one beside it)
    first_config = (run / "config.yaml").read_text()
    assert _fit(tmp_path, photo, "--trainer.max_steps", "6", "--trainer.val_check_interval", "2",
                "--data.seed", "5", "--ckpt_path", str(ckpt)) == 0
    run2 = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert run2 == run and (run / "config.yaml").read_text() == first_config
    assert "ckpt_path" in (run / "config-resumed.yaml").read_text()
    assert (run / "metrics-1.csv").is_file() and (run / "metrics.csv").is_file()  # the first part's log kept
    assert load_prior(run / "prior.pt").meta["steps"] == 6
    assert len(list(run.parent.iterdir())) == 1  # no second run directory
    raw2 = torch.load(run2 / "checkpoints" / "last.ckpt", weights_only=True)
    assert raw2["global_step"] == 6
    key = "energy.whitening.matrix"
    assert torch.equal(raw2["state_dict"][key], raw["state_dict"][key])


def test_export_prunes_collapsed_experts_and_checkpoint_keeps_all(photo, tmp_path, monkeypatch, capsys):
    """``--model.prune t`` exports only the experts with strength ≥ t × the largest (the
    checkpoint keeps all); the exported energy is what prune_experts makes of the checkpoint's."""
    from preimage.priors.prune import prune_experts
    from preimage.priors.store import load_prior

    monkeypatch.chdir(tmp_path)
    assert _fit(tmp_path, photo, "--trainer.max_steps", "2", "--model.prune", "0.999") == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    exported, full = load_prior(run / "prior.pt"), load_prior(run / "checkpoints" / "last.ckpt")
    assert full.energy.n_experts == 4 and exported.energy.n_experts == 1
    assert exported.meta["pruned"]["kept"] == 1 and exported.meta["pruned"]["of"] == 4
    ref, _ = prune_experts(full.energy, 0.999)
    z = torch.rand(2, 1, 9, 9)
    torch.testing.assert_close(exported.energy(z), ref(z))
    err = _one_line_exit2(["prior", "fit", "--config", str(SGD_CONFIGS[0]), "--model.prune", "2"], capsys, tmp_path)
    assert "prune tolerance" in err


def _one_line_exit2(argv, capsys, tmp_path):
    before = sorted(p for p in tmp_path.rglob("*"))
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written
    return err


def test_bad_input_is_one_line_exit_2_nothing_written(photo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = str(next(c for c in SGD_CONFIGS if c.stem == "foe-grey"))
    err = _one_line_exit2(["prior", "fit", "--config", cfg, "--data.images", f"[{photo}]",
                           "--data.representation", "squeezenet", "--data.layer", "conv9",
                           "--data.weights", "random"], capsys, tmp_path)
    assert "unknown layer 'conv9'" in err
    err = _one_line_exit2(["prior", "fit", "--config", cfg, "--data.images", f"[{photo}]",
                           "--data.patch_size", "500"], capsys, tmp_path)
    assert "larger than the" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _one_line_exit2(["prior", "fit", "--config", cfg, "--data.images", f"[{empty}]"], capsys, tmp_path)
    assert "no image files" in err
    err = _one_line_exit2(["prior", "fit", "--config", cfg, "--model.no_such_option", "3"], capsys, tmp_path)
    assert "no_such_option" in err
    bad = tmp_path / "corrupt.ckpt"
    bad.write_bytes(b"not a checkpoint")
    err = _one_line_exit2(["prior", "fit", "--config", cfg, "--data.images", f"[{photo}]",
                           "--ckpt_path", str(bad)], capsys, tmp_path)
    assert "corrupt.ckpt" in err
    err = _one_line_exit2(["prior", "denoise", "--prior", str(bad), "--image", str(photo)], capsys, tmp_path)
    assert "corrupt.ckpt" in err
    other = tmp_path / "other.ckpt"  # a Lightning checkpoint of something that is not a prior
    torch.save({"state_dict": {"net.weight": torch.zeros(2)}, "hyper_parameters": {"lr": 0.1}}, other)
    err = _one_line_exit2(["prior", "denoise", "--prior", str(other), "--image", str(photo)], capsys, tmp_path)
    assert "not of a prior" in err
    err = _one_line_exit2(["prior", "fit", "--config", cfg, "--data.images", f"[{photo}]",
                           "--ckpt_path", str(other)], capsys, tmp_path)
    assert "not a checkpoint of a prior" in err


def test_denoise_writes_a_run_and_improves_psnr(photo, tmp_path, capsys):
    import json

    from preimage.priors.gmm import GMMPatchPrior
    from preimage.priors.store import save_prior
    from preimage.train.fit.patch_data import PatchDataModule

    dm = PatchDataModule(images=["camera"], grey=True, patch_size=4, n_train=3000, n_val=10)
    dm.setup()
    prior_path = save_prior(GMMPatchPrior.fit(dm.train_patches, 4, 1e-6, 10, 0), tmp_path / "g.pt", {"lam": 1.0})
    rc = main(["prior", "denoise", "--prior", str(prior_path), "--image", str(photo), "--sigma", "25",
               "--out", str(tmp_path / "runs")])
    assert rc == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    m = json.loads((run / "metrics.json").read_text())["images"]["photo"]
    assert m["psnr_after"] > m["psnr_before"] + 3 and m["ssim_after"] > m["ssim_before"]
    assert {"photo-noisy.png", "photo-denoised.png", "photo-clean.png", "figure.png"} <= {p.name for p in run.iterdir()}


def test_help_and_list(capsys):
    from preimage.priors.store import list_priors

    with pytest.raises(SystemExit):
        main(["prior", "--help"])
    out = capsys.readouterr().out
    assert all(s in out for s in ("fit", "fit-gmm", "denoise", "list"))
    assert main(["prior", "list"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in list_priors())


def test_wandb_logger_selectable_and_offline_by_default(monkeypatch):
    from preimage.train.fit.app import WandbLogger, run_lightning_cli
    from preimage.train.fit.patch_data import PatchDataModule
    from preimage.train.fit.prior import PriorModule

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.netrc with a W&B key
    cfg = str(next(c for c in SGD_CONFIGS if c.stem == "foe-grey"))
    cli = run_lightning_cli(PriorModule, PatchDataModule, ["--config", cfg, "--trainer.logger",
                                                           "preimage.train.fit.app.WandbLogger"], run=False)
    assert isinstance(cli.trainer.logger, WandbLogger) and cli.trainer.logger._offline is True
