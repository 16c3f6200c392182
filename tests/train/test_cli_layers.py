"""``preimage layers`` and the CLI's handling of bad input: one line, exit 2."""

import subprocess
import sys

import pytest

from preimage.train.cli.main import COMMANDS, build_parser, main


def test_help_lists_existing_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    assert set(build_parser()._subparsers._group_actions[0].choices) == set(COMMANDS)


def test_layers_on_default_image(capsys):
    assert main(["layers", "--model", "squeezenet", "--image", "chelsea"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert list(rows) == ["conv1", "relu1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5",
                          "pool5", "fire6", "fire7", "fire8", "fire9", "conv10", "relu10"]
    assert rows["conv1"][1:4] == ["64×113×113", "3", "2"]
    assert float(rows["relu1"][4]) > 0


@pytest.mark.parametrize("args,message", [
    (["--model", "nonet"], "unknown model 'nonet'"),
    (["--layers", "conv9"], "unknown layer 'conv9' for squeezenet; valid layers: conv1, relu1"),
    (["--image", "setup.cfg.nothere"], "not found"),
    (["--model", "caffenet", "--weights", "random", "--size", "8"], "too small"),
    (["--model", "alexnet"], "are not on this machine"),
    (["--size", "100000"], "--size 100000 is not allowed: give the input side in pixels, an integer in [1, 4096]"),
])
def test_bad_input_one_line_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["layers", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_non_image_file(tmp_path, capsys):
    f = tmp_path / "x.png"
    f.write_bytes(b"\x00\x01garbage")
    assert main(["layers", "--image", str(f)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_console_script_exit_status(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "preimage.train.cli", "layers", "--model", "nonet"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
