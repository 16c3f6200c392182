"""Every command and Python example in README.md is run (the long main job and the
install/test commands with tiny settings or a well-formedness check)."""

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from preimage.train.cli.main import build_parser, main

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)
TINY = ["--quiet", "image_size=64", "repeats=1", "optimiser.schedule=[[1, 2]]"]


def _commands(lang: str) -> list[list[str]]:
    out = []
    for block_lang, body in BLOCKS:
        if block_lang == lang:
            for line in body.splitlines():
                out += [shlex.split(part, comments=True) for part in line.split("&&") if part.strip()]
    return out


COMMANDS = [c for c in _commands("bash") if Path(c[0]).name == "preimage"]
PYTHON = [body for lang, body in BLOCKS if lang == "python"]

# Each README command is run as written plus settings that make it seconds long, and must
# write what the README says it writes. The default comparison (the README's main job,
# minutes long) is run on the `tiny` comparison instead; tests/train/test_compare.py plans
# the default one and benchmarks/bench_compare.py runs it in full.
TINY_ARGS = {
    "invert": ["--quiet", "image_size=96", "repeats=1", "optimiser.schedule=[[1, 2]]"],
    "compare": ["--images", "chelsea", "restarts=1"],
    "stats": ["--size", "64"],
    "prior denoise": [],
    "prior list": None,  # prints, writes nothing
    "inverter fit": ["--model.width", "4", "--data.batch_size", "2", "--data.val_crops", "1", "--data.resize", "64",
                     "--data.crop", "24", "--trainer.max_steps", "2", "--trainer.val_check_interval", "2"],
}
WRITES = {"invert": ("metrics.json", "figure.png"), "compare": ("summary.md", "results.csv"),
          "stats": ("stats.json",), "prior denoise": ("metrics.json",),
          "inverter fit": ("config.yaml", "checkpoints/inverter.pt")}
FITS = {"inverter fit": "runs/inverter"}  # no --out: the run directory is printed


def _kind(argv: list[str]) -> str:
    return " ".join(argv[1:3]) if argv[1] in ("prior", "inverter") else argv[1]


def _own_photos(folder: Path) -> None:
    """The README's ``my_photos`` folder: two small crops of training photos."""
    from preimage.representations import load_image, save_image

    folder.mkdir()
    for name in ("rocket", "flower"):
        save_image(load_image(name)[:, :120, :160], folder / f"{name}.png")


def test_readme_has_what_these_tests_run():
    assert len(COMMANDS) >= 4 and len(PYTHON) >= 2 and any(c[0] == "./install.sh" for c in _commands("bash"))
    assert {_kind(c) for c in COMMANDS} <= set(TINY_ARGS), "a README command this test does not know how to run"


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c[1:5]) for c in COMMANDS])
def test_readme_commands_run(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    kind, args = _kind(argv), argv[1:]
    if kind == "compare":
        args = [a if a != "default" else "tiny" for a in args]
    if TINY_ARGS[kind] is None:
        assert main(args) == 0 and capsys.readouterr().out.strip()
        assert list(tmp_path.iterdir()) == []
        return
    if "my_photos" in args:
        _own_photos(tmp_path / "my_photos")
    if kind in FITS:
        rc = main([*args, *TINY_ARGS[kind]])
        out = capsys.readouterr().out.strip()
        assert rc == 0 and Path(out).parent == Path(FITS[kind]), out
        run = tmp_path / out
        assert all((run / f).is_file() for f in WRITES[kind]), sorted(p.name for p in run.iterdir())
        return
    rc = main([*args, "--out", str(tmp_path / "runs"), *TINY_ARGS[kind]])
    assert rc == 0, capsys.readouterr().err
    (run,) = (tmp_path / "runs").iterdir()
    assert all((run / f).is_file() for f in WRITES[kind]), sorted(p.name for p in run.iterdir())


def test_install_and_test_commands_are_well_formed():
    install = ROOT / "install.sh"
    other = [c for c in _commands("bash") if Path(c[0]).name != "preimage"]
    assert other, "the README shows how to install and test"
    markers = {m.split(":")[0] for m in tomllib.loads((ROOT / "pyproject.toml").read_text())
               ["tool"]["pytest"]["ini_options"]["markers"]}
    for cmd in other:
        if cmd[0] == "./install.sh":
            assert install.stat().st_mode & 0o111 and set(cmd[1:]) <= {"--test"}
            assert all(f'"{a}"' in install.read_text() for a in cmd[1:])  # the flag is handled
            assert subprocess.run(["bash", "-n", str(install)]).returncode == 0  # parses
        else:
            assert cmd[:4] == [".venv/bin/python", "-m", "pytest", "-q"], cmd
            expr = cmd[cmd.index("-m", 3) + 1]
            assert set(re.findall(r"\w+", expr)) - {"not", "and", "or"} <= markers, expr


def test_command_line_synopsis_matches_the_parser():
    (synopsis,) = [body for lang, body in BLOCKS if lang == "" and body.startswith("preimage ")]
    sub = build_parser()._subparsers._group_actions[0].choices
    for line in synopsis.splitlines():
        name = line.split()[1]
        documented = set(re.findall(r"--[a-z-]+", line))
        known = {o for a in sub[name]._actions for o in a.option_strings} - {"-h", "--help"}
        assert documented <= known, (name, documented - known)
        assert {o for o in known if o != "--quiet"} <= documented, (name, known - documented)


@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_readme_python_examples_run(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    if "compare(" in code:  # a comparison writes its run directory, and only that
        (run,) = (tmp_path / "runs").iterdir()
        assert Path(namespace["run"]) == run.resolve() or Path(namespace["run"]).resolve() == run.resolve()
        assert (run / "summary.md").is_file() and (run / "results.csv").is_file()
        return
    assert list(tmp_path.iterdir()) == []  # the invert API writes no files
    if "run_invert" in code:
        run = namespace["run"]
        assert run.warnings == [] and run.metrics["images"]["chelsea"][0]["relative_error"] < 0.5
