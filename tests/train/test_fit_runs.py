"""Fit commands as processes: two fits started together in one folder get their own run
directories; Ctrl-C / SIGTERM during a fit is one line and exit 130 that names the kept
checkpoint (or says nothing was written, before the first step); the interrupted run resumes
with ``--ckpt_path`` in its own directory and ends with the exported model; progress bars go
to stderr, the run directory to stdout."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1", WANDB_MODE="offline")
INVERTER = ["inverter", "fit", "--config", "squeezenet-conv1", "--model.width", "4", "--data.batch_size", "2",
            "--data.val_crops", "1", "--data.resize", "96", "--data.crop", "24", "--trainer.val_check_interval", "5"]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    from preimage.representations import load_image

    path = tmp_path_factory.mktemp("photo") / "photo.png"
    x = load_image("camera")[:, 200:280, 200:300]
    Image.fromarray((x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(path)
    return path


def _prior(photo: Path) -> list[str]:
    return ["prior", "fit", "--config", "foe-grey", "--data.images", str(photo), "--data.patch_size", "10",
            "--data.n_train", "64", "--data.n_val", "16", "--data.batch_size", "8",
            "--model.energy.init_args.patch_size", "3", "--model.energy.init_args.n_experts", "4", "--model.lam", "0.2"]


def _start(cwd: Path, args: list[str]) -> subprocess.Popen:
    # Ctrl-C's default handling, even where the tests run with SIGINT ignored (a background job)
    return subprocess.Popen([sys.executable, "-m", "preimage.train.cli", *args], cwd=cwd, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _interrupt_after_steps(p: subprocess.Popen, sig: int, steps: int = 3) -> tuple[str, str]:
    """Send ``sig`` once the (stderr) progress bar shows ``steps`` training steps done."""
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: p.stderr.read(1), "")), daemon=True)
    reader.start()
    start, pattern = time.time(), re.compile(rf"Epoch 0:[^\r\n]*\| *({steps}|[{steps + 1}-9]|\d\d+)/")
    while time.time() - start < 240 and p.poll() is None and not pattern.search("".join(err)):
        time.sleep(0.05)
    assert p.poll() is None, "".join(err)[-2000:]
    p.send_signal(sig)
    out = p.stdout.read()
    p.wait(timeout=120)
    reader.join(10)
    return out, "".join(err)


def _message(err: str) -> list[str]:
    """stderr without the progress bars' lines."""
    return [ln for ln in err.splitlines() if ln.startswith("preimage")]


def test_two_fits_started_together_in_one_folder_get_their_own_runs(tmp_path, photo):
    procs = [_start(tmp_path, [*_prior(photo), "--trainer.max_steps", "2", "--trainer.val_check_interval", "2"])
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    runs = [tmp_path / o.strip() for o, _ in outs]
    assert runs[0] != runs[1] and sorted(runs) == sorted((tmp_path / "runs" / "prior").iterdir())
    for run in runs:
        assert {"config.yaml", "metrics.csv", "prior.pt"} <= {q.name for q in run.iterdir()}
        assert (run / "checkpoints" / "last.ckpt").is_file()


def test_interrupted_fit_keeps_its_checkpoint_and_resumes_in_its_run(tmp_path):
    p = _start(tmp_path, [*INVERTER, "--trainer.max_steps", "100000"])
    out, err = _interrupt_after_steps(p, signal.SIGINT)
    assert p.returncode == 130 and out == ""
    (line,) = _message(err)
    (run,) = (tmp_path / "runs" / "inverter").iterdir()
    ckpt = run / "checkpoints" / "interrupted.ckpt"
    assert re.fullmatch(rf"preimage inverter: interrupted; kept the run at step \d+ in {re.escape(str(ckpt.relative_to(tmp_path)))}; "
                        rf"resume it with the same command and --ckpt_path {re.escape(str(ckpt.relative_to(tmp_path)))}", line)
    assert ckpt.is_file() and not (run / "checkpoints" / "inverter.pt").exists()
    step = int(re.search(r"step (\d+)", line).group(1))
    q = subprocess.run([sys.executable, "-m", "preimage.train.cli", *INVERTER, "--trainer.max_steps", str(step + 6),
                        "--ckpt_path", str(ckpt.relative_to(tmp_path))], cwd=tmp_path, env=ENV, capture_output=True,
                       text=True, timeout=300)
    assert q.returncode == 0, q.stderr[-2000:]
    assert q.stdout.splitlines() == [str(run.relative_to(tmp_path))]  # progress bars on stderr only
    assert "it/s" in q.stderr
    from preimage.inverters import read_checkpoint

    assert read_checkpoint(run / "checkpoints" / "inverter.pt")["meta"]["steps"] == step + 6
    assert (run / "config-resumed.yaml").is_file() and not ckpt.exists()  # the finished run needs no interrupted state
    assert list((tmp_path / "runs" / "inverter").iterdir()) == [run]


def test_sigterm_during_a_prior_fit_names_the_checkpoint(tmp_path, photo):
    p = _start(tmp_path, [*_prior(photo), "--trainer.max_steps", "100000", "--trainer.val_check_interval", "1000"])
    out, err = _interrupt_after_steps(p, signal.SIGTERM)
    assert p.returncode == 130 and out == ""
    (line,) = _message(err)
    (run,) = (tmp_path / "runs" / "prior").iterdir()
    assert line.startswith("preimage prior: interrupted; kept the run at step ")
    assert line.endswith(f"--ckpt_path {Path(run.relative_to(tmp_path), 'checkpoints', 'interrupted.ckpt')}")


def test_interrupt_before_the_first_step_leaves_nothing(tmp_path):
    p = _start(tmp_path, [*INVERTER, "--trainer.max_steps", "100000"])
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(iter(lambda: p.stderr.read(1), "")), daemon=True).start()
    start = time.time()  # once the run directory exists, before training starts (no step: no checkpoint)
    while time.time() - start < 240 and not list(tmp_path.rglob("config.yaml")) and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=120)
    time.sleep(0.2)
    assert p.returncode == 130 and _message("".join(err)) == ["preimage inverter: interrupted; nothing was written"]
    assert list(tmp_path.iterdir()) == []
