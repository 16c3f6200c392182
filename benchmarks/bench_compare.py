"""Wall time of ``preimage compare`` (issue 10).

Runs a comparison preset (default: ``default``, the README's main job) as the command line
does, in a fresh process, and reports its wall time next to the time spent inside the
invert jobs (the units' own seconds) and the machine's load, so the overhead of planning,
metrics, figures and merging can be read off; optionally the same comparison on 2 CPU
processes through Lightning Fabric.

Usage: python benchmarks/bench_compare.py [--config default] [--devices 1 2] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(config: str, devices: int, overrides: list[str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    cmd = [sys.executable, "-m", "preimage.train.cli", "compare", "--config", config, "--out", str(out), "--quiet",
           "--devices", str(devices), "--accelerator", "cpu", *overrides]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    summary = Path(p.stdout.strip().splitlines()[-1])
    records = [json.loads(f.read_text()) for f in (summary.parent / "cells").glob("*.json")]
    return {"devices": devices, "wall_s": wall, "units": len(records),
            "jobs_s": sum(r["seconds"] for r in records), "load_before": load, "load_after": os.getloadavg()[0],
            "summary": str(summary)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="default")
    p.add_argument("--devices", type=int, nargs="+", default=[1])
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    for d in args.devices:
        r = run_once(args.config, d, args.overrides)
        print(f"{args.config}, {d} process(es): wall {r['wall_s']:.1f} s for {r['units']} units "
              f"(invert jobs {r['jobs_s']:.1f} s of compute); load {r['load_before']:.1f} → {r['load_after']:.1f}; "
              f"{r['summary']}", flush=True)


if __name__ == "__main__":
    main()
