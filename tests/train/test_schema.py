"""The typed invert schema: presets, files and overrides validated alike; tagged variants;
the extension points (register_variant, PLUGINS, BuildContext)."""

from dataclasses import dataclass

import pytest
import torch
import yaml

from preimage.representations.errors import PreimageError
from preimage.train.config.overrides import PRESET_DIR, apply_overrides, load_preset, preset_names
from preimage.train.config.invert import (BuildContext, InitVariant, InvertConfig, MethodVariant, PriorVariant, TermSpec,
                                   from_data, parse_config, register_variant, to_data, variants)


@pytest.fixture
def chelsea64():
    from preimage.representations import load_image, resize_crop

    return resize_crop(load_image("chelsea"), 64)[None]


def _leaves(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, d


@pytest.mark.parametrize("name", preset_names())
def test_presets_keep_every_number_and_round_trip(name):
    raw = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())
    cfg = load_preset(name)
    got = dict(_leaves(cfg))
    for key, value in _leaves(raw):  # nothing in the file is dropped or changed by validation
        if key == "box" and value is None:
            assert got["box.mode"] == "off"
        else:
            assert got[key] == value, key
    assert to_data(parse_config(cfg)) == cfg  # dump → reload is the identity
    assert yaml.safe_load(yaml.safe_dump(cfg)) == cfg


@pytest.mark.parametrize("override, message", [
    ("repeats=abc", "repeats='abc' is not allowed: expected an integer ≥ 1"),
    ("repeats=0", "repeats=0 is not allowed: expected an integer ≥ 1"),
    ("seed=-1", "seed=-1 is not allowed: expected an integer ≥ 0"),
    ("image_size=0", "image_size=0 is not allowed: expected an integer ≥ 1 or null"),
    ("optimiser.lr=nan", "optimiser.lr=nan is not allowed: expected a finite number > 0"),
    ("optimiser.lr=inf", "optimiser.lr=inf is not allowed"),
    ("optimiser.momentum=1", "optimiser.momentum=1 is not allowed: expected a finite number in [0, 1)"),
    ("jitter.tau=-2", "jitter.tau=-2 is not allowed: expected an integer ≥ 0 or one of 'auto'"),
    ("repaets=2", "the config has no key 'repaets' (did you mean 'repeats'?)"),
    ("priors.tv.wieght=2", "priors.tv (type tv) has no key 'wieght' (did you mean 'weight'?)"),
    ("optimiser.name=sgd", "optimiser.name: unknown optimiser 'sgd'; choose one of momentum, adagrad_momentum, adam"),
    ("box.mode=cube", "box.mode: unknown box mode 'cube'"),
    ("priors.tv.type=foe", "priors.tv.type: unknown type 'foe'"),
    ("objective.filter_group=3", "objective.filter_group=3 is not allowed: expected one of 1, 2 or null"),
    ("optimiser.schedule=[[1, -2]]", "optimiser.schedule[0][1]=-2 is not allowed: expected an integer ≥ 0"),
    ("x0_sigma_scale_with_size=maybe", "x0_sigma_scale_with_size='maybe' is not allowed: expected true or false"),
])
def test_bad_values_name_key_value_and_what_is_allowed(override, message):
    with pytest.raises(PreimageError) as e:
        apply_overrides(load_preset("squeezenet-cvpr15"), [override])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_typo_in_a_yaml_file_is_an_error_like_an_override(tmp_path):
    text = (PRESET_DIR / "hog-cvpr15.yaml").read_text().replace("    weight: 0.5", "    wieght: 0.5")
    (tmp_path / "mine.yaml").write_text(text)
    with pytest.raises(PreimageError, match=r"mine.yaml: priors.tv \(type tv\) has no key 'wieght' "
                                            r"\(did you mean 'weight'\?\)"):
        load_preset(str(tmp_path / "mine.yaml"))


