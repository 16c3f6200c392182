"""Speed of the inversion engine (issue 4), on the CPU with 2 threads.

(a) overhead of one engine step (priors, bookkeeping, divergence check, momentum update)
    over the frozen Φ's forward + backward alone (SqueezeNet fire3, 227×227, batch 4);
(b) the 800-step CVPR'15 HOG preset at batch 16: seconds per 227×227 image.

Usage: python benchmarks/bench_engine.py [--steps N] [--repeats R] [--skip-hog]
"""

from __future__ import annotations

import argparse
import time

import torch

from preimage.inversion import invert
from preimage.representations import load_image, resolve_images
from preimage.train.config import apply_overrides, load_preset
from preimage.train.invert_setup import build_job


def crops(n: int) -> list:
    """``n`` images (the bundled photos, repeated)."""
    imgs = resolve_images(["chelsea", "astronaut", "coffee", "rocket", "motorcycle", "camera", "china", "flower"])
    return [(f"{name}{i}", img) for i in range(n // len(imgs) + 1) for name, img in imgs][:n]


def phi_alone(job, steps: int) -> float:
    """Seconds per step of Φ forward + backward of a squared loss at the match layer(s)."""
    x = job.init.clone()
    fm = list(job.objective.feature_matches().values())
    for t in range(steps + 2):
        if t == 2:
            start = time.perf_counter()
        xg = x.detach().requires_grad_(True)
        feats = job.representation(xg)
        loss = sum((feats[m.layer] - m.phi0).pow(2).sum() for m in fm)
        (g,) = torch.autograd.grad(loss, xg)
    return (time.perf_counter() - start) / steps


def engine(job, steps: int) -> float:
    invert(job.objective, job.init, job.optimiser, 2)  # warm-up
    start = time.perf_counter()
    invert(job.objective, job.init, job.optimiser, steps)
    return (time.perf_counter() - start) / steps


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--skip-hog", action="store_true")
    p.add_argument("--repeats", type=int, default=5, help="Φ / engine / Φ repeats; the median ratio is reported")
    args = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for preset, layer, batch in [("squeezenet-cvpr15", "fire3", 4), ("squeezenet-cvpr15", "conv1", 4),
                                 ("hog-cvpr15", "hog", 16)]:
        if preset.startswith("hog") and args.skip_hog:
            continue
        cfg = apply_overrides(load_preset(preset), [f"layer={layer}", "repeats=1"])
        job = build_job(cfg, crops(batch))
        phi_alone(job, args.steps), engine(job, args.steps)  # warm both paths (allocator, caches) first
        # Each repeat times Φ, the engine, then Φ again; its ratio uses the mean of the two Φ runs,
        # so a drift of the machine within the repeat cancels. Reported: the median repeat.
        ratios, phis, engines = [], [], []
        for _ in range(args.repeats):
            p1, e, p2 = phi_alone(job, args.steps), engine(job, args.steps), phi_alone(job, args.steps)
            ratios.append(e / ((p1 + p2) / 2))
            phis.append((p1 + p2) / 2)
            engines.append(e)
        mid = sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]
        print(f"(a) {preset} {layer} batch {batch}: Φ fwd+bwd {phis[mid] * 1e3:.1f} ms/step, "
              f"engine {engines[mid] * 1e3:.1f} ms/step, overhead {100 * (ratios[mid] - 1):+.1f} % "
              f"(median of {len(ratios)}; range {100 * (min(ratios) - 1):+.0f}…{100 * (max(ratios) - 1):+.0f} %)")
    if not args.skip_hog:
        cfg = load_preset("hog-cvpr15")
        job = build_job(cfg, crops(16))
        start = time.perf_counter()
        invert(job.objective, job.init, job.optimiser, job.steps)
        total = time.perf_counter() - start
        print(f"(b) hog-cvpr15, {job.steps} steps, batch 16 at 227×227: {total:.1f} s, {total / 16:.2f} s/image")


if __name__ == "__main__":
    main()
