"""``preimage invert method=inverter`` against ``method=optimisation`` at SqueezeNet conv1, both
on the same 8 bundled photos at 227², in one run of this script (issue: one config system).

Each command runs ``--runs`` times in a subprocess, as a user runs it; reported per method:
the whole command's wall time per image (start-up, imports, the network, loading, the method,
metrics, PNG/.npy files, the figure), the method alone (``seconds_total`` of metrics.json:
the inverter's forward pass / the optimisation loop) and, for the inverter, the loading of its
checkpoint (``seconds_load``). Target: inference ≥ 100× faster than the optimisation.

    python benchmarks/bench_inverter_command.py [--runs 3] [--steps 400]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTOS = ["chelsea", "astronaut", "coffee", "rocket", "motorcycle", "camera", "china", "flower"]


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run(config: str, extra: list[str], out: Path) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "preimage.train.cli", "invert", "--config", config, "--layer", "conv1",
           "--image", *PHOTOS, "--out", str(out), "--quiet", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    run = Path(proc.stdout.strip().splitlines()[-1])
    return wall, json.loads((run / "metrics.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=400, help="optimisation steps (the CVPR'15 preset: 400)")
    args = ap.parse_args()
    n = len(PHOTOS)
    methods = {"inverter": ("squeezenet-inverter", []),
               "optimisation": ("squeezenet-cvpr15", [f"optimiser.schedule=[[1, {args.steps // 4}], "
                                                      f"[0.1, {args.steps // 2}], [0.01, {args.steps // 4}]]"])}
    rows: dict[str, dict[str, list[float]]] = {m: {"wall": [], "method": [], "load": []} for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            for m, (config, extra) in methods.items():  # interleaved: both see the same machine load
                wall, metrics = _run(config, extra, Path(tmp) / m)
                rows[m]["wall"].append(wall)
                rows[m]["method"].append(float(metrics["seconds_total"]))
                rows[m]["load"].append(float(metrics.get("seconds_load") or 0.0))
    med = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in rows.items()}
    print(f"# {_cpu()}, {__import__('torch').get_num_threads()} threads, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; {n} images 227², conv1, "
          f"median of {args.runs} runs; optimisation {args.steps} steps")
    print("| method | whole command (s / image) | method alone (s / image) | loading (s) | start-up and the rest (s) |")
    print("|---|---|---|---|---|")
    for m, r in med.items():
        rest = r["wall"] - r["method"] - r["load"]
        print(f"| {m} | {r['wall'] / n:.3f} | {r['method'] / n:.4f} | {r['load']:.3f} | {rest:.2f} |")
    ratio = med["optimisation"]["method"] / max(med["inverter"]["method"], 1e-12)
    whole = med["optimisation"]["wall"] / med["inverter"]["wall"]
    print(f"\ninference vs optimisation: {ratio:.0f}× faster (target ≥ 100×); whole command {whole:.1f}× faster")


if __name__ == "__main__":
    main()