def test_switching_a_tag_brings_that_variants_defaults():
    for preset in preset_names():
        cfg = apply_overrides(load_preset(preset), ["optimiser.name=adam"])
        assert cfg["optimiser"] == {"name": "adam", "lr": 2.0, "betas": [0.9, 0.999], "eps": 1e-8,
                                    "schedule": [[1.0, 200], [0.1, 100]], "steps": None}
    cfg = apply_overrides(load_preset("squeezenet-cvpr15"), ["optimiser.name=lbfgs", "optimiser.steps=7"])
    assert cfg["optimiser"]["steps"] == 7 and "momentum" not in cfg["optimiser"]
    with pytest.raises(PreimageError, match="has no key 'momentum'"):  # momentum's fields are gone
        apply_overrides(load_preset("squeezenet-cvpr15"), ["optimiser.name=adam", "optimiser.momentum=0.5"])
    # the same tag again keeps the section; null and YAML's `off` both mean no box
    same = apply_overrides(load_preset("squeezenet-cvpr15"), ["optimiser.name=momentum"])
    assert same["optimiser"] == load_preset("squeezenet-cvpr15")["optimiser"]
    assert apply_overrides(load_preset("squeezenet-ijcv16"), ["box=null"])["box"] == {"mode": "off"}
    assert apply_overrides(load_preset("squeezenet-ijcv16"), ["box=off"])["box"] == {"mode": "off"}
    assert apply_overrides(load_preset("squeezenet-ijcv16"), ["box.mode=clamp"])["box"] == {"mode": "clamp",
                                                                                            "bound": 200.0}
    car = apply_overrides(load_preset("squeezenet-cvpr15"), ["objective=caricature"])["objective"]
    assert car["name"] == "caricature" and car["weight"] == 1.0


def test_a_new_prior_entry_takes_its_type_from_the_key_or_type():
    cfg = apply_overrides(load_preset("squeezenet-cvpr15"), ["priors.tv2.type=tv", "priors.tv2.layer=conv1"])
    assert cfg["priors"]["tv2"]["layer"] == "conv1" and cfg["priors"]["tv2"]["weight"] == 1.0
    with pytest.raises(PreimageError, match="priors.extra.type: unknown type 'extra'; choose one of tv, alpha"):
        apply_overrides(load_preset("squeezenet-cvpr15"), ["priors.extra.weight=1"])
    assert apply_overrides(load_preset("squeezenet-cvpr15"), ["priors.tv=null"])["priors"]["tv"] is None


def test_required_key_and_non_mapping():
    with pytest.raises(PreimageError, match="needs representation"):
        from_data(InvertConfig, {"layer": "conv1"})
    with pytest.raises(PreimageError, match="priors.tv=3 is not allowed: expected a type"):
        parse_config({"representation": "hog", "priors": {"tv": 3}})


def test_registered_variants_plug_into_build_and_run(chelsea64):
    """The extension points: a prior, an init and a method registered from outside are
    validated from YAML data, built from the BuildContext and run by build_job's caller."""
    from preimage.inversion import InversionResult, PriorTerm
    from preimage.priors import TVPrior
    from preimage.train.api import run_invert

    @register_variant("priors", "test_scaled_tv")
    @dataclass
    class ScaledTV(PriorVariant):
        factor: float = 2.0
        layer: str | None = None

        def build(self, key: str, ctx: BuildContext) -> TermSpec:
            assert ctx.phi0["conv1"].shape[0] == 1 and ctx.batch == 2
            return TermSpec(key, PriorTerm(TVPrior(2.0), scale=self.factor / ctx.x0_sigma**2), 1.0)

    @register_variant("init", "test_grey")
    @dataclass
    class GreyInit(InitVariant):
        level: float = 0.0

        def build(self, ctx: BuildContext) -> torch.Tensor:
            return torch.full((ctx.batch, 3, ctx.size, ctx.size), self.level)

    @register_variant("method", "test_identity")
    @dataclass
    class Identity(MethodVariant):
        def run(self, job, callbacks) -> InversionResult:
            return InversionResult(job.init.clone(), {}, job.evaluate(job.init), 0, 0.0)

    try:
        over = ["layer=conv1", "image_size=32", "repeats=2", "priors.mine.type=test_scaled_tv",
                "init.name=test_grey", "init.level=5", "method=test_identity"]
        run = run_invert("squeezenet-cvpr15", [("chelsea", chelsea64[0])], over)
        assert set(run.result.metrics) == {"match", "tv", "alpha", "mine", "total", "relative_error@match"}
        assert torch.equal(run.result.images, torch.full((2, 3, 32, 32), 5.0))
        assert run.metrics["method"] == "test_identity" and run.result.metrics["mine"].abs().max() == 0  # flat image
    finally:
        for kind, name in (("priors", "test_scaled_tv"), ("init", "test_grey"), ("method", "test_identity")):
            variants(kind).pop(name)
