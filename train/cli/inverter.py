"""``preimage inverter fit|validate --config NAME [--key value | key=value …]``: train an
inverse network with LightningCLI over :class:`~preimage.train.fit.inverter.InverterTask` and
:class:`~preimage.train.fit.crops.InverterData` (the app: :mod:`preimage.train.fit.app`).

``--config`` takes a short name of ``configs/inverter/`` or a YAML file. Defaults: a checkpoint
of the best held-out loss and the last step (``--ckpt_path last`` or a path resumes), early
stopping on ``val/loss``, a fresh run directory under ``runs/inverter`` with a CSV log
(``trainer.logger`` may select ``preimage.train.fit.app.WandbLogger``, offline unless the
user's W&B settings say otherwise), and the best inverter exported as ``inverter.pt``
beside the checkpoints (and to ``--model.export``).
"""

from __future__ import annotations

import argparse

HELP = "train an inverse network (LightningCLI: fit --config NAME, e.g. squeezenet-conv1)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="LightningCLI arguments, e.g. fit --config squeezenet-conv1 --trainer.max_steps 100")


def run(args: argparse.Namespace) -> int:
    from preimage.train.cli.args import lightning_args
    from preimage.train.fit.app import run_lightning_cli
    from preimage.train.fit.crops import InverterData
    from preimage.train.fit.inverter import ExportInverter, InverterTask, check_inverter_checkpoint

    export = ExportInverter(command=" ".join(["preimage", "inverter", *args.args]))  # as typed
    cli = run_lightning_cli(InverterTask, InverterData, lightning_args(list(args.args), "inverter"),
                            root="runs/inverter", prog="preimage inverter", export=export,
                            check_checkpoint=check_inverter_checkpoint,
                            trainer_defaults={"log_every_n_steps": 10}, seed_everything_default=0)
    if cli.run_dir is not None and export.exported is not None:
        print(cli.run_dir)  # as `prior fit`: the run directory, on stdout (progress bars go to stderr)
    return 0
