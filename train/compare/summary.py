"""``summary.md``: the comparison in the papers' layouts, as mean ± std over images ×
restarts (std with n − 1; rows whose job diverged are left out and noted).

- Table 1 (CVPR'15, shallow representations): one column per descriptor × method, the
  Table 1 error in %, with the paper's published values as a reference row where the
  setting matches (the ``<descriptor>-cvpr15`` preset optimised as in the paper, or HOGgle).
- Table 2 (CVPR'15, CNNs): one row per layer, one column per method, relative error in %;
  the same layout for PSNR and SSIM, and for the probes (centre window, channel groups).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Iterable

import numpy as np

from preimage.representations.shallow import FACTORIES as _SHALLOW_FACTORIES

SHALLOW = tuple(_SHALLOW_FACTORIES)  # the handcrafted representations (CVPR'15 Table 1)
# Mahendran & Vedaldi, CVPR 2015, Table 1 (error in %, mean ± std): (descriptor, method kind).
CVPR15_TABLE1 = {("hog", "optimisation"): (28.10, 7.87), ("hogb", "optimisation"): (10.67, 5.25),
                 ("dsift", "optimisation"): (10.89, 7.5), ("hog", "hoggle"): (66.20, 13.7)}
# (column, scale, decimals, title)
TABLE1_ROWS = (("table1_error", 100.0, 2, "error (%)"), ("relative_error", 100.0, 2, "relative error (%)"),
               ("psnr", 1.0, 2, "PSNR (dB)"), ("ssim", 1.0, 3, "SSIM"), ("seconds", 1.0, 2, "seconds per image"))
TABLE2 = (("relative_error", 100.0, 2, "Table 2: relative feature error (%)"), ("psnr", 1.0, 2, "PSNR (dB)"),
          ("ssim", 1.0, 3, "SSIM"), ("table1_error", 100.0, 2, "CVPR'15 normalised error (%)"),
          ("seconds", 1.0, 2, "seconds per image"))


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean and std (n − 1; 0 for one value) of the finite values."""
    a = np.array([v for v in values if math.isfinite(v)], dtype=np.float64)
    if a.size == 0:
        return float("nan"), float("nan"), 0
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0, int(a.size)


def aggregate(rows: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """(representation, method, layer) → its rows, in first-seen order."""
    out: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for row in rows:
        out[(row["representation"], row["method"], row["layer"])].append(row)
    return out


def cell(rows: list[dict], column: str, scale: float, decimals: int) -> str:
    m, s, n = mean_std(float(r[column]) * scale for r in rows if r["status"] == "ok")
    return "–" if n == 0 else f"{m:.{decimals}f} ± {s:.{decimals}f}"


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def table1(groups: dict, kinds: dict[tuple[str, str], str]) -> list[str]:
    keys = [k for k in groups if k[0] in SHALLOW and ":" not in k[1]]
    if not keys:
        return []
    header = [""] + [k[0].upper() if k[0] != "cnn-hog" else "CNN-HOG" for k in keys]
    body = [["method"] + [k[1] for k in keys]]
    body += [[title] + [cell(groups[k], col, sc, d) for k in keys] for col, sc, d, title in TABLE1_ROWS]
    ref = [CVPR15_TABLE1.get((k[0], kinds.get((k[0], k[1]), ""))) for k in keys]
    if any(ref):
        body.append(["paper (%, CVPR'15 Table 1: 227², 800 steps)"]
                    + [f"{r[0]:.2f} ± {r[1]:.2f}" if r else "" for r in ref])
    return ["## Table 1: shallow representations (CVPR'15 layout)", ""] + _table(header, body) + [""]


def layer_table(groups: dict, rep: str, layers: list[str], methods: list[str], column: str, scale: float,
                decimals: int, title: str) -> list[str]:
    header = ["layer"] + methods
    body = [[layer] + [cell(groups[(rep, m, layer)], column, scale, decimals) if (rep, m, layer) in groups else "–"
                       for m in methods] for layer in layers]
    return [f"### {rep}: {title}", ""] + _table(header, body) + [""]


def render(rows: list[dict], header_lines: list[str], notes: list[str], kinds: dict[tuple[str, str], str],
           layer_order: Callable[[str], list[str]], figures: list[str]) -> str:
    """The whole summary.md. ``kinds[(rep, method)]``: "optimisation", "hoggle", …;
    ``layer_order(rep)``: the representation's layers in depth order."""
    groups = aggregate(rows)
    lines = [*header_lines, ""]
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    lines += table1(groups, kinds)
    reps = list(dict.fromkeys(k[0] for k in groups if k[0] not in SHALLOW))
    for rep in reps:
        layers = layer_order(rep)
        methods = list(dict.fromkeys(k[1] for k in groups if k[0] == rep and ":" not in k[1]))
        probes = list(dict.fromkeys(k[1] for k in groups if k[0] == rep and ":" in k[1]))
        lines += [f"## {rep}: error per layer (CVPR'15 Table 2 layout, one column per method)", ""]
        for col, sc, d, title in TABLE2:
            lines += layer_table(groups, rep, layers, methods, col, sc, d, title)
        if probes:
            lines += layer_table(groups, rep, [l for l in layers if any((rep, p, l) in groups for p in probes)],
                                 probes, "relative_error", 100.0, 2,
                                 "Probes (CVPR'15 Sec. 4.2): relative error (%) on the matched neurons")
    if figures:
        lines += ["## Figures", ""] + [f"- [{f}]({f})" for f in figures] + [""]
    return "\n".join(lines)


def parse_tables(text: str) -> dict[str, list[list[str]]]:
    """summary.md → {heading: rows of cells} (for checks and tools)."""
    out: dict[str, list[list[str]]] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and not line.startswith("|---"):
            out.setdefault(heading, []).append([c.strip() for c in line.strip().strip("|").split("|")])
    return out
