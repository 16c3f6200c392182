"""``preimage inverter fit`` (fast_dev_run of every config) and the inverter inside
``preimage invert``: same run directory and metrics as optimisation; the hybrid is never
worse than the inverter alone in the objective; bad input is one line, exit 2, nothing written."""

import json

import pytest
import torch

from preimage.inverters import build_inverter, save_inverter
from preimage.representations import build_representation, resolve_images
from preimage.train.cli.main import main
from preimage.train.config.overrides import apply_overrides, load_preset
from preimage.train.jobs.setup import build_job
from preimage.train.config.presets import preset_names


def config_names() -> list[str]:
    return preset_names("inverter")
from preimage.train.jobs.inverters import run_hybrid, run_inverter

TINY = ["image_size=48", "x0_sigma_scale_with_size=true"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A small conv1 inverter of SqueezeNet fitted in closed-form-free fashion: 40 Adam steps."""
    torch.manual_seed(0)
    rep = build_representation("squeezenet", taps=["conv1"])
    inv = build_inverter(rep, "conv1", width=16, image_size=48)
    (_, img), = resolve_images(["astronaut"])
    x = rep.convention.preprocess(torch.nn.functional.interpolate(img[None], size=(96, 96)))
    with torch.no_grad():
        phi = rep(x)["conv1"]
    from preimage.inverters import stage_sizes
    sizes = stage_sizes(rep, inv, (96, 96))
    opt = torch.optim.Adam(inv.parameters(), lr=3e-3)
    for _ in range(40):
        opt.zero_grad()
        (inv(phi, sizes) - x).pow(2).mean().backward()
        opt.step()
    return save_inverter(inv, tmp_path_factory.mktemp("ck") / "conv1.pt", mode="end_to_end")


@pytest.mark.parametrize("name", config_names())
def test_fast_dev_run_of_every_config(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["inverter", "fit", "--config", name, "--trainer.fast_dev_run", "1", "--data.batch_size", "2",
                 "--model.width", "4", "--data.val_crops", "1"]) == 0


def test_invert_method_inverter_writes_the_same_run(ckpt, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["invert", "--config", "squeezenet-inverter", "--image", "coffee", "--out", str(out), "--quiet",
                 f"method.checkpoint={ckpt}", *TINY]) == 0
    (run,) = list(out.iterdir())
    m = json.loads((run / "metrics.json").read_text())["images"]["coffee"][0]
    assert {"psnr", "ssim", "relative_error", "terms"} <= set(m) and m["steps"] == 0
    assert (run / "figure.png").is_file() and (run / "coffee-r0.npy").is_file()


def test_hybrid_never_worse_than_the_inverter_alone(ckpt):
    cfg = apply_overrides(load_preset("squeezenet-hybrid"), [f"init.checkpoint={ckpt}", *TINY,
                                                             "optimiser.schedule=[[0.1, 10], [0.01, 10]]"])
    job = build_job(cfg, resolve_images(["coffee", "china"]))
    from preimage.inverters import load_inverter
    inv = load_inverter(ckpt)
    alone = run_inverter(inv, job).metrics["total"]
    hybrid = run_hybrid(inv, job)
    assert torch.all(hybrid.metrics["total"] <= alone)
    assert torch.all(hybrid.history["total"][-1] < hybrid.history["total"][0])  # the gentle schedule descends
    assert hybrid.extra["kept_inverter_start"] == [False, False]
    # the same rule where `preimage invert` runs it: the optimisation method of the hybrid preset
    job = build_job(cfg, resolve_images(["coffee", "china"]))
    res = job.method.run(job, [])
    assert torch.all(res.metrics["total"] <= alone) and res.extra["kept_start"] == [False, False]
    # a schedule that climbs out of the start keeps the start instead
    cfg = apply_overrides(cfg, ["optimiser.schedule=[[100, 1]]", "priors.alpha=null"])
    job = build_job(cfg, resolve_images(["coffee", "china"]))
    res = job.method.run(job, [])
    start_total = torch.tensor(res.extra["start_total"])
    assert res.extra["kept_start"] == [True, True] and torch.allclose(res.metrics["total"], start_total)
    assert torch.allclose(job.evaluate(res.images)["total"], start_total)


@pytest.mark.parametrize("argv, message", [
    (["--layer", "fire2"], "inverts layer conv1, not fire2"),
    (["representation=alexnet", "weights=random"], "trained for squeezenet, not alexnet"),
    (["method.checkpoint=nowhere.pt"], "no inverter checkpoint"),
    (["weights=random", "--layer", "conv1", "method.checkpoint=WRONG"], "does not fit this inverter"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(argv, message, ckpt, tmp_path, capsys):
    out = tmp_path / "runs"
    argv = [a if a != "method.checkpoint=WRONG" else f"method.checkpoint={_wrong_channels(tmp_path)}" for a in argv]
    if not any(a.startswith("method.checkpoint=") for a in argv):
        argv.append(f"method.checkpoint={ckpt}")
    assert main(["invert", "--config", "squeezenet-inverter", "--image", "coffee", "--out", str(out), "--quiet",
                 *argv, *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists() or not any(out.iterdir())


def _wrong_channels(tmp_path):
    """A checkpoint claiming squeezenet conv1 but taking 32 channels (a feature-shape mismatch)."""
    rep = build_representation("squeezenet", taps=["conv1"])
    inv = build_inverter(rep, "conv1", width=4, image_size=48)
    inv.spec.shapes[-1] = (32, *inv.spec.shapes[-1][1:])
    from preimage.inverters import Inverter
    return save_inverter(Inverter(inv.spec), tmp_path / "wrong.pt")


def test_fit_bad_layer_is_one_line_exit_2_nothing_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["inverter", "fit", "--config", "squeezenet-conv1", "--model.layer", "conv99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown layer 'conv99'" in err[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_fit_exports_and_resumes_from_ckpt_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["inverter", "fit", "--config", "squeezenet-conv1", "--model.width", "4", "--data.batch_size", "2",
            "--data.val_crops", "1", "--trainer.val_check_interval", "2", "--trainer.default_root_dir", "r"]
    assert main([*base, "--trainer.max_steps", "2", "--model.export", "a.pt"]) == 0
    from preimage.inverters import read_checkpoint
    meta = read_checkpoint(tmp_path / "a.pt")["meta"]
    assert meta["steps"] == 2 and meta["command"].startswith("preimage inverter fit --config squeezenet-conv1")
    (last,) = list(tmp_path.rglob("last.ckpt"))
    assert main([*base, "--trainer.max_steps", "4", "--ckpt_path", str(last)]) == 0
    # the checkpoint's hyper-parameters (export path included) come back with --ckpt_path
    assert read_checkpoint(tmp_path / "a.pt")["meta"]["steps"] == 4


def test_fit_on_a_folder_of_ones_own_photos_prints_its_run_directory(tmp_path, monkeypatch, capsys):
    """``--data.images DIR`` (the README's own-photos example): stdout is the run directory
    alone, the progress bars are on stderr, and the inverter records what it was trained and
    validated on (a split of the same photos)."""
    from PIL import Image

    from preimage.inverters import read_checkpoint
    from preimage.representations import load_image

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("rocket", "flower"):
        img = (load_image(name)[:, :120, :160].permute(1, 2, 0).numpy() * 255).astype("uint8")
        Image.fromarray(img).save(photos / f"{name}-crop.png")
    monkeypatch.chdir(tmp_path)
    assert main(["inverter", "fit", "--config", "squeezenet-conv1", "--data.images", "photos", "--model.width", "4",
                 "--data.batch_size", "2", "--data.val_crops", "1", "--data.resize", "64", "--data.crop", "24",
                 "--trainer.max_steps", "2", "--trainer.val_check_interval", "2"]) == 0
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    run = tmp_path / line
    assert run.parent == tmp_path / "runs" / "inverter" and "it/s" in err
    meta = read_checkpoint(run / "checkpoints" / "inverter.pt")["meta"]
    assert meta["data"] == {"images": ["photos"], "val_images": None, "val_fraction": 0.2}


def test_fit_help_describes_model_and_data_options(capsys):
    with pytest.raises(SystemExit):
        main(["inverter", "fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for described in ("--model.width WIDTH hidden channels per block", "--model.feature_loss FEATURE_LOSS weight",
                      "--data.images IMAGES, --data.images+ IMAGES training images: bundled photo names",
                      "--data.val_fraction VAL_FRACTION share of each training image's width"):
        assert described in out
