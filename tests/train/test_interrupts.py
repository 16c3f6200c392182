"""Ctrl-C and SIGTERM, at start-up or during a run (with or without W&B): one line on
stderr, exit 130, and nothing left behind (no run directory, no hidden temporary
directory, no ``--out`` folder that the run created)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ARGS = ["-m", "preimage.train.cli", "invert", "--config", "squeezenet-cvpr15", "--image", "chelsea", "--layer",
        "conv1", "--quiet", "image_size=32", "repeats=1", "optimiser.schedule=[[1, 1000000]]"]


# Exit 130 and nothing else: start-up holds an interrupt until torch is imported (one landing
# inside an extension's import once aborted the interpreter, status -6, and once ended it
# with SIGINT), so no timing of the signal may give another status.
INTERRUPTED = (130,)


def _interrupt(tmp_path: Path, sig: int, when: str, extra: list[str] = ()) -> subprocess.CompletedProcess:
    out = tmp_path / "out" / "runs"
    env = dict(os.environ, WANDB_MODE="offline")
    # Ctrl-C's default handling, even where this test runs with SIGINT ignored (a background job)
    p = subprocess.Popen([sys.executable, *ARGS, "--out", str(out), *extra], cwd=tmp_path, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        return _signal(p, out, sig, when, extra)
    finally:
        if p.poll() is None:
            p.kill()


def _signal(p: subprocess.Popen, out: Path, sig: int, when: str, extra) -> subprocess.CompletedProcess:
    start = time.time()
    if when == "startup":
        time.sleep(0.5)  # imports take seconds: the signal lands while the command starts
    else:  # once the run has begun writing (and, with W&B, once W&B has started its run)
        marker = "run-" if "--wandb" in extra else ".tmp-"
        while time.time() - start < 240 and not any(marker in q.name for q in out.rglob("*")):
            time.sleep(0.1)
        time.sleep(1.0)
    assert p.poll() is None, p.communicate()
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)


@pytest.mark.parametrize("sig, when", [(signal.SIGTERM, "run"), (signal.SIGINT, "startup")])
def test_interrupt_leaves_nothing(tmp_path, sig, when):
    proc = _interrupt(tmp_path, sig, when)
    assert proc.returncode in INTERRUPTED and proc.stderr.splitlines() == ["preimage invert: interrupted; nothing was written"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # not even the empty out/runs


@pytest.mark.slow
@pytest.mark.parametrize("sig, when, extra", [(signal.SIGINT, "run", []), (signal.SIGTERM, "startup", []),
                                              (signal.SIGTERM, "run", ["--wandb"]), (signal.SIGINT, "run", ["--wandb"])])
def test_every_interrupt_leaves_nothing(tmp_path, sig, when, extra):
    proc = _interrupt(tmp_path, sig, when, extra)
    assert proc.returncode in INTERRUPTED and proc.stderr.splitlines() == ["preimage invert: interrupted; nothing was written"]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == []
