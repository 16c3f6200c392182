"""Where an engine step's time goes beyond Φ: each part of one step of ``preimage invert``
timed on its own, on the job the CLI builds (SqueezeNet conv1 and fire3, 227×227, batch 4,
the ``squeezenet-cvpr15`` preset with its TV² and α⁶ priors, momentum and box).

Parts (each in ms per step, and as a share of Φ):

- Φ: forward + backward seeded with Φ(x) − Φ₀ (the baseline of ``bench_engine.py``);
- feature value: ‖Φ(x) − Φ₀‖² per item (the norm the engine adds to Φ's residual), eager, and
  the residual with its norm in the one-pass kernel (beside the residual alone, which Φ's
  figure includes);
- per-item scale: the deferred 2/σ² applied to the image gradient;
- TV², α⁶: each prior's value and in-place gradient (``accumulate_grad``, eager), and both
  with the per-item scale in the one-pass kernel (:mod:`preimage.inversion.fused`);
- momentum (eager and one-pass kernel), box: the optimiser's update and the clamp;
- step: one whole ``energy_and_grad`` + update + box, as ``invert`` runs it.

Rounds are interleaved (every part once per round) and the median round is reported, so a
drift of the machine's load hits every part alike. ``--clock cpu`` times the process's CPU
time instead of the wall clock: steadier on a shared machine, and equal to the wall time
with one thread. The CPU model, threads, date and load average are printed.

Usage: python benchmarks/bench_engine_parts.py [--layers conv1 fire3] [--rounds 15]
    [--threads 2] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import cpu_model, crops  # noqa: E402

from preimage.inversion import keep_freed_memory  # noqa: E402
from preimage.inversion import fused  # noqa: E402
from preimage.train.config.overrides import apply_overrides, load_preset  # noqa: E402
from preimage.train.jobs.setup import build_job  # noqa: E402


def eager(fn: callable) -> callable:
    """``fn`` run with the compiled one-pass kernels turned off (``PREIMAGE_EAGER=1``)."""
    def run() -> None:
        os.environ["PREIMAGE_EAGER"] = "1"
        try:
            fn()
        finally:
            os.environ["PREIMAGE_EAGER"] = "0"
    return run


def parts(job) -> dict[str, callable]:
    """One closure per part, each doing that part's work once on the job's tensors."""
    obj, x = job.objective, job.init.detach().clone()
    (name, fm), = obj.feature_matches().items()
    feats = job.representation(x)[fm.layer]
    r = feats - fm.phi0
    g = torch.randn_like(x)
    scaled = torch.empty_like(x)  # out of place: repeated in-place scaling would reach denormals
    g_small = g * 1e-12  # a gradient that leaves x where it is
    scale = (2.0 / fm.sigma2).reshape(-1, 1, 1, 1)
    opt, box = job.optimiser, job.box
    opt.reset(x)

    def phi() -> None:
        xg = x.detach().requires_grad_(True)
        out = job.representation(xg)[fm.layer]
        torch.autograd.grad(out, xg, out.detach() - fm.phi0)

    def step() -> None:
        ev = obj.energy_and_grad(x)
        opt.step(x, ev.grad, 0)
        if box is not None:
            box(x)

    out = {"Φ fwd + seeded bwd": phi,
           "feature value ‖Φ−Φ₀‖², eager": lambda: torch.linalg.vector_norm(r.reshape(r.shape[0], -1), dim=1),
           "residual Φ−Φ₀ alone, eager (part of Φ's figure)": lambda: torch.sub(feats, fm.phi0, out=r),
           "residual Φ−Φ₀ + ‖Φ−Φ₀‖², as the engine does (kernel on 1 thread)": lambda: fm.feature_value_and_seed(feats),
           "per-item scale, eager": lambda: torch.mul(g, scale, out=scaled)}
    for n, t in obj.terms.items():
        if t.has_closed_form:
            out[f"{n} (value + gradient), eager"] = eager(lambda t=t, w=obj.weights[n]: t.accumulate_grad(x, g, w * 1e-12))
    ones = torch.ones_like(scale)  # the same work as 2/σ², without driving g towards denormals
    out["TV² + α⁶ + per-item scale, one-pass kernel"] = lambda: fused.tv2_alpha6(x, g, 1e-12, 1e-12, ones)
    out["momentum update, eager"] = eager(lambda: opt.step(x, g_small, 0))
    out["momentum update, one-pass kernel"] = lambda: opt.step(x, g_small, 0)
    if box is not None:
        out["box"] = lambda: box(x)
    out["whole step"] = step
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", nargs="+", default=["conv1", "fire3"])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--reps", type=int, default=5, help="calls of a part per round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    kept = keep_freed_memory()  # as the CLI does (PREIMAGE_KEEP_MEMORY=0 to measure without)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, threads {torch.get_num_threads()}, {args.clock} clock, "
          f"freed memory kept {kept}; "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("command: python", " ".join(sys.argv))
    for layer in args.layers:
        cfg = apply_overrides(load_preset("squeezenet-cvpr15"), [f"layer={layer}", "repeats=1"])
        job = build_job(cfg, crops(4))
        fns = parts(job)
        times: dict[str, list[float]] = {k: [] for k in fns}
        with torch.no_grad():
            for f in fns.values():  # warm-up (allocator, caches)
                with torch.enable_grad():
                    f()
        for _ in range(args.rounds):
            for k, f in fns.items():
                start = clock()
                for _ in range(args.reps):
                    f()
                times[k].append((clock() - start) / args.reps)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        base = med["Φ fwd + seeded bwd"]
        print(f"\nSqueezeNet {layer}, batch 4, 227×227 (median of {args.rounds} rounds × {args.reps} calls)")
        print("| part | ms / step | share of Φ |\n|---|---|---|")
        for k, v in med.items():
            print(f"| {k} | {v:.2f} | {100 * v / base:.1f} % |")
        # beyond Φ: the kernel's residual replaces Φ's own Φ − Φ₀, so only its excess counts
        extra_kernel = (med["residual Φ−Φ₀ + ‖Φ−Φ₀‖², as the engine does (kernel on 1 thread)"]
                        - med["residual Φ−Φ₀ alone, eager (part of Φ's figure)"]
                        + sum(v for k, v in med.items() if k.endswith("one-pass kernel") and "residual" not in k)
                        + med.get("box", 0.0))
        extra_eager = sum(v for k, v in med.items() if k.endswith("eager")) + med.get("box", 0.0)
        for path, extra in [("one-pass kernels", extra_kernel), ("eager", extra_eager)]:
            print(f"| parts beyond Φ, summed ({path}) | {extra:.2f} | {100 * extra / base:.1f} % |")
    print(f"\nload average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
