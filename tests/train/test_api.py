"""``preimage.train.api``: one call runs a job exactly as ``preimage invert`` does; runs
that end worse than they started are flagged; every optimiser works on every preset."""

import json

import numpy as np
import pytest
import torch

from preimage.train.api import load_config, run_invert
from preimage.train.cli.main import main
from preimage.train.config.overrides import preset_names

TINY = ["image_size=48", "repeats=2", "x0_sigma_scale_with_size=true", "optimiser.schedule=[[1, 4], [0.1, 2]]"]


def _cli_run(tmp_path, argv, capsys):
    out = tmp_path / "runs"
    rc = main(["invert", *argv, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0, err
    (run,) = out.iterdir()
    return run, json.loads((run / "metrics.json").read_text()), err


def _no_times(m: dict) -> dict:
    out = {k: v for k, v in m.items() if k not in ("seconds_total", "seconds_load")}
    out["images"] = {n: [{k: v for k, v in e.items() if k != "seconds"} for e in runs]
                     for n, runs in m["images"].items()}
    return out


def test_python_call_equals_the_command(tmp_path, capsys):
    """Same config, images and overrides: the same reconstructions and metrics.json
    (jitter and the norm box included: the IJCV'16 preset uses both)."""
    over = ["layer=conv1", *TINY]
    run, metrics, _ = _cli_run(tmp_path, ["--config", "squeezenet-ijcv16", "--image", "chelsea", "coffee", *over], capsys)
    api = run_invert("squeezenet-ijcv16", ["chelsea", "coffee"], over)
    assert api.job.jitter is not None and api.job.box is not None and api.job.box.mode == "norm"
    assert _no_times(api.metrics) == _no_times(metrics)
    for i, name in enumerate(["chelsea", "coffee"]):
        for k in range(2):
            saved = np.load(run / f"{name}-r{k}.npy")
            np.testing.assert_array_equal(saved, api.result.images[i * 2 + k].permute(1, 2, 0).numpy())
    assert (run / "config.yaml").read_text().count("name: squeezenet-ijcv16") == 1
    again = run_invert(run / "config.yaml", ["chelsea", "coffee"])  # the saved config reproduces the run
    assert _no_times(again.metrics) == _no_times(metrics)


def test_runs_that_end_worse_are_flagged(tmp_path, capsys):
    """optimiser.lr=1e6 inside the preset's box neither diverges nor converges: the
    objective ends above where it started and the relative error exceeds 1."""
    argv = ["--config", "squeezenet-cvpr15", "--image", "chelsea", "--layer", "conv1", "optimiser.lr=1e6",
            "image_size=32", "repeats=1", "optimiser.schedule=[[1, 4]]"]
    _, metrics, err = _cli_run(tmp_path, argv, capsys)
    assert len(err.splitlines()) == 1 and err.startswith("preimage invert: warning: the objective ended above")
    assert "relative feature error" in err and len(metrics["warnings"]) == 2
    rel = metrics["images"]["chelsea"][0]["relative_error"]
    assert rel > 1 and f"{rel:.3g}" in metrics["warnings"][1]
    good = run_invert("squeezenet-cvpr15", ["chelsea"], ["layer=conv1", *TINY])
    assert good.warnings == [] and good.metrics["warnings"] == []


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_other_optimisers_on_every_preset(name, tmp_path):
    """Switching the optimiser validates on every preset (its own defaults, the
    momentum settings dropped) and decreases the objective on a small job."""
    for preset in preset_names():
        cfg = load_config(preset, [f"optimiser.name={name}"])
        assert type(cfg.optimiser).__name__.lower().startswith(name[:4]) and not hasattr(cfg.optimiser, "momentum")
    run = run_invert("hog-cvpr15", ["chelsea"], [f"optimiser.name={name}", "image_size=48",
                                                 f"optimiser.steps={3 if name == 'lbfgs' else 30}",
                                                 "optimiser.schedule=null"])
    hist = run.result.history["total"][:, 0]
    assert run.result.metrics["total"][0] < hist[0] and torch.isfinite(run.result.images).all()
