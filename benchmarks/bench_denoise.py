"""Denoising benchmark of the learned priors (issue 8), grey (or colour), σ = 25 (0–255 scale), CPU.

Held-out photos only (coffee, china, grace_hopper: no shipped prior was trained on them):
three 128×128 grey crops of each (centre, upper-left and lower-right quarter centres), noise
seeded per crop. Methods:

- the shipped priors (``foe-grey``, ``ica-grey`` if shipped, ``gmm-grey``; their own λ, tuned
  on a training photo when they were trained): MAP by L-BFGS, EPLL's splitting for the GMM;
- TV: scikit-image's ``denoise_tv_chambolle``, its weight tuned on a separate (training) photo
  (astronaut, grey 128×128 centre crop) over a log grid;
- BM3D (the ``bm3d`` package, σ known), if installed.

Score priors denoise by one pass of D; with ``--ensemble`` each also gets a second row, "×8
ensemble": D averaged over the 8 rotations × flips of the crop, each undone
(:func:`preimage.priors.denoise.ensemble_denoise`; 8 passes, as its s / crop shows).

``--colour`` keeps the crops in RGB for colour priors (``foe-rgb``, ``ica-rgb``, ``gmm-rgb`` or
prior files): TV denoises each channel (scikit-image's ``channel_axis``; weight tuned on the
colour astronaut crop) and BM3D is left out.

Usage: python benchmarks/bench_denoise.py [--priors foe-grey gmm-grey] [--sigma 25] [--crops 3] [--colour] [--ensemble]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time

import numpy as np
import torch

from preimage.representations import load_image
from preimage.train.analysis.denoise import add_noise, denoise_image, prepare, psnr, ssim
from preimage.representations.images import HELD_OUT_PHOTOS as HELD_OUT_IMAGES, to_grey

TV_WEIGHTS = tuple(float(w) for w in np.geomspace(0.02, 0.3, 15))


def held_out_crops(n_per_image: int = 3, size: int = 128, grey: bool = True) -> list[tuple[str, torch.Tensor]]:
    """Grey (1, size, size) or colour (3, size, size) crops of the held-out photos."""
    out = []
    for name in HELD_OUT_IMAGES:
        x = to_grey(load_image(name)) if grey else load_image(name)
        h, w = x.shape[-2:]
        centres = [(h // 2, w // 2), (h // 4, w // 4), (3 * h // 4, 3 * w // 4)][:n_per_image]
        for k, (cy, cx) in enumerate(centres):
            t = min(max(cy - size // 2, 0), h - size)
            l = min(max(cx - size // 2, 0), w - size)
            out.append((f"{name}-{k}", x[:, t:t + size, l:l + size].contiguous()))
    return out


def tv_denoise(y: torch.Tensor, weight: float) -> torch.Tensor:
    from skimage.restoration import denoise_tv_chambolle

    if y.shape[0] == 1:
        return torch.from_numpy(denoise_tv_chambolle(y[0].double().numpy(), weight=weight))[None].float()
    return torch.from_numpy(denoise_tv_chambolle(y.double().numpy(), weight=weight, channel_axis=0)).float()


def tune_tv(sigma: float, seed: int = 1, grey: bool = True) -> float:
    """TV weight with the best PSNR on a training photo (astronaut, grey or colour centre crop)."""
    x = prepare(load_image("astronaut"), 1 if grey else 3, 128)
    y = add_noise(x, sigma, seed)
    return max(TV_WEIGHTS, key=lambda w: psnr(tv_denoise(y, w), x))


def bm3d_denoise(y: torch.Tensor, sigma: float) -> torch.Tensor | None:
    try:
        import bm3d
    except ImportError:
        return None
    return torch.from_numpy(np.asarray(bm3d.bm3d(y[0].double().numpy(), sigma / 255.0)))[None].float()


def run(priors: list[str], sigma: float, n_crops: int, with_bm3d: bool = True, grey: bool = True,
        ensemble: bool = False) -> dict:
    from preimage.priors.store import load_prior

    crops = held_out_crops(n_crops, grey=grey)
    noisy = [(n, x, add_noise(x, sigma, 100 + i)) for i, (n, x) in enumerate(crops)]
    rows: dict[str, dict] = {"noisy": {"psnr": [psnr(y, x) for _, x, y in noisy],
                                       "ssim": [ssim(y, x) for _, x, y in noisy], "seconds": 0.0}}

    def evaluate(label: str, fn) -> None:
        t = time.perf_counter()
        outs = [fn(y) for _, _, y in noisy]
        if outs[0] is None:
            return
        rows[label] = {"psnr": [psnr(d, x) for d, (_, x, _) in zip(outs, noisy)],
                       "ssim": [ssim(d, x) for d, (_, x, _) in zip(outs, noisy)],
                       "seconds": (time.perf_counter() - t) / len(noisy)}

    w = tune_tv(sigma, grey=grey)
    evaluate(f"TV (weight {w:.3f})", lambda y: tv_denoise(y, w))
    if with_bm3d and grey:
        evaluate("BM3D", lambda y: bm3d_denoise(y, sigma))
    for name in priors:
        loaded = load_prior(name)
        score = not getattr(loaded.energy, "has_energy", True)
        label = f"{name} (one pass of D)" if score else f"{name} (λ {loaded.lam:.3g})"
        evaluate(label, lambda y: denoise_image(loaded.energy, y, sigma, loaded.lam))
        if score and ensemble:
            evaluate(f"{name} (×8 ensemble)", lambda y: denoise_image(loaded.energy, y, sigma, loaded.lam,
                                                                      route="ensemble"))
    return {"crops": [n for n, _ in crops], "sigma": sigma, "rows": rows}


def speed_table() -> None:
    """Training wall time and throughput of every shipped prior, as stored in its file."""
    from preimage.priors.store import list_priors, load_prior

    print("| prior | steps / EM iterations | wall time (s) | samples/s | p×p windows/s |")
    print("|---|---|---|---|---|")
    for name in list_priors():
        meta = load_prior(name).meta
        sp = meta.get("speed") or {}
        steps = meta.get("steps") or (meta.get("fit") or {}).get("max_iter", "?")
        win = sp.get("windows_per_second")
        print(f"| {name} | {steps} | {sp.get('train_seconds', float('nan')):.0f} | "
              f"{sp.get('samples_per_second', float('nan')):.0f} | {f'{win:.0f}' if win else '-'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--priors", nargs="*", default=["foe-grey", "ica-grey", "gmm-grey"])
    ap.add_argument("--sigma", type=float, default=25.0)
    ap.add_argument("--crops", type=int, default=3, help="crops per held-out photo (1-3)")
    ap.add_argument("--json", default=None, help="also write the raw numbers here")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 on a shared, loaded machine)")
    ap.add_argument("--skip-bm3d", action="store_true", help="leave BM3D out (slow on a loaded machine)")
    ap.add_argument("--speed", action="store_true", help="only print the training speed of the shipped priors")
    ap.add_argument("--ensemble", action="store_true",
                    help="score priors also as their x8 self-ensemble (mean of D over 4 rotations x 2 flips)")
    ap.add_argument("--colour", action="store_true", help="RGB crops, for colour priors (TV jointly over channels, no BM3D)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.speed:
        speed_table()
        return
    from preimage.priors.store import list_priors

    from pathlib import Path

    priors = [p for p in args.priors if p in list_priors() or Path(p).is_file()]
    res = run(priors, args.sigma, args.crops, not args.skip_bm3d, not args.colour, args.ensemble)
    cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip() or platform.processor()
    print(f"{len(res['crops'])} held-out 128x128 {'colour' if args.colour else 'grey'} crops, sigma {args.sigma:g}; CPU {cpu}; "
          f"{args.threads} torch thread(s); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"load average {os.getloadavg()[0]:.2f}")
    tv = next(v for k, v in res["rows"].items() if k.startswith("TV"))
    bm = res["rows"].get("BM3D")
    print("| method | PSNR (dB) | SSIM | vs TV (dB) | vs BM3D (dB) | s / crop |")
    print("|---|---|---|---|---|---|")
    for k, v in res["rows"].items():
        p, s = float(np.mean(v["psnr"])), float(np.mean(v["ssim"]))
        d_tv = p - float(np.mean(tv["psnr"]))
        d_bm = f"{p - float(np.mean(bm['psnr'])):+.2f}" if bm else "n/a"
        print(f"| {k} | {p:.2f} | {s:.3f} | {d_tv:+.2f} | {d_bm} | {v['seconds']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
