"""Inversion quality with learned priors: image-space PSNR / SSIM of reconstructions from
SqueezeNet layers on the held-out photos (coffee, china, grace_hopper), same step budget for
every variant:

- ``handcrafted``: the preset's TV + α priors alone;
- ``+foe-rgb`` / ``+ica-rgb`` / ``+gmm-rgb``: plus one learned image prior;
- ``+feature``: plus the feature-map priors at conv1 and fire3.

Learned priors use ``weight: auto`` with ``share: 1`` and a ``sweep`` of factors (one restart
per factor, one batched run), so each factor f is the share of the data term's response to
noise given to the prior (:mod:`preimage.train.config.learned`). The handcrafted baseline
runs with as many restarts (its figure is the mean over restarts and photos).

    python benchmarks/bench_learned_prior_inversion.py [--preset squeezenet-cvpr15]
        [--layers conv1 fire2 fire3 fire5] [--factors 0.03 0.1 0.3] [--size 128] [--steps 100]
        [--photos coffee china grace_hopper]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from preimage.representations.images import HELD_OUT_PHOTOS  # noqa: E402

HELD_OUT = list(HELD_OUT_PHOTOS)
IMAGE_PRIORS = ["foe-rgb", "ica-rgb", "gmm-rgb"]
FEATURE_PRIORS = ["foe-squeezenet-conv1", "foe-squeezenet-fire3"]


def schedule(preset: str, steps: int) -> str:
    """The preset's schedule shape squeezed into ``steps`` steps."""
    if "ijcv16" in preset:
        a = round(steps * 300 / 350)
        return f"optimiser.schedule=[[1, {a}], [0.1, {steps - a}]]"
    a, b = steps // 4, steps // 2
    return f"optimiser.schedule=[[1, {a}], [0.1, {b}], [0.01, {steps - a - b}]]"


def learned(key: str, prior: str, factors: list[float]) -> list[str]:
    return [f"priors.{key}.type=learned", f"priors.{key}.prior={prior}", "priors.{k}.share=1.0".format(k=key),
            f"priors.{key}.sweep={json.dumps(factors)}"]


def run(cfg: dict, images) -> tuple[torch.Tensor, torch.Tensor, float]:
    """PSNR and SSIM (images × restarts) and seconds of one batched job."""
    from preimage.inversion.metrics import image_psnr, image_ssim
    from preimage.train.jobs.setup import build_job

    job = build_job(cfg, images)
    t = time.perf_counter()
    res = job.method.run(job, [])
    secs = time.perf_counter() - t
    rec = job.representation.convention.deprocess(res.images)
    ref = job.rgb.repeat_interleave(job.repeats, 0)
    shape = (len(images), job.repeats)
    return image_psnr(rec, ref).reshape(shape), image_ssim(rec, ref).reshape(shape), secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="squeezenet-cvpr15")
    ap.add_argument("--layers", nargs="+", default=["conv1", "fire2", "fire3", "fire5"])
    ap.add_argument("--factors", nargs="+", type=float, default=[0.03, 0.1, 0.3])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--image-priors", nargs="*", default=IMAGE_PRIORS, help="names or files of learned image priors")
    ap.add_argument("--feature-priors", nargs="*", default=FEATURE_PRIORS, help="names or files, used together")
    ap.add_argument("--photos", nargs="+", default=HELD_OUT,
                    help="photos to invert (default: the held-out ones; training photos to choose a share)")
    ap.add_argument("--json", default=None, help="also write the raw numbers here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from preimage.representations import load_image
    from preimage.train.config.overrides import apply_overrides, load_preset

    images = [(n, load_image(n)) for n in args.photos]
    r = len(args.factors)
    common = [f"image_size={args.size}", f"repeats={r}", "x0_sigma_scale_with_size=true", "seed=0",
              schedule(args.preset, args.steps)]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    print(f"# {args.preset}, {args.size}², {args.steps} steps, photos {', '.join(args.photos)}, factors {args.factors}; "
          f"{cpu}, {args.threads} threads, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| layer | variant | " + " | ".join(f"PSNR/SSIM @ {f}" for f in args.factors) + " | best | s |")
    print("|---" * (r + 4) + "|")
    out = []
    variants = ["handcrafted", *args.image_priors] + (["feature"] if args.feature_priors else [])
    for layer in args.layers:
        for v in variants:
            extra = [] if v == "handcrafted" else (
                learned("learned", v, args.factors) if v != "feature" else
                sum((learned(f"feat{i}", p, args.factors) for i, p in enumerate(args.feature_priors)), []))
            cfg = apply_overrides(load_preset(args.preset), [f"layer={layer}", *common, *extra])
            psnr, ssim, secs = run(cfg, images)
            if v == "handcrafted":  # restarts are repeats of the same setting
                cells = [f"{psnr.mean():.2f} / {ssim.mean():.3f} (all restarts)"] + [""] * (r - 1)
                best = psnr.mean().item()
            else:
                cells = [f"{psnr[:, k].mean():.2f} / {ssim[:, k].mean():.3f}" for k in range(r)]
                best = psnr.mean(0).max().item()
            print(f"| {layer} | {Path(v).stem if v != 'feature' else '+ ' + ', '.join(Path(p).stem for p in args.feature_priors)} | " + " | ".join(cells) + f" | {best:.2f} | {secs:.0f} |", flush=True)
            out.append({"layer": layer, "variant": v, "factors": args.factors, "psnr": psnr.tolist(),
                        "ssim": ssim.tolist(), "seconds": secs})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
