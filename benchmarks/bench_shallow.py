"""Speed of the shallow representations (issue 3): forward + backward per 227×227 image.

For HOG, HOGb, CNN-HOG and DSIFT at batch 1 and 16, next to VLFeat's C forward time
(cyvlfeat) on the same image and machine. Target: ours (forward + backward, batch 16,
per image) within 3× of VLFeat's forward alone.

    python benchmarks/bench_shallow.py [--repeats 5] [--record]

``--record`` rewrites the "## HOG / HOGb / DSIFT (issue 3)" section of
benchmarks/RESULTS.md (other sections are left as they are).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from preimage.representations.shallow import build_cnn_hog, build_dsift, build_hog, build_hogb

SECTION = "## HOG / HOGb / DSIFT (issue 3)"
SIZE = 227


def grey_image() -> np.ndarray:
    """The paper's input: 255·grey − 128 of a 227×227 photo (float32)."""
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.transform import resize

    g = resize(rgb2gray(skimage.data.astronaut()), (SIZE, SIZE), anti_aliasing=True)
    return (255.0 * g - 128.0).astype(np.float32)


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up (builds caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def ours_per_image(model, img: np.ndarray, batch: int, repeats: int) -> float:
    x0 = torch.from_numpy(img)[None, None].repeat(batch, 1, 1, 1)
    x0 += torch.randn_like(x0)  # distinct images

    def step():
        x = x0.clone().requires_grad_()
        out = model(x)
        sum(v.square().sum() for v in out.values()).backward()

    return best_time(step, repeats) / batch


def vlfeat_per_image(kind: str, img: np.ndarray, repeats: int) -> float | None:
    try:
        from cyvlfeat.hog import hog
        from cyvlfeat.sift import dsift
    except ImportError:
        return None
    if kind.startswith("dsift"):
        fast = kind == "dsift"
        return best_time(lambda: dsift(img, step=4, size=8, fast=fast, float_descriptors=True), repeats)
    return best_time(lambda: hog(img, 8, variant="UoCTTI", bilinear_interpolation=kind == "hogb"), repeats)


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = re.search(r"Model name:\s*(.+)", out).group(1).strip()
    except Exception:  # pragma: no cover - lscpu missing
        model = platform.processor() or "unknown CPU"
    return f"{model}, torch.set_num_threads(2), torch {torch.__version__}"


def run(repeats: int) -> str:
    torch.set_num_threads(2)
    img = grey_image()
    models = {"HOG": ("hog", build_hog(taps="hog")), "HOGb": ("hogb", build_hogb(taps="hog")),
              "CNN-HOG": ("hog", build_cnn_hog(taps="hog")), "DSIFT": ("dsift", build_dsift()),
              "DSIFT, Gaussian window (extra)": ("dsift-gauss", build_dsift(fast=False))}
    rows = ["| variant | ours fwd+bwd, batch 1 (ms/img) | ours fwd+bwd, batch 16 (ms/img) "
            "| VLFeat fwd (ms/img) | ratio batch 16 / VLFeat |", "|---|---|---|---|---|"]
    for name, (kind, model) in models.items():
        b1 = ours_per_image(model, img, 1, repeats)
        b16 = ours_per_image(model, img, 16, max(2, repeats // 2))
        vl = vlfeat_per_image(kind, img, repeats * 4)
        ratio = f"{b16 / vl:.2f}×" if vl else "n/a"
        vls = f"{vl * 1e3:.2f}" if vl else "n/a (cyvlfeat missing)"
        rows.append(f"| {name} | {b1 * 1e3:.2f} | {b16 * 1e3:.2f} | {vls} | {ratio} |")
    return "\n".join(rows)


def record(table: str, path: Path) -> None:
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    body = (f"{SECTION}\n\nMachine: 2-core CPU, {machine()}. Date: {date}.\n"
            f"Input 227×227 grey (255·Y − 128); HOG cell 8, 9 orientations (UoCTTI); DSIFT step 4,\n"
            f"bin 8, flat window (fast=True) unless noted. Ours: best of repeats, forward + backward\n"
            f"of the sum of squares. VLFeat: cyvlfeat forward only, one image per call.\n"
            f"Other jobs share the 2 cores: when the other core is busy, torch's 2-thread runs slow down\n"
            f"10–50×, so record in a quiet window (check `uptime`). Target: ratio ≤ 3× (batch 16).\n\n"
            f"{table}\n")
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(SECTION) + r".*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: body + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + body
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--record", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = ap.parse_args()
    table = run(args.repeats)
    print(table)
    if args.record:
        record(table, Path(__file__).with_name("RESULTS.md"))


if __name__ == "__main__":
    main()
