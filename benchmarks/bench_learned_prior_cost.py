"""Added cost of a learned prior to one inversion step (objective value + gradient + optimiser
step) at conv-layer resolution, against the same step without it, in one run.

Setting: the ``squeezenet-cvpr15`` preset inverting ``conv1`` of a 227×227 image (TV + α
handcrafted priors, momentum), batch of one. Each variant adds one learned prior: the image
priors foe-rgb / ica-rgb / gmm-rgb and the feature-map priors at conv1 / fire3. Shipped priors
are used when present; otherwise an untrained prior of the shipped configuration's shape
(``configs/prior/<name>.yaml``; the cost does not depend on the weights). Rounds are
interleaved (each round times every variant once) and the median per-step time is reported
with its ratio to the baseline's median.

    python benchmarks/bench_learned_prior_cost.py [--steps 5] [--rounds 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
IMAGE_PRIORS = ["foe-rgb", "ica-rgb", "gmm-rgb"]
FEATURE_PRIORS = {"foe-squeezenet-conv1": "conv1", "foe-squeezenet-fire3": "fire3"}


def prior_file(name: str, tmp: Path) -> tuple[str, str]:
    """Path to the shipped prior, or to an untrained one of the same shape; and which it is."""
    from preimage.priors import GMMPatchPrior, list_priors, save_prior
    from preimage.priors.store import PRETRAINED

    if name in list_priors():
        return str(PRETRAINED / f"{name}.pt"), "shipped"
    cfg = yaml.safe_load((ROOT / "configs" / "prior" / f"{name}.yaml").read_text())
    model, data = cfg["model"], cfg.get("data", {})
    if "energy" in model:
        module, cls = model["energy"]["class_path"].rsplit(".", 1)
        energy = getattr(__import__(module, fromlist=[cls]), cls)(**model["energy"]["init_args"])
    else:
        c = 1 if data.get("grey") else 3
        energy = GMMPatchPrior(c, data["patch_size"], model["n_components"])
    meta = {"layer": data.get("layer"), "representation": data.get("representation")}
    return str(save_prior(energy, tmp / f"{name}.pt", meta)), "untrained, same shape"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=227)
    ap.add_argument("--layer", default="conv1", help="the inverted layer (conv1: Φ is cheapest, the worst case)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import tempfile

    from preimage.representations import load_image
    from preimage.train.config import apply_overrides, load_preset
    from preimage.train.invert_setup import build_job

    tmp = Path(tempfile.mkdtemp())
    base = apply_overrides(load_preset("squeezenet-cvpr15"), [f"layer={args.layer}", "repeats=1", f"image_size={args.image_size}"])
    variants: dict[str, list[str]] = {"baseline": []}
    source = {}
    for name in IMAGE_PRIORS + list(FEATURE_PRIORS):
        path, source[name] = prior_file(name, tmp)
        variants[f"+{name}"] = ["priors.learned.type=learned", f"priors.learned.prior={path}", "priors.learned.weight=1e-3"]
    img = [("coffee", load_image("coffee"))]
    jobs = {k: build_job(apply_overrides(base, o), img) for k, o in variants.items()}
    times: dict[str, list[float]] = {k: [] for k in jobs}
    for _ in range(args.rounds):
        for k, job in jobs.items():
            x = job.init.clone()
            job.optimiser.reset(x)
            t0 = time.perf_counter()
            for t in range(args.steps):
                ev = job.objective.energy_and_grad(x)
                job.optimiser.step(x, ev.grad, t, None)
            times[k].append((time.perf_counter() - t0) / args.steps)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    print(f"# {cpu}, {args.threads} thread(s), torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# squeezenet-cvpr15 @ {args.layer}, {args.image_size}², batch 1, median of {args.rounds} rounds × {args.steps} steps")
    b = statistics.median(times["baseline"])
    print("| variant | prior | ms / step | ratio to baseline |\n|---|---|---|---|")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"| {k} | {source.get(k[1:], '-')} | {1000 * m:.1f} | {m / b:.2f} |")


if __name__ == "__main__":
    main()
