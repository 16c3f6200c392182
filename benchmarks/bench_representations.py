"""Forward + input-gradient time per image, to pool5, for SqueezeNet and AlexNet at
batch 1 and 8, with frozen parameters (as every Representation is) and with
trainable ones (what a naive inversion pays for weight gradients).

    python benchmarks/bench_representations.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from preimage.representations import build_representation


def time_step(phi, tap: str, batch: int, size: int, repeats: int) -> float:
    x = torch.randn(batch, 3, size, size, requires_grad=True)
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        phi(x)[tap].square().sum().backward()
        x.grad = None
        for p in phi.parameters():
            p.grad = None
        if i:  # the first call warms up
            times.append(time.perf_counter() - t)
    return min(times) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}")
    print("| network | layer | batch | frozen ms/image | trainable ms/image | ratio |")
    print("|---|---|---|---|---|---|")
    for model, weights in [("squeezenet", None), ("alexnet", "random")]:
        phi = build_representation(model, taps="pool5", weights=weights)
        for batch in (1, 8):
            frozen = time_step(phi, "pool5", batch, phi.input_size, args.repeats)
            for p in phi.parameters():
                p.requires_grad_(True)
            trainable = time_step(phi, "pool5", batch, phi.input_size, args.repeats)
            phi.freeze()
            print(f"| {model} ({phi.input_size}²) | pool5 | {batch} | {1e3 * frozen:.1f} | "
                  f"{1e3 * trainable:.1f} | {trainable / frozen:.1f}× |")


if __name__ == "__main__":
    main()
