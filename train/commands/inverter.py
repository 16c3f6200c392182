"""``preimage inverter fit|validate --config configs/inverter/<name>.yaml [--key value …]``:
train an inverse network with LightningCLI (see :mod:`preimage.train.inverter_cli`)."""

from __future__ import annotations

import argparse

HELP = "train an inverse network (LightningCLI: fit --config configs/inverter/NAME.yaml)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="LightningCLI arguments, e.g. fit --config squeezenet-conv1 --trainer.max_steps 100")


def run(args: argparse.Namespace) -> int:
    from preimage.train.inverter_cli import main

    return main(args.args)
