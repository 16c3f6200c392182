"""Inverse networks vs optimisation vs the hybrid on the held-out photos (coffee, china,
grace_hopper; 227² centre crops), at the shipped SqueezeNet layers, plus the HOG inverter's
CVPR'15 Table 1 error.

    python benchmarks/bench_inverters.py compare --layer conv1 [--checkpoint squeezenet-conv1]
    python benchmarks/bench_inverters.py modes --layer pool1 --checkpoints stacked=A.pt joint=B.pt end_to_end=C.pt
    python benchmarks/bench_inverters.py hog [--optimise]

``compare``: the squeezenet-cvpr15 preset (1 restart, 400 steps) vs the inverter (one forward
pass; seconds are the median of 5 passes) vs the hybrid (squeezenet-hybrid preset: 100 gentle
steps from the inverter's image), with image MSE / PSNR / SSIM, the relative feature error and
seconds per image; the hybrid's steps to reach the optimisation's final feature error.
``modes``: the same image metrics for inverters trained in different modes.
``hog``: the Table 1 error (27 components, deep-goggle's normalisation over this image set).
Each prints one JSON line (appended to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from preimage.inversion import invert
from preimage.inversion.metrics import image_mse, image_psnr, image_ssim, table1_error
from preimage.inverters import load_inverter
from preimage.representations import resolve_images
from preimage.train.config import apply_overrides, load_preset
from preimage.train.invert_setup import build_job
from preimage.train.inverter_invert import checkpoint_for, inverter_images, run_hybrid, run_inverter

HELD_OUT = ["coffee", "china", "grace_hopper"]


def _image_metrics(job, x) -> dict:
    conv = job.representation.convention
    rgb, ref = conv.deprocess(x), conv.deprocess(job.x0)
    return {"mse": image_mse(rgb, ref).mean().item(), "psnr": image_psnr(rgb, ref).mean().item(),
            "ssim": image_ssim(rgb, ref).mean().item()}


def _summary(job, res, seconds_per_image: float) -> dict:
    rel = next(v for k, v in res.metrics.items() if k.startswith("relative_error@"))
    return {**_image_metrics(job, res.images), "relative_error": rel.mean().item(),
            "relative_error_per_image": [round(float(v), 4) for v in rel], "seconds_per_image": seconds_per_image}


def _job(preset: str, layer: str, images, extra: list[str] = ()):  # one restart, the held-out photos
    cfg = apply_overrides(load_preset(preset), [f"layer={layer}", "repeats=1", *extra])
    return cfg, build_job(cfg, images)


def _inference_seconds(inv, job, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        inverter_images(inv, job)
        times.append(time.perf_counter() - t)
    return statistics.median(times) / job.x0.shape[0]


def compare(layer: str, checkpoint: str | None) -> dict:
    images = resolve_images(HELD_OUT)
    cfg, job = _job("squeezenet-cvpr15", layer, images)
    n = len(images)
    opt = invert(job.objective, job.init, job.optimiser, job.steps, (), job.jitter, job.box)
    out = {"layer": layer, "optimisation": {**_summary(job, opt, opt.seconds / n), "steps": opt.steps}}
    extra = [f"init.checkpoint={checkpoint}"] if checkpoint else []
    hcfg, hjob = _job("squeezenet-hybrid", layer, images, extra)
    name = checkpoint_for(checkpoint, "squeezenet", layer)
    inv = load_inverter(name, "squeezenet", layer)
    res = run_inverter(inv, hjob)
    out["inverter"] = _summary(hjob, res, _inference_seconds(inv, hjob))
    out["inverter"]["checkpoint"] = name
    hyb = run_hybrid(inv, hjob)
    out["hybrid"] = {**_summary(hjob, hyb, hyb.seconds / n), "steps": hyb.steps}
    # steps until the hybrid's feature error reaches the optimisation's final one (per image)
    rel_hist = hyb.history["match"].clamp_min(0).sqrt()  # match = ||Phi - Phi0||^2 / ||Phi0||^2
    target = torch.tensor(out["optimisation"]["relative_error_per_image"])
    reached = []
    for i in range(n):
        hit = torch.nonzero(rel_hist[:, i] <= target[i]).ravel()
        reached.append(int(hit[0]) if len(hit) else None)
    out["hybrid"]["steps_to_optimisation_error"] = reached
    out["speedup_inverter_vs_optimisation"] = out["optimisation"]["seconds_per_image"] / out["inverter"]["seconds_per_image"]
    return out


def modes(layer: str, checkpoints: dict[str, str]) -> dict:
    cfg, job = _job("squeezenet-inverter", layer, resolve_images(HELD_OUT))
    out = {"layer": layer}
    for mode, path in checkpoints.items():
        inv = load_inverter(path, "squeezenet", layer)
        out[mode] = {**_summary(job, run_inverter(inv, job), 0.0), "steps": inv.meta.get("steps"),
                     "checkpoint": path}
    return out


def hog(optimise: bool) -> dict:
    images = resolve_images(HELD_OUT)
    cfg, job = _job("hog-inverter", "hog", images)
    c = int(job.config.score_channels or 31)
    rep = job.representation
    with torch.no_grad():
        phi0 = rep(job.x0)["hog"][:, :c]
    inv = load_inverter(checkpoint_for(None, "hog", "hog"), "hog", "hog")
    x = inverter_images(inv, job)
    with torch.no_grad():
        err = table1_error(rep(x)["hog"][:, :c], phi0)
    out = {"images": HELD_OUT, "inverter": {"table1_error_mean": err.mean().item(), "table1_error_std": err.std().item(),
                                            **_image_metrics(job, x)}, "paper_optimisation": 0.281,
           "paper_hoggle": 0.662}
    if optimise:
        ocfg, ojob = _job("hog-cvpr15", "hog", images)
        res = invert(ojob.objective, ojob.init, ojob.optimiser, ojob.steps, (), ojob.jitter, ojob.box)
        with torch.no_grad():
            e = table1_error(rep(res.images)["hog"][:, :c], phi0)
        out["optimisation"] = {"table1_error_mean": e.mean().item(), "table1_error_std": e.std().item(),
                               **_image_metrics(ojob, res.images), "seconds_per_image": res.seconds / len(images)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=["compare", "modes", "hog"])
    p.add_argument("--layer", default="conv1")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--checkpoints", nargs="*", default=[], help="mode=path pairs")
    p.add_argument("--optimise", action="store_true", help="hog: also run the hog-cvpr15 optimisation")
    p.add_argument("--out", default=None, help="append the JSON line to this file")
    a = p.parse_args()
    torch.manual_seed(0)
    if a.part == "compare":
        res = compare(a.layer, a.checkpoint)
    elif a.part == "modes":
        res = modes(a.layer, dict(kv.split("=", 1) for kv in a.checkpoints))
    else:
        res = hog(a.optimise)
    line = json.dumps({"part": a.part, **res})
    print(line)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
