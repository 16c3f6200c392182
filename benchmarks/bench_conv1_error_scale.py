"""At which spatial scale does a CVPR'15 inversion of SqueezeNet conv1 go wrong? (issue 15)

conv1 is linear (taps before the ReLU), 5× over-complete and invertible, so its reconstruction
error after a fixed step budget is the optimiser's, not an ambiguity a prior could resolve. This
runs the default comparison's 100-step CVPR'15 schedule (1 restart) on each image and prints the
PSNR and the share of the error's energy that survives a Gaussian blur of σ = 1, 2, 4 and 8
pixels (the low-frequency share), and the share of the per-channel mean (DC).

    python benchmarks/bench_conv1_error_scale.py --threads 1 coffee china grace_hopper astronaut chelsea rocket
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

SCHEDULE = "optimiser.schedule=[[1, 50], [0.1, 40], [0.01, 10]]"


def blur(x: torch.Tensor, s: float) -> torch.Tensor:
    """(C, H, W) → the same, Gaussian-blurred with std ``s`` pixels (reflect padding)."""
    r = int(3 * s)
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    g = torch.exp(-t ** 2 / (2 * s * s))
    g = g / g.sum()
    y = F.conv2d(F.pad(x[:, None], (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))
    return F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), g.view(1, 1, -1, 1))[:, 0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from preimage.train.api import run_invert

    print("| image | PSNR (dB) | blur 1 px | 2 px | 4 px | 8 px | DC |")
    print("|---|---|---|---|---|---|---|")
    for name in args.images:
        run = run_invert("squeezenet-cvpr15", [name], ["repeats=1", SCHEDULE], layer="conv1")
        e = run.reconstructions[0, 0] - run.originals[0]
        total = e.pow(2).mean()
        shares = [(blur(e, s).pow(2).mean() / total).item() for s in (1, 2, 4, 8)]
        dc = (e.mean((1, 2)).pow(2).mean() / total).item()
        print(f"| {name} | {-10 * torch.log10(total).item():.2f} | " + " | ".join(f"{v:.2f}" for v in shares)
              + f" | {dc:.2f} |", flush=True)


if __name__ == "__main__":
    main()
