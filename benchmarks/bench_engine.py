"""Speed of the inversion engine, on the CPU with 2 threads.

(a) overhead of one engine step (the objective's terms, priors, bookkeeping, divergence
    check, momentum update, box and jitter, as ``preimage invert`` runs it) over the
    frozen Φ's forward + backward alone: Φ(x), then Φ's backward seeded with Φ(x) − Φ₀ at
    the matched layer (the least any gradient step on a feature loss pays), at SqueezeNet
    fire3 and conv1 (227×227, batch 4) and HOG (hog-cvpr15, batch 16);
(b) the 800-step CVPR'15 HOG preset at batch 16: seconds per 227×227 image.

Each engine figure is given twice, from the same repeats: with the compiled one-pass kernels
(:mod:`preimage.inversion.fused`, the default) and with the eager PyTorch path
(``PREIMAGE_EAGER=1``), so the kernels' effect is measured in one run. Freed memory is kept
in the process, as the CLI does (run with ``PREIMAGE_KEEP_MEMORY=0`` to measure without).

The CPU model, date and load average are printed beside the figures.

Usage: python benchmarks/bench_engine.py [--steps N] [--repeats R] [--skip-hog]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import torch

from preimage.inversion import invert, keep_freed_memory
from preimage.representations import load_image, resolve_images
from preimage.train.config.overrides import apply_overrides, load_preset
from preimage.train.jobs.setup import build_job


def crops(n: int) -> list:
    """``n`` images (the bundled photos, repeated)."""
    imgs = resolve_images(["chelsea", "astronaut", "coffee", "rocket", "motorcycle", "camera", "china", "flower"])
    return [(f"{name}{i}", img) for i in range(n // len(imgs) + 1) for name, img in imgs][:n]


def cpu_model() -> str:
    """The CPU's model name and logical core count."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} logical cores"
    import platform

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores"


def phi_alone(job, steps: int) -> float:
    """Seconds per step of Φ forward + Φ's backward seeded with Φ(x) − Φ₀ at the match layer(s)."""
    x = job.init.clone()
    fm = list(job.objective.feature_matches().values())
    for t in range(steps + 2):
        if t == 2:
            start = time.perf_counter()
        xg = x.detach().requires_grad_(True)
        feats = job.representation(xg)
        outs = [feats[m.layer] for m in fm]
        (g,) = torch.autograd.grad(outs, xg, [o.detach() - m.phi0 for o, m in zip(outs, fm)])
    return (time.perf_counter() - start) / steps


def engine(job, steps: int, eager: bool = False) -> float:
    """Seconds per step of ``invert`` as the CLI calls it (with the job's jitter and box),
    its final evaluation and metrics included; ``eager``: without the one-pass kernel."""
    os.environ["PREIMAGE_EAGER"] = "1" if eager else "0"
    invert(job.objective, job.init, job.optimiser, 2, jitter=job.jitter, box=job.box)  # warm-up
    start = time.perf_counter()
    invert(job.objective, job.init, job.optimiser, steps, jitter=job.jitter, box=job.box)
    return (time.perf_counter() - start) / steps


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--skip-hog", action="store_true", help="skip (b), the 800-step HOG run")
    p.add_argument("--repeats", type=int, default=5, help="Φ / engine / Φ repeats; the median ratio is reported")
    p.add_argument("--threads", type=int, default=2, help="torch threads (1 is steadier on a busy machine)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    kept = keep_freed_memory()  # as the CLI does (PREIMAGE_KEEP_MEMORY=0 to measure without)
    torch.manual_seed(0)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"freed memory kept {kept}; "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("command: python", " ".join(sys.argv))
    for preset, layer, batch in [("squeezenet-cvpr15", "fire3", 4), ("squeezenet-cvpr15", "conv1", 4),
                                 ("hog-cvpr15", "hog", 16)]:
        cfg = apply_overrides(load_preset(preset), [f"layer={layer}", "repeats=1"])
        job = build_job(cfg, crops(batch))
        phi_alone(job, args.steps), engine(job, args.steps), engine(job, args.steps, eager=True)  # warm-up
        # Each repeat times Φ, the engine (kernel), the engine (eager), then Φ again; its ratios use
        # the mean of the two Φ runs, so a drift of the machine within the repeat cancels.
        # Reported: the median repeat of each.
        ratios: dict[str, list[float]] = {"kernel": [], "eager": []}
        phis: list[float] = []
        for _ in range(args.repeats):
            p1 = phi_alone(job, args.steps)
            e, ee = engine(job, args.steps), engine(job, args.steps, eager=True)
            p = (p1 + phi_alone(job, args.steps)) / 2
            phis.append(p)
            ratios["kernel"].append(e / p)
            ratios["eager"].append(ee / p)
        os.environ["PREIMAGE_EAGER"] = "0"
        for path, r in ratios.items():
            mid = sorted(range(len(r)), key=r.__getitem__)[len(r) // 2]
            print(f"(a) {preset} {layer} batch {batch}, {path}: Φ fwd+bwd {phis[mid] * 1e3:.1f} ms/step, "
                  f"engine {phis[mid] * r[mid] * 1e3:.1f} ms/step, overhead {100 * (r[mid] - 1):+.1f} % "
                  f"(median of {len(r)}; range {100 * (min(r) - 1):+.0f}…{100 * (max(r) - 1):+.0f} %)")
    print(f"load average after (a): {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    if not args.skip_hog:
        cfg = load_preset("hog-cvpr15")
        job = build_job(cfg, crops(16))
        start = time.perf_counter()
        invert(job.objective, job.init, job.optimiser, job.steps, jitter=job.jitter, box=job.box)
        total = time.perf_counter() - start
        print(f"(b) hog-cvpr15, {job.steps} steps, batch 16 at 227×227: {total:.1f} s, {total / 16:.2f} s/image")


if __name__ == "__main__":
    main()
