"""Quality of the CVPR'15 reproduction (issue 4), CPU, 2 threads.

1. Table 1 of Mahendran & Vedaldi (CVPR 2015): the normalised reconstruction error of
   HOG, HOGb and DSIFT (presets hog/hogb/dsift-cvpr15) on 227×227 crops of the bundled
   photos, computed exactly as deep-goggle's experiment_shallow_quantitative.m
   (:func:`inversion.metrics.table1_error`), mean ± std next to the paper's values.
2. Relative error √(‖Φ(x*) − Φ₀‖²/‖Φ₀‖²) per layer of SqueezeNet (default network)
   with the CaffeNet schedule (squeezenet-cvpr15, λ_TV by depth).

Usage: python benchmarks/bench_quality.py [--crops 24] [--skip-shallow] [--skip-cnn] [--steps-scale 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from preimage.inversion import invert
from preimage.inversion.metrics import table1_error
from preimage.representations import resize_crop, resolve_images
from preimage.train.config.overrides import apply_overrides, load_preset
from preimage.train.jobs.setup import build_job

PAPER = {"hog": (28.1, 7.87), "hogb": (10.67, 5.25), "dsift": (10.89, 7.5)}


def crops(n: int) -> list:
    """``n`` 227×227 crops: each photo resized to a shorter side of 320, crops at the
    centre, top-left and bottom-right (then the next photo)."""
    photos = resolve_images(["chelsea", "astronaut", "coffee", "rocket", "motorcycle", "camera", "china",
                             "flower", "grace_hopper"])
    out = []
    for k in range(3):
        for name, img in photos:
            big = resize_crop(img, 320)
            top = {0: 46, 1: 0, 2: 93}[k]
            out.append((f"{name}-{k}", big[:, top : top + 227, top : top + 227]))
    return out[:n]


def table1(preset: str, images: list, overrides: list[str]) -> tuple[float, float, float]:
    cfg = apply_overrides(load_preset(preset), overrides)
    job = build_job(cfg, images)
    start = time.perf_counter()
    res = invert(job.objective, job.init, job.optimiser, job.steps, jitter=job.jitter, box=job.box)
    seconds = time.perf_counter() - start
    layer = job.layers[0]
    with torch.no_grad():
        rec = job.representation(res.images)[layer]
        orig = job.representation(job.x0)[layer]
    c = cfg.get("score_channels")
    if c:
        rec, orig = rec[:, :c], orig[:, :c]
    e = 100 * table1_error(rec, orig)
    return float(e.mean()), float(e.std()), seconds


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--crops", type=int, default=24)
    p.add_argument("--skip-shallow", action="store_true")
    p.add_argument("--skip-cnn", action="store_true")
    p.add_argument("--cnn-layers", default=None, help="comma-separated SqueezeNet layers (default: all)")
    args = p.parse_args()
    torch.set_num_threads(2)
    images = crops(args.crops)
    if not args.skip_shallow:
        print(f"Table 1 (CVPR'15), {len(images)} crops 227×227, error in % (mean ± std):")
        for rep in ("hog", "hogb", "dsift"):
            m, s, sec = table1(f"{rep}-cvpr15", images, [])
            pm, ps = PAPER[rep]
            print(f"  {rep:6s} ours {m:6.2f} ± {s:5.2f}   paper {pm} ± {ps}   ({sec:.0f} s)", flush=True)
    if not args.skip_cnn:
        from preimage.representations import build_representation

        layers = args.cnn_layers.split(",") if args.cnn_layers else build_representation("squeezenet").layers
        print("SqueezeNet relative error per layer (squeezenet-cvpr15, 1 restart, chelsea):")
        for layer in layers:
            cfg = apply_overrides(load_preset("squeezenet-cvpr15"), [f"layer={layer}", "repeats=1"])
            job = build_job(cfg, images[:1])
            start = time.perf_counter()
            res = invert(job.objective, job.init, job.optimiser, job.steps, jitter=job.jitter, box=job.box)
            rel = float(res.metrics["relative_error@match"][0])
            print(f"  {layer:7s} {100 * rel:6.2f} %   ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
