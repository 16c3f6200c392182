"""``preimage compare`` with score priors (issue 15): a method's ``from_layer`` overrides (valid,
and a typo'd key or layer in one line), the plan of the default comparison's three score methods
with tiny stand-in priors (``cvpr15+score@layers`` carries conv1's feature prior from conv1 on and
fire3's from fire3 on), a missing prior file leaving an optional method out with the summary's
note, and a sampling method's cells (its restarts are its samples) in the summary and figures."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from preimage.priors import store
from preimage.priors.score import ScoreDenoiser
from preimage.representations.errors import PreimageError
from preimage.train.cli.main import main
from preimage.train.compare.api import compare, plan_comparison
from preimage.train.compare.spec import load_raw, parse_spec
from preimage.train.compare.store import read_csv
from preimage.train.config import learned

SCORE = ["cvpr15+score", "cvpr15+score@layers", "langevin"]
FEATURES = {"conv1": 64, "fire3": 128}  # SqueezeNet 1.1 channels


def gaussian_score(channels: int, layer: str | None = None) -> ScoreDenoiser:
    """A 1×1 linear denoiser, ε̂ = z/(2c): the score −z/(2cσ) of a zero-mean Gaussian, which
    points every noisy input back towards the origin (so ``weight: auto`` is defined)."""
    m = ScoreDenoiser(channels, depth=1, kernel_size=1, sigma_degree=0, sigma_min=0.02, sigma_max=0.5,
                      layer=layer, representation=None if layer is None else "squeezenet")
    with torch.no_grad():
        m.convs[0].weight.copy_(0.5 * torch.eye(channels)[:, :, None, None])
    return m


@pytest.fixture()
def shipped(tmp_path, monkeypatch):
    """A stand-in ``priors/pretrained``: ``shipped(names)`` puts tiny score priors under the
    shipped names (score-rgb, score-squeezenet-conv1, -fire3) in a tmp folder read instead."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    monkeypatch.setattr(store, "PRETRAINED", folder)
    learned._load.cache_clear()

    def put(names):
        for name in names:
            layer = name.removeprefix("score-squeezenet-") if name.startswith("score-squeezenet-") else None
            prior = gaussian_score(3 if layer is None else FEATURES[layer], layer)
            store.save_prior(prior, folder / f"{name}.pt", {"command": "a test's stand-in"})
        learned._load.cache_clear()
        return folder

    yield put
    learned._load.cache_clear()


def _config(tmp_path, methods, layers=("conv1", "fire3"), extra=None, name="s.yaml"):
    """The default comparison's entries ``methods`` (+ ``extra`` overrides each) on one image at 32²."""
    default = load_raw("default")["representations"]["squeezenet"]["methods"]
    chosen = {m: json.loads(json.dumps(default[m])) for m in methods}
    for m, more in (extra or {}).items():
        chosen[m]["overrides"] = chosen[m].get("overrides", []) + more
    cfg = {"name": "s", "images": ["chelsea"], "image_size": 32, "restarts": 2,
           "representations": {"squeezenet": {"layers": list(layers), "methods": chosen}}}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_from_layer_overrides_apply_at_that_layer_and_deeper():
    spec = parse_spec({"name": "t", "images": ["chelsea"], "representations": {"squeezenet": {
        "layers": ["conv1"], "methods": {"m": {"config": "squeezenet-cvpr15", "overrides": ["a=1"],
                                               "from_layer": {"fire3": ["c=3"], "conv1": ["b=2"]}}}}}})
    m = spec.representations["squeezenet"].methods["m"]
    order = ["conv1", "relu1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5"]
    assert m.overrides_at("conv1", order) == m.overrides_at("pool1", order) == ["a=1", "b=2"]
    assert m.overrides_at("fire3", order) == m.overrides_at("fire5", order) == ["a=1", "b=2", "c=3"]
    default = parse_spec(load_raw("default")).representations["squeezenet"].methods
    assert list(default["cvpr15+score@layers"].from_layer) == ["conv1", "fire3"]
    assert all(default[k].optional for k in SCORE)


