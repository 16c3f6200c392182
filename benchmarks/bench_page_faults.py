"""Minor page faults and time per step, with and without keeping freed memory in the process.

For SqueezeNet conv1 (227², batch 4, ``squeezenet-cvpr15``), in a fresh process per setting
(glibc's malloc state is per process): Φ's forward + seeded backward alone, and the engine
step as ``invert`` runs it; ``PREIMAGE_KEEP_MEMORY=1`` (what the CLI does,
:func:`preimage.inversion.keep_freed_memory`) against ``0`` (glibc's own heuristic).

Usage: python benchmarks/bench_page_faults.py [--threads 1] [--repeats 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import resource, statistics, sys, torch
sys.path.insert(0, {bench!r})
from bench_engine import crops, engine, phi_alone
from preimage.inversion import keep_freed_memory
from preimage.train.config.overrides import apply_overrides, load_preset
from preimage.train.jobs.setup import build_job
kept = keep_freed_memory()
torch.set_num_threads({threads})
job = build_job(apply_overrides(load_preset("squeezenet-cvpr15"), ["layer=conv1", "repeats=1"]), crops(4))
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
res = {{"phi": [], "engine": []}}
for name, f in [("phi", lambda: phi_alone(job, 20)), ("engine", lambda: engine(job, 20))] * {repeats}:
    a = faults(); t = f(); res[name].append((t, (faults() - a) / 22))
for name, v in res.items():
    print(f"{{name}} kept={{kept}}: {{statistics.median(t for t, _ in v) * 1e3:.1f}} ms/step, "
          f"{{statistics.median(n for _, n in v):.0f}} minor faults/step")
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=4)
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_engine import cpu_model

    print(f"CPU: {cpu_model()}; threads {args.threads}; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("command: python", " ".join(sys.argv))
    code = PROBE.format(bench=str(Path(__file__).resolve().parent), threads=args.threads, repeats=args.repeats)
    for keep in ("0", "1"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PREIMAGE_KEEP_MEMORY": keep})
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
