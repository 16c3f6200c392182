"""``preimage compare``: every method side by side on the same images, layers and metrics
(``configs/compare/*.yaml``), written as one run directory: results.csv, summary.md in the
papers' table layouts, figures. Interrupted comparisons resume with ``--resume``; several
processes, GPUs or nodes share the work through Lightning Fabric (``--devices``)."""

from __future__ import annotations

import argparse

HELP = "compare inversion methods on the same images, layers and metrics (tables, figures, resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from preimage.train.cli.args import positive_int
    from preimage.train.compare.spec import preset_names

    p.add_argument("--config", default=None, help=f"comparison preset ({', '.join(preset_names())}) or a .yaml file")
    p.add_argument("--images", nargs="+", default=None,
                   help="image files, folders or bundled names (default: the comparison's)")
    p.add_argument("--methods", nargs="+", default=None,
                   help="only these methods (named methods are required: a missing checkpoint is an error)")
    p.add_argument("--out", default="runs", help="parent folder of the run directory (default: runs)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="finish an interrupted comparison (its *.partial directory); finished units are kept")
    p.add_argument("--wandb", action="store_true", help="log tables, figures and every cell to W&B (offline "
                                                        "unless configured)")
    p.add_argument("--devices", type=positive_int, default=1, help="processes (or GPUs) per node, via Lightning Fabric")
    p.add_argument("--num-nodes", type=positive_int, default=1, help="nodes (Lightning Fabric; launch with srun/torchrun)")
    p.add_argument("--accelerator", default="auto", help="cpu, gpu, auto (default: a GPU when present)")
    p.add_argument("--strategy", default="auto", help="Fabric strategy (default: ddp when several processes)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="comparison overrides, e.g. restarts=1 representations.squeezenet.layers=[conv1]")


def _split(args: argparse.Namespace) -> None:
    """Trailing ``key=value`` after ``--images``/``--methods`` are overrides (as in invert)."""
    from preimage.train.cli.args import move_overrides

    move_overrides(args, ("images", "methods"), empty=[])


def run(args: argparse.Namespace) -> int:
    from preimage.train.compare.api import compare
    from preimage.train.compare.runner import Launch

    _split(args)
    final = compare(args.config, args.overrides, args.images, args.methods, args.out, args.resume,
                    Launch(args.accelerator, args.devices, args.strategy, args.num_nodes),
                    wandb=args.wandb, quiet=args.quiet)
    if final is not None:
        print(final / "summary.md")
    return 0
