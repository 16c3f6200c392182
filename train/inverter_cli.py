"""``preimage inverter fit --config configs/inverter/<name>.yaml``: LightningCLI over
:class:`InverterTask` and :class:`InverterData`.

Defaults: a checkpoint of the best held-out loss and the last step (``--ckpt_path last``
or a path resumes), early stopping on ``val/loss``, the runner's fresh run directory and
CSV log (``trainer.logger`` may select
``preimage.train.lightning_app.WandbLogger``, offline unless the user's W&B settings say
otherwise), Lightning's progress bar, and the best inverter exported as ``inverter.pt``
beside the checkpoints. ``--config`` also takes the short name of a
file in ``configs/inverter/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from preimage.representations.errors import PreimageError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "inverter"


def config_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _resolve_configs(args: list[str]) -> list[str]:
    """``--config NAME`` → ``--config configs/inverter/NAME.yaml`` when NAME is not a file."""
    out = list(args)
    for i, a in enumerate(out[:-1]):
        if a == "--config" and not Path(out[i + 1]).is_file():
            named = CONFIG_DIR / f"{out[i + 1]}.yaml"
            if not named.is_file():
                raise PreimageError(f"no inverter config {out[i + 1]!r}; give a .yaml file or one of "
                                    f"{', '.join(config_names())}")
            out[i + 1] = str(named)
    return out


def _cli_class():
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from preimage.train.inverter_module import ExportInverter
    from preimage.train.lightning_app import PreimageCLI

    class InverterCLI(PreimageCLI):
        """Checkpoints (best held-out loss and last), early stopping and the export are
        always on; their settings are ``--checkpoint.*`` and ``--early_stopping.*``."""

        def add_arguments_to_parser(self, parser) -> None:
            parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
            parser.set_defaults({"checkpoint.monitor": "val/loss", "checkpoint.mode": "min",
                                 "checkpoint.save_last": True, "checkpoint.filename": "best"})
            parser.add_lightning_class_args(EarlyStopping, "early_stopping")
            parser.set_defaults({"early_stopping.monitor": "val/loss", "early_stopping.mode": "min",
                                 "early_stopping.patience": 5})
            parser.add_lightning_class_args(ExportInverter, "export")

    return InverterCLI


def main(args: Sequence[str]) -> int:
    """Run LightningCLI with ``args`` (e.g. ``["fit", "--config", "squeezenet-conv1"]``) through
    the project's runner (:func:`preimage.train.lightning_app.run_lightning_cli`: a fresh run
    directory under ``runs/inverter``, offline W&B when selected, one-line errors)."""
    from preimage.train import inverter_module
    from preimage.train.inverter_data import InverterData
    from preimage.train.inverter_module import InverterTask
    from preimage.train.lightning_app import run_lightning_cli

    inverter_module.COMMAND[:] = ["inverter", *args]  # as typed: the command that reproduces the model
    run_lightning_cli(InverterTask, InverterData, _resolve_configs(list(args)), root="runs/inverter",
                      prog="preimage inverter", cli_class=_cli_class(), trainer_defaults={"log_every_n_steps": 10},
                      seed_everything_default=0)
    return 0
