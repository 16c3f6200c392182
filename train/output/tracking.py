"""Callbacks for :func:`inversion.invert`: a tqdm progress bar on stderr and W&B logging
(imported lazily; offline unless the user's W&B settings say otherwise; never waits on
the network)."""

from __future__ import annotations

import os
import sys
from typing import Any


class ProgressBar:
    """tqdm bar: step, mean total energy and learning rate."""

    def __init__(self, total: int, desc: str = "invert", disable: bool | None = None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, file=sys.stderr, disable=disable, dynamic_ncols=True)

    def on_step(self, info) -> None:
        if info.step % 5 == 0 or info.step == info.steps - 1:
            self.bar.set_postfix(loss=f"{float(info.total.mean()):.4g}", lr=f"{info.lr:.2g}", refresh=False)
        self.bar.update(1)

    def on_end(self, result) -> None:
        self.bar.close()


def _wandb_mode() -> str:
    """'offline' unless WANDB_MODE says otherwise or an API key is configured."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode
    has_key = bool(os.environ.get("WANDB_API_KEY")) or os.path.exists(os.path.expanduser("~/.netrc")) and \
        "api.wandb.ai" in open(os.path.expanduser("~/.netrc")).read()
    return "online" if has_key else "offline"


class WandbLogger:
    """Logs every term (mean over the batch) per step, then images and the config."""

    def __init__(self, config: dict[str, Any], name: str, dir: str, every: int = 1) -> None:
        import wandb

        self.wandb, self.every = wandb, every
        kwargs = dict(project=os.environ.get("WANDB_PROJECT", "preimage"), name=name, config=config, dir=dir)
        mode = _wandb_mode()
        try:
            # console="off": W&B's console capture would write into the run directory after it is removed
            settings = wandb.Settings(init_timeout=30, silent=True, console="off")
            self.run = wandb.init(mode=mode, settings=settings, **kwargs)
        except Exception as e:  # noqa: BLE001 - no network, bad key, server down: never lose the run
            if mode == "offline":
                raise
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"preimage: W&B {mode} unavailable ({first[:100]}); logging offline into the run "
                  "directory instead (upload later with `wandb sync`)", file=sys.stderr)
            self.run = wandb.init(mode="offline", settings=wandb.Settings(silent=True, console="off"), **kwargs)

    def on_step(self, info) -> None:
        if info.step % self.every == 0:
            data = {f"energy/{k}": float(v.mean()) for k, v in info.values.items()}
            data.update({"energy/total": float(info.total.mean()), "lr": info.lr})
            self.run.log(data, step=info.step)

    def log_images(self, images: dict[str, Any], metrics: dict[str, float]) -> None:
        self.run.log({k: self.wandb.Image(v) for k, v in images.items()} | metrics)

    def finish(self, exit_code: int = 0) -> None:
        self.run.finish(exit_code=exit_code)
