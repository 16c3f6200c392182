"""HOGgle (Vondrick et al. 2013) against optimisation (CVPR'15) on held-out photos, CPU.

CVPR'15 Table 1 error (:func:`inversion.metrics.table1_error`, HOG's 27 orientation
components, computed as in ``benchmarks/bench_quality.py``) on 227×227 crops of the
held-out photos coffee, china and grace_hopper (3 crops each, bench_quality's recipe), next
to the paper's 66.2 % (HOGgle) and 28.1 % (optimisation); seconds per image of each
method; the constant image (HOG 0) as the floor every method must beat.

Usage: python benchmarks/bench_hoggle.py [--model hoggle] [--methods hoggle,optimisation,constant]
       [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import crops, table1  # noqa: E402

from preimage.inversion.metrics import image_psnr, table1_error  # noqa: E402
from preimage.inverters.hoggle import HOGgle, hog_representation  # noqa: E402

from preimage.representations.images import HELD_OUT_PHOTOS as HELD_OUT  # noqa: E402
PAPER = {"hoggle": 66.2, "optimisation": 28.1}


def held_out_crops() -> list:
    """The 9 crops of bench_quality's recipe that come from the held-out photos."""
    return [(n, img) for n, img in crops(27) if n.rsplit("-", 1)[0] in HELD_OUT]


def score(x: torch.Tensor, x0: torch.Tensor, rep) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image Table 1 error (%) on 27 channels and grey PSNR (dB) against the originals."""
    with torch.no_grad():
        e = 100 * table1_error(rep(x)["hog"][:, :27], rep(x0)["hog"][:, :27])
    g = rep.convention.deprocess
    return e, image_psnr(g(x), g(x0))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="hoggle")
    p.add_argument("--methods", default="constant,hoggle,optimisation")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    images = held_out_crops()
    rep = hog_representation("hog", 8)
    x0 = rep.convention.preprocess(torch.stack([img for _, img in images]))
    print(f"CVPR'15 Table 1 error on {len(images)} held-out 227x227 crops ({', '.join(HELD_OUT)}), % mean ± std:")
    for method in args.methods.split(","):
        if method == "constant":
            e, psnr = score(torch.full_like(x0, float(x0.mean())), x0, rep)
            sec = 0.0
        elif method == "hoggle":
            model = HOGgle.load(args.model)
            start, cpu = time.perf_counter(), time.process_time()
            with torch.no_grad():
                recs = [model.reconstruct(x0[i : i + 1]) for i in range(len(images))]  # one image at a time
            sec = (time.perf_counter() - start) / len(images)
            print(f"  (hoggle: {(time.process_time() - cpu) / len(images):.2f} CPU s/image)")
            e, psnr = score(torch.cat(recs), x0, rep)
            m = model.meta
            method = f"hoggle (K={m.atoms}, λ={m.lam})"
        elif method == "optimisation":
            mean, std, seconds = table1("hog-cvpr15", images, [])
            sec = seconds / len(images)
            e, psnr = torch.tensor([mean]), torch.tensor([float("nan")])
            print(f"  {'optimisation (hog-cvpr15)':28s} {mean:6.1f} ± {std:5.1f}   paper {PAPER['optimisation']}"
                  f"   {sec:7.2f} s/image", flush=True)
            continue
        else:
            raise SystemExit(f"unknown method {method}; use constant, hoggle, optimisation")
        paper = next((f"paper {v}" for k, v in PAPER.items() if method.startswith(k)), "")
        print(f"  {method:28s} {float(e.mean()):6.1f} ± {float(e.std()):5.1f}   {paper:10s}   {sec:7.2f} s/image"
              f"   grey PSNR {float(psnr.mean()):5.2f} dB", flush=True)


if __name__ == "__main__":
    main()
