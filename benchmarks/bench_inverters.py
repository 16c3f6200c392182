"""Inverse networks vs optimisation vs the hybrid on the held-out photos (coffee, china,
grace_hopper; 227² centre crops), at the shipped SqueezeNet layers, plus the HOG inverter's
CVPR'15 Table 1 error.

    python benchmarks/bench_inverters.py compare --layer conv1 [--checkpoint squeezenet-conv1]
    python benchmarks/bench_inverters.py modes --layer pool1 --checkpoints stacked=A.pt joint=B.pt end_to_end=C.pt
    python benchmarks/bench_inverters.py modes --representation hog --layer hog --checkpoints end_to_end=hog
    python benchmarks/bench_inverters.py hog [--checkpoint hog] [--hoggle hoggle] [--optimise]

``compare``: the squeezenet-cvpr15 preset (1 restart, 400 steps) vs the inverter (one forward
pass; seconds are the median of 5 passes) vs the hybrid (squeezenet-hybrid preset: 100 gentle
steps from the inverter's image), with image MSE / PSNR / SSIM, the relative feature error and
seconds per image; the hybrid's steps to reach the optimisation's final feature error.
``modes``: the same image metrics for inverters trained in different modes.
``hog``: the CVPR'15 Table 1 error (27 components, deep-goggle's normaliser: the mean squared
distance between the representations of the image set scored) of the HOG inverter, HOGgle and a
constant image, on the three centre crops and on bench_hoggle's nine crops of the held-out photos.
Each prints one JSON line (appended to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from preimage.inversion import invert
from preimage.inversion.metrics import image_mse, image_psnr, image_ssim, table1_error
from preimage.inverters import load_inverter
from preimage.representations import resolve_images
from preimage.train.config.overrides import apply_overrides, load_preset
from preimage.train.jobs.setup import build_job
from preimage.train.jobs.inverters import checkpoint_for, inverter_images, run_hybrid, run_inverter

from preimage.representations.images import HELD_OUT_PHOTOS  # noqa: E402

HELD_OUT = list(HELD_OUT_PHOTOS)


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


MODE_PRESETS = {"squeezenet": "squeezenet-inverter", "hog": "hog-inverter"}


def modes(layer: str, checkpoints: dict[str, str], representation: str = "squeezenet") -> dict:
    cfg, job = _job(MODE_PRESETS[representation], layer, resolve_images(HELD_OUT))
    out = {"representation": representation, "layer": layer}
    for mode, path in checkpoints.items():
        inv = load_inverter(path, representation, layer)
        out[mode] = {**_summary(job, run_inverter(inv, job), 0.0), "steps": inv.meta.get("steps"),
                     "trained_mode": inv.meta.get("mode"), "val_loss": inv.meta.get("val_loss"), "checkpoint": path}
    return out


def _table1(job, x) -> dict:
    """Table 1 error on the job's first ``score_channels`` HOG components (27): mean, std and
    per image, normalised over this image set; plus the image metrics."""
    c = int(job.config.score_channels or 31)
    with torch.no_grad():
        phi0 = job.representation(job.x0)["hog"][:, :c]
        err = table1_error(job.representation(x)["hog"][:, :c], phi0)
    return {"table1_error_mean": err.mean().item(), "table1_error_std": err.std().item(),
            "table1_error_per_image": [round(float(v), 4) for v in err], **_image_metrics(job, x)}


def hog_image_sets() -> dict[str, list]:
    """``centre``: the 227² centre crops of the held-out photos (as ``compare`` and
    ``preimage compare --config default``); ``crops9``: bench_quality's three 227² crops of
    each held-out photo (as ``bench_hoggle.py``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_quality import crops

    return {"centre": resolve_images(HELD_OUT),
            "crops9": [(n, img) for n, img in crops(27) if n.rsplit("-", 1)[0] in HELD_OUT]}


def hog(optimise: bool, checkpoint: str | None = None, hoggle: str = "hoggle") -> dict:
    """The HOG inverter, HOGgle and the constant image (and with ``optimise`` the hog-cvpr15
    optimisation) in Table 1 error on both held-out image sets."""
    from preimage.inverters.hoggle import HOGgle

    name = checkpoint_for(checkpoint, "hog", "hog")
    inv = load_inverter(name, "hog", "hog")
    model = HOGgle.load(hoggle)
    out = {"checkpoint": name, "inverter_meta": {k: inv.meta.get(k) for k in ("mode", "steps", "val_loss")},
           "hoggle": hoggle, "paper_optimisation": 0.281, "paper_hoggle": 0.662}
    for set_name, images in hog_image_sets().items():
        cfg, job = _job("hog-inverter", "hog", images)
        res = {"images": [n for n, _ in images], "constant": _table1(job, torch.full_like(job.x0, float(job.x0.mean())))}
        res["inverter"] = {**_table1(job, inverter_images(inv, job)), "seconds_per_image": _inference_seconds(inv, job)}
        t = time.perf_counter()
        with torch.no_grad():
            x = torch.cat([model.reconstruct(job.x0[i : i + 1]) for i in range(len(images))])
        res["hoggle"] = {**_table1(job, x), "seconds_per_image": (time.perf_counter() - t) / len(images)}
        if optimise:
            ocfg, ojob = _job("hog-cvpr15", "hog", images)
            r = invert(ojob.objective, ojob.init, ojob.optimiser, ojob.steps, (), ojob.jitter, ojob.box)
            res["optimisation"] = {**_table1(ojob, r.images), "seconds_per_image": r.seconds / len(images)}
        out[set_name] = res
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=["compare", "modes", "hog"])
    p.add_argument("--layer", default="conv1")
    p.add_argument("--representation", default="squeezenet", choices=sorted(MODE_PRESETS),
                   help="modes: the network of the checkpoints")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--checkpoints", nargs="*", default=[], help="mode=path pairs")
    p.add_argument("--optimise", action="store_true", help="hog: also run the hog-cvpr15 optimisation")
    p.add_argument("--hoggle", default="hoggle", help="hog: the HOGgle model (shipped name or .npz)")
    p.add_argument("--out", default=None, help="append the JSON line to this file")
    a = p.parse_args()
    torch.manual_seed(0)
    if a.part == "compare":
        res = compare(a.layer, a.checkpoint)
    elif a.part == "modes":
        res = modes(a.layer, dict(kv.split("=", 1) for kv in a.checkpoints), a.representation)
    else:
        res = hog(a.optimise, a.checkpoint, a.hoggle)
    line = json.dumps({"part": a.part, **res})
    print(line)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
