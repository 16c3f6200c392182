"""Callbacks every ``fit`` command gets from :mod:`preimage.train.fit.app`, both Lightning's own
with one behaviour changed:

- :class:`StderrProgressBar`: Lightning's TQDM progress bar written to stderr (Lightning writes
  it to stdout), so that stdout carries only the result — the run directory.
- :class:`InterruptCheckpoint`: a checkpoint written on interruption only
  (Ctrl-C, SIGTERM): an interrupted fit keeps its state as ``checkpoints/interrupted.ckpt`` in
  its run directory, to resume with ``--ckpt_path``; a fit that fails on bad input or
  diverges keeps none. The file is removed when a (resumed) fit finishes.
"""

from __future__ import annotations

import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar


class StderrProgressBar(TQDMProgressBar):
    """:class:`~lightning.pytorch.callbacks.TQDMProgressBar` on stderr. Lightning creates each
    bar with ``file=sys.stdout``; each ``init_*_tqdm`` here runs with stdout pointed at stderr,
    so the bar keeps stderr as its stream."""

    def init_sanity_tqdm(self):
        with redirect_stdout(sys.stderr):
            return super().init_sanity_tqdm()

    def init_train_tqdm(self):
        with redirect_stdout(sys.stderr):
            return super().init_train_tqdm()

    def init_validation_tqdm(self):
        with redirect_stdout(sys.stderr):
            return super().init_validation_tqdm()

    def init_test_tqdm(self):
        with redirect_stdout(sys.stderr):
            return super().init_test_tqdm()

    def init_predict_tqdm(self):
        with redirect_stdout(sys.stderr):
            return super().init_predict_tqdm()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Close the bars, so that the command's one-line message starts on a line of its own."""
        open_bars = [b for b in map(self._bar, ("train", "val", "test", "predict")) if b is not None and not b.disable]
        for bar in open_bars:
            bar.close()
        if open_bars:
            print(file=sys.stderr, flush=True)

    def _bar(self, stage: str):
        try:
            return getattr(self, f"{stage}_progress_bar")
        except TypeError:  # Lightning: "has not been set yet"
            return None


class InterruptCheckpoint(pl.Callback):
    """Save ``<checkpoints>/interrupted.ckpt`` when a fit is interrupted after at least one
    optimiser step (``<checkpoints>``: the folder of the run's ``ModelCheckpoint``). ``saved``:
    the file written, if any. (Not a subclass of Lightning's ``OnExceptionCheckpoint``: a trainer
    holding one of those resumes every ``fit`` from ``ckpt_path="last"`` on its own.)"""

    def __init__(self) -> None:
        self.dirpath: str | None = None
        self.saved: Path | None = None

    @property
    def ckpt_path(self) -> str:
        return str(Path(self.dirpath or ".") / "interrupted.ckpt")

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        ckpt = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint) and c.dirpath), None)
        self.dirpath = ckpt.dirpath if ckpt is not None else str(Path(trainer.default_root_dir) / "checkpoints")

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt) and trainer.global_step > 0 and not trainer.fast_dev_run \
                and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.ckpt_path)
            self.saved = Path(self.ckpt_path)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and self.saved is None:  # a finished fit needs no interrupted state
            trainer.strategy.remove_checkpoint(self.ckpt_path)


def has_progress_bar(callbacks: Any) -> bool:
    """Whether a callbacks config (class_path specs or instances) already holds a progress bar."""
    specs = callbacks if isinstance(callbacks, list) else [callbacks] if callbacks else []
    names = [str(getattr(c, "class_path", type(c).__name__)) for c in specs]
    return any(n.rsplit(".", 1)[-1].endswith("ProgressBar") for n in names)
