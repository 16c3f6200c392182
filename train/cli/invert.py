"""``preimage invert``: reconstruct images from their code Φ₀ at a layer, with a preset
(``configs/invert/*.yaml``) or a YAML file and ``key=value`` overrides. The job runs
through :func:`preimage.train.api.run_job` (the Python API's code path); every run gets
a new directory holding reconstructions (PNG and float32 .npy in input units),
metrics.json, the resolved config and a figure (with ``method=langevin`` also the samples'
figures, ``samples.png`` and ``sample_std.png``). Nothing is written if the job fails."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "invert a representation: reconstruct images from their features at a layer"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from preimage.train.config.overrides import preset_names

    p.add_argument("--config", required=True,
                   help=f"preset name ({', '.join(preset_names())}) or a .yaml file")
    p.add_argument("--image", nargs="+", required=True,
                   help="image files, folders or bundled samples (e.g. chelsea); several are batched")
    p.add_argument("--layer", nargs="+", default=None,
                   help="layer(s) to invert, several matched at once (default: the preset's)")
    p.add_argument("--weights", default=None, help="weights for the representation (default: the preset's)")
    p.add_argument("--out", default="runs", help="parent folder of the run directory (default: runs)")
    p.add_argument("--wandb", action="store_true", help="log to Weights & Biases (offline unless configured)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. optimiser.lr=0.01 optimiser.name=adam box=null")


def _split_overrides(args: argparse.Namespace) -> None:
    """``--image a b key=v`` / ``--layer l key=v``: the trailing overrides go to ``overrides``."""
    from preimage.train.cli.args import move_overrides

    move_overrides(args, ("image", "layer"))


def _save(run, folder) -> None:
    """Originals, reconstructions (PNG + (H, W, 3) float32 .npy in input units; grey
    inputs repeated over 3 channels), metrics.json and the figure; for a sampler (Langevin,
    whose restarts are its samples) also ``samples.png`` (the samples side by side, each titled
    with its relative feature error, and their mean) and, with two samples or more,
    ``sample_std.png`` (per image the per-pixel standard deviation across the samples)."""
    import numpy as np

    from preimage.representations import save_image
    from preimage.train.jobs.methods import is_sampler
    from preimage.train.output.figures import inversion_figure, sample_std_figure, samples_figure

    job, images = run.job, run.result.images
    for i, name in enumerate(job.names):
        save_image(run.originals[i], folder / f"{name}-original.png")
        for k in range(job.repeats):
            b = i * job.repeats + k
            save_image(run.reconstructions[i, k], folder / f"{name}-r{k}.png")
            rec = images[b].expand(3, -1, -1) if images.shape[1] == 1 else images[b]
            np.save(folder / f"{name}-r{k}.npy", rec.permute(1, 2, 0).cpu().numpy().astype(np.float32))
    (folder / "metrics.json").write_text(json.dumps(run.metrics, indent=2))
    inversion_figure(run.originals, run.reconstructions, job.names, folder / "figure.png")
    if is_sampler(job.method.name):  # the restarts are samples: side by side, and their spread
        errors = [e["relative_error"] for name in job.names for e in run.metrics["images"][name]]
        errors = errors if all(isinstance(e, float) for e in errors) else None  # one number per sample
        samples_figure(run.originals, run.reconstructions, job.names, folder / "samples.png", errors)
        if job.repeats > 1:
            sample_std_figure(run.reconstructions, job.names, folder / "sample_std.png")


def run(args: argparse.Namespace) -> int:
    from preimage.train.jobs.run import prepare_invert, run_job
    from preimage.train.config.overrides import dump
    from preimage.train.output.run_dir import check_root, run_directory
    from preimage.train.output.tracking import ProgressBar

    _split_overrides(args)
    check_root(args.out, "--out")
    job = prepare_invert(args.config, args.image or [], args.overrides, layer=args.layer, weights=args.weights)
    name = f"{job.config.name or 'invert'}-{'+'.join(job.layers)}"
    with run_directory(args.out, name) as rd:  # bad input has failed above: no directory for it
        (rd.path / "config.yaml").write_text(dump(job.config))
        callbacks: list = [ProgressBar(job.steps, desc=name, disable=True if args.quiet else None)]
        logger = None
        if args.wandb:
            from preimage.train.output.tracking import WandbLogger

            logger = WandbLogger(dump_data(job.config), name, str(rd.path))
            callbacks.append(logger)
        try:
            result = run_job(job, callbacks)
            _save(result, rd.path)
            if logger is not None:
                rel = [e["relative_error"] for v in result.metrics["images"].values() for e in v
                       if isinstance(e["relative_error"], float)]
                logger.log_images({"figure": str(rd.path / "figure.png")},
                                  {"relative_error/mean": sum(rel) / len(rel) if rel else 0.0})
        except BaseException:
            if logger is not None:
                logger.finish(exit_code=1)  # W&B's files live in the run directory, removed with it
            raise
        if logger is not None:
            logger.finish()
    if result.warnings:
        print(f"preimage invert: warning: {'; '.join(result.warnings)}", file=sys.stderr)
    print(rd.final)
    return 0


def dump_data(config) -> dict:
    from preimage.train.config.invert import to_data

    return to_data(config)
