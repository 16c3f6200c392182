"""``preimage invert``: reconstruct images from their code Φ₀ at a layer, with a preset
(``configs/invert/*.yaml``) and ``key=value`` overrides. Every run gets a new directory
holding reconstructions (PNG and float32 .npy in input units), metrics.json, the
resolved config and a figure."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

HELP = "invert a representation: reconstruct images from their features at a layer"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from preimage.train.config import preset_names

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
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optimiser.lr=0.01")


def _split_overrides(args: argparse.Namespace) -> None:
    """``--image a b key=v`` / ``--layer l key=v``: argparse hands trailing overrides to the
    option; anything with '=' that is not an existing file is an override."""
    from pathlib import Path

    for attr in ("image", "layer"):
        values = getattr(args, attr) or []
        keep = [v for v in values if "=" not in v or Path(v).exists()]
        args.overrides = [v for v in values if v not in keep] + list(args.overrides)
        setattr(args, attr, keep or None)


def resolve_config(args: argparse.Namespace) -> dict:
    from preimage.representations.errors import PreimageError
    from preimage.train.config import apply_overrides, load_preset

    _split_overrides(args)
    if not args.image:
        raise PreimageError("no image given; pass --image FILE, FOLDER or a bundled sample such as chelsea")

    cfg = apply_overrides(load_preset(args.config), args.overrides)
    if args.layer:
        cfg["layer"] = args.layer[0] if len(args.layer) == 1 else list(args.layer)
    if args.weights:
        cfg["weights"] = args.weights
    return cfg


def run(args: argparse.Namespace) -> int:
    from preimage.inversion.metrics import image_mse, image_psnr, image_ssim
    from preimage.representations import resolve_images, save_image
    from preimage.train.config import dump
    from preimage.train.figures import inversion_figure
    from preimage.train.invert_setup import build_job
    from preimage.train.run_dir import run_directory
    from preimage.train.tracking import ProgressBar

    cfg = resolve_config(args)
    images = resolve_images(args.image)
    job = build_job(cfg, images)  # bad input fails here, before any directory exists
    if hasattr(job.method, "prepare"):
        job.method.prepare(job)  # e.g. load and check an inverter, before any directory exists
    cfg["layer"] = job.layers[0] if len(job.layers) == 1 else job.layers
    name = f"{cfg.get('name', 'invert')}-{'+'.join(job.layers)}"
    with run_directory(args.out, name) as rd:
        (rd.path / "config.yaml").write_text(dump(cfg))
        callbacks: list = [ProgressBar(job.steps, desc=name, disable=True if args.quiet else None)]
        logger = None
        if args.wandb:
            from preimage.train.tracking import WandbLogger

            logger = WandbLogger(cfg, name, str(rd.path))
            callbacks.append(logger)
        start = time.perf_counter()
        res = job.method.run(job, callbacks)
        seconds = time.perf_counter() - start
        conv = job.representation.convention
        n, r = len(job.names), job.repeats
        rgb = conv.deprocess(res.images).reshape(n, r, 3, *res.images.shape[-2:])
        orig = conv.deprocess(job.x0)
        out: dict = {"config": cfg.get("name"), "layers": job.layers, "seconds_total": seconds, "images": {}}
        for i, img_name in enumerate(job.names):
            ref = orig[i : i + 1]
            psnr, ssim = image_psnr(rgb[i], ref), image_ssim(rgb[i], ref)
            mse = image_mse(rgb[i], ref)
            save_image(orig[i], rd.path / f"{img_name}-original.png")
            runs = []
            for k in range(r):
                b = i * r + k
                stem = f"{img_name}-r{k}"
                save_image(rgb[i, k], rd.path / f"{stem}.png")
                # (H, W, 3) float32 in input units; grey inputs (HOG, DSIFT) repeated over 3 channels
                rec = res.images[b].expand(3, -1, -1) if res.images.shape[1] == 1 else res.images[b]
                np.save(rd.path / f"{stem}.npy", rec.permute(1, 2, 0).cpu().numpy().astype(np.float32))
                entry = {"restart": k, "steps": res.steps, "seconds": seconds,
                         "psnr": float(psnr[k]), "ssim": float(ssim[k]), "mse": float(mse[k])}
                rel = [float(v[b]) for key, v in res.metrics.items() if key.startswith("relative_error@")]
                entry["relative_error"] = rel[0] if len(rel) == 1 else {
                    key.split("@", 1)[1]: float(v[b]) for key, v in res.metrics.items() if key.startswith("relative_error@")}
                entry["terms"] = {key: float(v[b]) for key, v in res.metrics.items()
                                  if not key.startswith("relative_error@")}
                runs.append(entry)
            out["images"][img_name] = runs
        (rd.path / "metrics.json").write_text(json.dumps(out, indent=2))
        inversion_figure(orig, rgb, job.names, rd.path / "figure.png")
        if logger is not None:
            logger.log_images({"figure": str(rd.path / "figure.png")},
                              {"relative_error/mean": float(np.mean([e["relative_error"] for v in out["images"].values()
                                                                      for e in v if isinstance(e["relative_error"], float)] or [0]))})
            logger.finish()
    print(rd.final)
    return 0
