"""Added cost of a learned prior to one inversion step (objective value + gradient + optimiser
step) at conv-layer resolution, against the same step without it, in one run; the code of this
checkout ("new") against another git revision ("old", default ``main``) in the same run.

Setting: the ``squeezenet-cvpr15`` preset (TV + α handcrafted priors, momentum), one 227×227
image (coffee), batch 1, inverting each of ``--layers`` (``net:layer``; SqueezeNet 1.1 with its
shipped weights, AlexNet and VGG16 with seeded random weights: the cost of a step does not depend
on the weights). Each variant adds one shipped learned prior with the default ``weight: auto``
(share 0.1; the preset's box applied after each step, as the engine does): the image priors
foe-rgb / ica-rgb / gmm-rgb (``--image-priors``), the SqueezeNet feature-map priors
(``--feature-priors``), and ``--extra`` priors: untrained image FoEs of other sizes (``foe:N:P``,
N experts on P×P×3 patches) to show what a smaller architecture would cost, prior files (a path
to a ``.pt``), and gmm-rgb with ``patch_stride`` 2 (``gmm-rgb/2``, an approximation; new code only).
For each layer in turn two worker processes (new code, old code) hold that layer's jobs; the
parent interleaves them round by round and thread count by thread count, so load drift hits
both alike, and reports the median per-step time over rounds and its ratio to the same
worker's baseline.

    python benchmarks/bench_learned_prior_cost.py [--threads 1 2] [--rounds 3] [--steps 2] [--old main]
        [--layers squeezenet:conv1 …] [--image-priors foe-rgb …] [--feature-priors …] [--extra …]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE_PRIORS = ["foe-rgb", "ica-rgb", "gmm-rgb"]
FEATURE_PRIORS = {"foe-squeezenet-conv1": "conv1", "foe-squeezenet-fire3": "fire3"}
LAYERS = ["squeezenet:conv1", "squeezenet:fire3", "squeezenet:fire5", "alexnet:conv3", "alexnet:conv5",
          "vgg16:conv3_1", "vgg16:conv4_1"]


def _extra_prior(spec: str, tmp: Path) -> str:
    """An untrained image FoE ``foe:N:P`` (N experts, P×P×3) saved to a file."""
    import torch

    from preimage.priors import FieldOfExperts, save_prior

    _, n, p = spec.split(":")
    energy = FieldOfExperts(3, int(p), int(n))
    energy.whitening.fitted.fill_(True)
    with torch.no_grad():
        energy.whitening.matrix.copy_(torch.eye(energy.dim)[None])
    return str(save_prior(energy, tmp / f"foe-{n}-{p}.pt", {"layer": None, "representation": None}))


def _strided(name: str) -> bool:
    """``NAME/S``: a shipped prior with ``patch_stride`` S (not a path to a file)."""
    return re.fullmatch(r"[\w.-]+/\d+", name) is not None


def build_jobs(layers: list[str], extra: list[str], size: int, image_priors: list[str] = IMAGE_PRIORS,
               feature_priors: list[str] = list(FEATURE_PRIORS)) -> dict[tuple[str, str], object]:
    """(layer, variant) → InversionJob, for every layer and the variants that apply to it."""
    from preimage.representations import load_image
    from preimage.representations.errors import PreimageError
    from preimage.train.config.overrides import apply_overrides, load_preset
    from preimage.train.jobs.setup import build_job

    tmp = Path(tempfile.mkdtemp())
    img = [("coffee", load_image("coffee"))]
    jobs = {}
    for spec in layers:
        net, layer = spec.split(":")
        weights = [] if net == "squeezenet" else ["weights=random"]
        base = apply_overrides(load_preset("squeezenet-cvpr15"),
                               [f"representation={net}", *weights, f"layer={layer}", "repeats=1", f"image_size={size}"])
        priors = {name: name for name in image_priors}
        if net == "squeezenet":
            priors.update({name: name for name in feature_priors})
        priors.update({x: _extra_prior(x, tmp) if x.startswith("foe:") else x.split("/")[0] if _strided(x) else x
                       for x in extra})
        jobs[(spec, "baseline")] = build_job(base, img)
        for name, path in priors.items():
            over = ["priors.learned.type=learned", f"priors.learned.prior={path}"]
            if _strided(name):                            # gmm-rgb/2: patch_stride 2 (this checkout only)
                try:
                    jobs[(spec, f"+{name}")] = build_job(apply_overrides(base, [*over, f"priors.learned.patch_stride={name.split('/')[1]}"]), img)
                except Exception:                         # the old code has no patch_stride
                    pass
                continue
            try:                                          # the default weight: auto (share 0.1)
                jobs[(spec, f"+{name}")] = build_job(apply_overrides(base, over), img)
            except PreimageError:                         # an untrained prior may not rate noise higher
                jobs[(spec, f"+{name}")] = build_job(apply_overrides(base, [*over, "priors.learned.weight=1e-3"]), img)
    return jobs


def worker(args: argparse.Namespace) -> None:
    """Hold the jobs; for each ``threads`` line on stdin time every job and print JSON."""
    import torch

    try:  # as the CLI runs an inversion (code from before it existed has no such call)
        from preimage.inversion import keep_freed_memory
        keep_freed_memory()
    except ImportError:
        pass
    jobs = build_jobs(args.layers, args.extra, args.image_size, args.image_priors, args.feature_priors)
    print(json.dumps({"ready": [list(k) for k in jobs]}), flush=True)
    for line in sys.stdin:
        torch.set_num_threads(int(line))
        out = []
        for (layer, variant), job in jobs.items():
            x = job.init.clone()
            job.optimiser.reset(x)
            for t in range(args.steps + 1):                        # as the engine: step, then the box
                if t == 1:                                          # the first step is a warm-up
                    t0 = time.perf_counter()
                ev = job.objective.energy_and_grad(x)
                job.optimiser.step(x, ev.grad, t, None)
                if job.box is not None:
                    job.box(x)
                del ev                                              # as the engine: freed before the next step
            out.append([layer, variant, (time.perf_counter() - t0) / args.steps])
        print(json.dumps(out), flush=True)


def _old_checkout(ref: str) -> Path:
    """``git archive`` of ``ref`` as an importable ``preimage`` package in a temporary folder."""
    tmp = Path(tempfile.mkdtemp(prefix="preimage-old-"))
    (tmp / "preimage").mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp / "preimage")], input=archive, check=True)
    return tmp


def _spawn(pythonpath: str, argv: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=pythonpath, OMP_NUM_THREADS=str(max(argv_threads(argv))))
    return subprocess.Popen([sys.executable, __file__, "--worker", *argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))


def argv_threads(argv: list[str]) -> list[int]:
    i = argv.index("--threads")
    return [int(a) for a in argv[i + 1:] if a.isdigit()][:8] or [1]


def _machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    import torch

    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--image-size", type=int, default=227)
    ap.add_argument("--layers", nargs="+", default=LAYERS, help="net:layer, net one of squeezenet, alexnet, vgg16")
    ap.add_argument("--extra", nargs="*", default=["foe:24:3", "foe:32:5", "gmm-rgb/2"],
                    help="untrained image FoEs foe:N:P; NAME/S: a shipped GMM with patch_stride S; a prior file")
    ap.add_argument("--image-priors", nargs="*", default=IMAGE_PRIORS, help="shipped image priors timed")
    ap.add_argument("--feature-priors", nargs="*", default=list(FEATURE_PRIORS),
                    help="shipped feature-map priors timed (SqueezeNet layers only)")
    ap.add_argument("--old", default="main", help="git revision timed as the old code ('' for none)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    here = os.environ.get("PYTHONPATH", "")
    old_path = str(_old_checkout(args.old)) if args.old else None
    start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = [os.getloadavg()[0]]
    times: dict[tuple[str, int, str, str], list[float]] = {}
    for layer in args.layers:                 # one pair of workers per layer: all jobs at once exceed 20 GB
        argv = ["--steps", str(args.steps), "--image-size", str(args.image_size), "--layers", layer,
                "--extra", *args.extra, "--image-priors", *args.image_priors,
                "--feature-priors", *args.feature_priors, "--threads", *map(str, args.threads)]
        workers = {"new": _spawn(here, argv)}
        if old_path:
            workers["old"] = _spawn(old_path, argv)
        for w in workers.values():
            json.loads(w.stdout.readline())
        for r in range(args.rounds):
            for th in args.threads:
                order = list(workers.items()) if r % 2 == 0 else list(workers.items())[::-1]
                for code, w in order:
                    w.stdin.write(f"{th}\n")
                    w.stdin.flush()
                    for lay, variant, sec in json.loads(w.stdout.readline()):
                        times.setdefault((code, th, lay, variant), []).append(sec)
                    load.append(os.getloadavg()[0])
            print(f"# {layer}: round {r + 1}/{args.rounds} done, load average {os.getloadavg()[0]:.1f}",
                  file=sys.stderr, flush=True)
        for w in workers.values():
            w.stdin.close()
            w.wait()
    if old_path:
        shutil.rmtree(old_path, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"# {_machine()}; {start} to {time.strftime('%H:%M UTC', time.gmtime())}; "
          f"1-min load average {min(load):.1f}–{max(load):.1f}")
    print(f"# squeezenet-cvpr15 preset, {args.image_size}², batch 1, median of {args.rounds} interleaved rounds × "
          f"{args.steps} steps; new = this checkout, old = {args.old or '-'}; ratio = step with prior / step without")
    for th in args.threads:
        print(f"\n{th} thread(s)\n\n| layer | variant | new ms/step | new ratio | old ms/step | old ratio |\n|---|---|---|---|---|---|")
        for (code, t, layer, variant), m in med.items():
            if code != "new" or t != th:
                continue
            row = f"| {layer} | {variant} | {1000 * m:.1f} | {m / med[('new', th, layer, 'baseline')]:.2f} |"
            if ("old", th, layer, variant) in med:
                o = med[("old", th, layer, variant)]
                row += f" {1000 * o:.1f} | {o / med[('old', th, layer, 'baseline')]:.2f} |"
            else:
                row += " – | – |"
            print(row)


if __name__ == "__main__":
    main()