@pytest.mark.parametrize("where, value, message", [
    ("from_layr", {"conv1": ["a=1"]}, "has no key 'from_layr' (did you mean 'from_layer'?)"),
    ("from_layer", {"conv1": "priors.tv=null"},
     "representations.squeezenet.methods.m.from_layer.conv1='priors.tv=null' is not allowed: expected a list"),
    ("from_layer", {"fire33": ["priors.tv=null"]},
     "representations.squeezenet.methods.m.from_layer names 'fire33', which is not a layer of squeezenet "
     "(did you mean 'fire3'?); its layers: conv1, relu1, pool1,"),
])
def test_a_bad_from_layer_is_one_line_exit_2_nothing_written(tmp_path, capsys, where, value, message):
    method = {"config": "squeezenet-cvpr15", "optional": True, where: value}  # optional or not: an error
    cfg = {"name": "t", "images": ["chelsea"], "image_size": 32,
           "representations": {"squeezenet": {"layers": ["conv1"], "methods": {"m": method}}}}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "runs"
    rc = main(["compare", "--config", str(tmp_path / "t.yaml"), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_plan_of_the_three_score_methods(tmp_path, shipped):
    """With every stand-in prior shipped: cvpr15+score adds the image prior (weight auto) to the
    CVPR'15 terms; cvpr15+score@layers adds conv1's feature prior at conv1 and pool1 and both
    conv1's and fire3's at fire3; langevin samples with the feature match and the image prior only."""
    shipped(["score-rgb", "score-squeezenet-conv1", "score-squeezenet-fire3"])
    plan, _ = plan_comparison(_config(tmp_path, SCORE, ["conv1", "pool1", "fire3"]))
    assert plan.notes == []
    terms = {(u.method, u.layer): u.prepared.job.objective for u in plan.units}
    assert len(terms) == 9
    base = {"match", "tv", "alpha", "score"}
    for layer in ("conv1", "pool1", "fire3"):
        assert set(terms[("cvpr15+score", layer)].terms) == base
        assert set(terms[("langevin", layer)].terms) == {"match", "score"}
    assert set(terms[("cvpr15+score@layers", "conv1")].terms) == base | {"conv1@conv1"}
    assert set(terms[("cvpr15+score@layers", "pool1")].terms) == base | {"conv1@conv1"}
    assert set(terms[("cvpr15+score@layers", "fire3")].terms) == base | {"conv1@conv1", "fire3@fire3"}
    for (method, layer), obj in terms.items():
        for name, term in obj.terms.items():
            if name != "match" and name not in ("tv", "alpha"):
                assert term.gradient_only and obj.weights[name] > 0, (method, layer, name)
    lang = next(u for u in plan.units if u.method == "langevin")
    assert lang.prepared.job.method.name == "langevin" and lang.prepared.job.objective.weights["score"] == 1.0
    assert lang.cfg["priors"]["score"]["weight"] == 1.0 and lang.cfg["repeats"] == 2


def test_a_missing_prior_file_leaves_the_method_out_where_it_is_needed(tmp_path, shipped):
    """No fire3 prior: cvpr15+score@layers is planned at conv1 and left out at fire3 with a note;
    no image prior at all: every score method is left out (and the required method runs)."""
    shipped(["score-rgb", "score-squeezenet-conv1"])
    plan, _ = plan_comparison(_config(tmp_path, ["cvpr15+score@layers"]))
    assert [(u.method, u.layer) for u in plan.units] == [("cvpr15+score@layers", "conv1")]
    assert plan.notes == ["cvpr15+score@layers on squeezenet (fire3): left out, unknown prior 'score-squeezenet-fire3'"]
    store.PRETRAINED.joinpath("score-rgb.pt").unlink()
    learned._load.cache_clear()
    plan, _ = plan_comparison(_config(tmp_path, ["cvpr15", *SCORE]))
    assert {u.method for u in plan.units} == {"cvpr15"}
    assert plan.notes == [f"{m} on squeezenet (conv1, fire3): left out, unknown prior 'score-rgb'" for m in SCORE]
    with pytest.raises(PreimageError, match="method 'langevin' on squeezenet conv1: unknown prior 'score-rgb'"):
        plan_comparison(_config(tmp_path, ["cvpr15", *SCORE]), methods=["langevin"])  # named: required


def test_a_langevin_comparison_its_samples_and_the_missing_prior_note(tmp_path, shipped):
    """A tiny comparison (conv1, fire3; 2 samples): the langevin cells are its samples in the CSV,
    the summary says they are samples and notes the method left out for a missing prior, the
    figures title them as samples and show their per-pixel spread."""
    shipped(["score-rgb", "score-squeezenet-conv1"])
    few = ["optimiser.schedule=[[1, 3]]", "x0_sigma_scale_with_size=true"]
    cfg = _config(tmp_path, ["cvpr15", "langevin", "cvpr15+score@layers"],
                  extra={"cvpr15": few, "cvpr15+score@layers": few, "langevin": [
                      "method.levels=2", "method.steps_per_level=2", "method.decay=null", "objective.weight=1e5"]})
    run = compare(cfg, out=tmp_path / "runs", quiet=True)
    rows = read_csv(run / "results.csv")
    lang = [r for r in rows if r["method"] == "langevin"]
    assert len(lang) == 2 * 2 and {r["restart"] for r in lang} == {0, 1} and all(r["steps"] == 4 for r in lang)
    assert all(r["status"] == "ok" for r in rows)
    text = (run / "summary.md").read_text()
    assert "- cvpr15+score@layers on squeezenet (fire3): left out, unknown prior 'score-squeezenet-fire3'\n" in text
    assert "- langevin: sampling; its restarts are samples of the posterior" in text
    figures = {p.name for p in (run / "figures").iterdir()}
    assert {"samples-squeezenet-conv1.png", "samples-squeezenet-fire3.png", "restarts-squeezenet-conv1.png"} <= figures
    assert "figures/samples-squeezenet-conv1.png" in text
