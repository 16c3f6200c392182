"""The same four kinds of bad ``key=value`` override — a typo'd key, a wrong type, a value out
of range, an unknown tag (variant / class) — through every command that takes a config:
``invert``, ``compare``, ``prior fit``, ``inverter fit`` and ``prior denoise``. Each exits 2 with
one line on stderr that names the key, and leaves the working folder as it was."""

import pytest

from preimage.train.cli.main import main

INVERT = ["invert", "--config", "squeezenet-cvpr15", "--image", "chelsea", "--quiet", "image_size=32"]
COMPARE = ["compare", "--config", "tiny", "--quiet"]
PRIOR = ["prior", "fit", "--config", "foe-grey"]
INVERTER = ["inverter", "fit", "--config", "squeezenet-conv1"]
DENOISE = ["prior", "denoise", "--prior", "foe-grey", "--image", "chelsea"]

# command → {kind: (override, a word the one-line message must hold: the key)}
CASES = {
    "invert": (INVERT, {"typo": ("optimiser.lrr=3", "'lrr' (did you mean 'lr'?)"),
                        "type": ("repeats=two", "repeats='two'"),
                        "range": ("optimiser.momentum=1.5", "optimiser.momentum=1.5"),
                        "tag": ("optimiser.name=adamm", "optimiser.name: unknown optimiser 'adamm' (did you mean 'adam'?)")}),
    "compare": (COMPARE, {"typo": ("restart=1", "'restart' (did you mean 'restarts'?)"),
                          "type": ("restarts=two", "restarts='two'"),
                          "range": ("restarts=0", "restarts=0"),
                          "tag": ("representations.hog.methods.cvpr15.overrides=[optimiser.name=adamm]",
                                  "unknown optimiser 'adamm'")}),
    "prior fit": (PRIOR, {"typo": ("model.lrr=3", "--model.lrr 3 (did you mean --model.lr?)"),
                          "type": ("model.lr=abc", "model.lr"),
                          "range": ("model.lr=-1", "model.lr"),
                          "tag": ("model.energy.class_path=preimage.priors.foe.FieldOfExpertz", "model.energy")}),
    "inverter fit": (INVERTER, {"typo": ("trainer.max_stepz=3", "--trainer.max_stepz 3 (did you mean --trainer.max_steps?)"),
                                "type": ("model.width=wide", "model.width"),
                                "range": ("model.width=0", "model.width"),
                                "tag": ("model.block=convex", "model.block")}),
    "prior denoise": (DENOISE, {"typo": ("sigm=3", "'sigm' (did you mean 'sigma'?)"),
                                "type": ("sigma=abc", "sigma='abc'"),
                                "range": ("sigma=1e9", "sigma="),
                                "tag": ("prior=foe-gray", "unknown prior 'foe-gray'")}),
}
PARAMS = [(cmd, kind) for cmd, (_, kinds) in CASES.items() for kind in kinds]


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("command, kind", PARAMS, ids=[f"{c}-{k}" for c, k in PARAMS])
def test_bad_override_is_one_line_naming_the_key(command, kind, tmp_path, monkeypatch, capsys):
    base, kinds = CASES[command]
    override, must = kinds[kind]
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    assert main([*base, override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and must in err[0], err
    assert err[0].startswith(f"preimage {command.split()[0]}")
    assert _tree(tmp_path) == before  # nothing written: no run directory, no partial, no empty runs/
