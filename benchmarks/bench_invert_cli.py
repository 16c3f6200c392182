"""Whole-command speed of ``preimage invert --config hog-cvpr15`` (the CVPR'15 HOG
inversion, 800 steps) on 16 images 227×227, against VLFeat's C HOG.

The figure of merit is

    (wall seconds of the command / 16 images) ÷ (800 × VLFeat's HOG forward of one grey image)

i.e. how many VLFeat forwards one of our gradient steps costs, everything included
(start-up, imports, the representation, the 800 steps, metrics, PNG/.npy files, the
figure). Both are timed in this one run of the script: the command ``--runs`` times in a
subprocess, VLFeat (cyvlfeat, one 227×227 float32 grey image ``255·Y − 128`` per call)
before and after each command; reported: the fastest command over the median VLFeat time
next to it, and the median ratio. Target: ≤ 3.

    python benchmarks/bench_invert_cli.py [--runs 3] [--images N] [--keep DIR]

The 16 images are the bundled photos (centre crops, then off-centre crops of the same
photos), written as 227×227 PNGs into a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SIZE = 227
STEPS = 800
PHOTOS = ["chelsea", "astronaut", "coffee", "rocket", "motorcycle", "camera", "china", "flower", "grace_hopper"]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform``) and its logical core count."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not Linux
        pass
    return f"{name or platform.processor() or platform.machine()}, {os.cpu_count()} logical cores"


def crops(n: int) -> list[tuple[str, torch.Tensor]]:
    """``n`` distinct 227×227 RGB crops in [0, 1]: each photo's centre square, then the
    square at its left/top end, then its right/bottom end."""
    from preimage.representations import load_image
    from preimage.representations.images import resize_crop

    photos = [(p, load_image(p)) for p in PHOTOS]
    out: list[tuple[str, torch.Tensor]] = []
    for where in ("centre", "start", "end"):
        for name, img in photos:
            if len(out) == n:
                return out
            h, w = img.shape[-2:]
            s = min(h, w)
            off = {"centre": 0.5, "start": 0.0, "end": 1.0}[where]
            y, x = int(off * (h - s)), int(off * (w - s))
            out.append((f"{name}-{where}", resize_crop(img[:, y : y + s, x : x + s], SIZE)))
    return out


def grey(img: torch.Tensor) -> np.ndarray:
    """The HOG representation's input for one RGB image: 255·Y − 128, float32 (H, W)."""
    from preimage.representations.shallow import GREY_CONVENTION

    return GREY_CONVENTION.preprocess(img[None])[0, 0].numpy().astype(np.float32)


def vlfeat_seconds(image: np.ndarray, calls: int = 200) -> float:
    """Median seconds of one cyvlfeat HOG forward (UoCTTI, cell 8, 9 orientations) over ``calls``."""
    from cyvlfeat.hog import hog

    image = np.ascontiguousarray(image)
    hog(image, 8, variant="UoCTTI")
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        hog(image, 8, variant="UoCTTI")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def command(folder: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "preimage.train.cli", "invert", "--config", "hog-cvpr15",
            "--image", str(folder), "--out", str(out), "--quiet"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3, help="runs of the command (the fastest is reported)")
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--keep", default=None, help="keep the images and run directories in this folder")
    args = p.parse_args()
    from preimage.representations import save_image

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="preimage-bench-"))
    folder = work / "images"
    folder.mkdir(parents=True, exist_ok=True)
    images = crops(args.images)
    for name, img in images:
        save_image(img, folder / f"{name}.png")
    # VLFeat on the first image as the command will see it (read back from its PNG)
    from preimage.representations import load_image

    ref = grey(load_image(str(folder / f"{images[0][0]}.png")))
    cmd = command(folder, work / "runs")
    print(f"CPU: {cpu_model()}; torch {torch.__version__}; "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("command:", " ".join(cmd[1:]).replace(str(work), "$WORK"))
    walls, vls, ratios = [], [], []
    for run in range(args.runs):
        before = vlfeat_seconds(ref)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"the command failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        after = vlfeat_seconds(ref)
        vl = (before + after) / 2
        ratio = (wall / len(images)) / (STEPS * vl)
        walls.append(wall), vls.append(vl), ratios.append(ratio)
        print(f"run {run + 1}: {wall:.1f} s for {len(images)} images ({wall / len(images):.2f} s/image); "
              f"VLFeat HOG {vl * 1e3:.3f} ms (before {before * 1e3:.3f}, after {after * 1e3:.3f}); ratio {ratio:.2f}")
    best = min(range(len(walls)), key=walls.__getitem__)
    print(f"fastest run: {walls[best] / len(images):.2f} s/image = {ratios[best]:.2f} × (800 VLFeat forwards); "
          f"median ratio {statistics.median(ratios):.2f} (range {min(ratios):.2f}…{max(ratios):.2f}); "
          f"load average after {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
