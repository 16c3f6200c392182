"""The comparison's figures (matplotlib, imported lazily, Agg backend), from the units'
stored reconstructions (uint8 RGB). ``units[(rep, method, layer)] = (record, arrays)``.

- ``strip-<rep>-<image>.png``: one row per method, original then one column per layer
  (CVPR'15 Fig. 6 / thesis layout);
- ``restarts-<rep>-<layer>.png``: one row per method, every restart of the first image
  (the invariances), with its colour and absolute difference maps (a sampler's restarts are
  its samples, titled so);
- ``samples-<rep>-<layer>.png``: samplers (Langevin) only, per image the samples' mean and
  per-pixel standard deviation;
- ``differences-<rep>-<layer>.png``: per image the reconstruction, the colour difference
  x* − x₀ and the absolute difference Σ_c |x* − x₀|, each renormalised to the full range
  (the thesis' two renormalised measures);
- ``neigh-<rep>.png``: reconstructions from the centre n×n window of neurons with the
  window's receptive field drawn (CVPR'15 Fig. 9);
- ``groups-<rep>.png``: reconstructions from each half of the channels (CVPR'15 Fig. 10);
- ``error-vs-layer.png``: relative error (mean ± std) against depth, one line per method.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from preimage.train.compare.summary import aggregate, mean_std
from preimage.train.jobs.methods import is_sampler

Units = dict[tuple[str, str, str], tuple[dict, dict[str, np.ndarray]]]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _hwc(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 0, -1).astype(np.float32) / 255.0


def _renorm(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _grid(plt, rows: int, cols: int):
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def _show(ax, img: np.ndarray, title: str) -> None:
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_title(title, fontsize=7)


def _save(plt, fig, path: Path) -> str:
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path.name


def centre_window_box(rf, shape_hw: tuple[int, int], neigh: int, size: int) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in input pixels covered by the centre ``neigh``² units of a map of
    ``shape_hw`` (the window of :func:`preimage.inversion.masks.feature_mask`)."""
    h, w = shape_hw
    half = (rf.size - 1) / 2
    box = []
    for n_units in (w, h):
        n = min(neigh, n_units)
        first = math.ceil((n_units - n + 1) / 2) - 1
        lo = rf.offset + first * rf.stride - half
        hi = rf.offset + (first + n - 1) * rf.stride + half
        box.append((max(lo, -0.5), min(hi, size - 0.5)))
    return box[0][0], box[1][0], box[0][1], box[1][1]


def strips(units: Units, rep: str, layers: list[str], methods: list[str], out: Path, max_images: int = 3) -> list[str]:
    plt = _plt()
    names = []
    first = next(v for k, v in units.items() if k[0] == rep)
    images = [r["image"] for r in first[0]["rows"] if r["restart"] == 0][:max_images]
    for i, image in enumerate(images):
        fig, axes = _grid(plt, len(methods), 1 + len(layers))
        for row, method in enumerate(methods):
            _show(axes[row, 0], _hwc(first[1]["original"][i]), f"{image}" if row == 0 else "")
            axes[row, 0].text(-0.08, 0.5, method, transform=axes[row, 0].transAxes, rotation=90,
                              va="center", ha="right", fontsize=8)
            for col, layer in enumerate(layers, 1):
                u = units.get((rep, method, layer))
                if u is not None and "recon" in u[1]:
                    _show(axes[row, col], _hwc(u[1]["recon"][i, 0]), layer)
        names.append(_save(plt, fig, out / f"strip-{rep}-{image}.png"))
    return names


def restarts(units: Units, rep: str, layer: str, methods: list[str], out: Path) -> str | None:
    have = [m for m in methods if (rep, m, layer) in units and "recon" in units[(rep, m, layer)][1]]
    if not have:
        return None
    plt = _plt()
    r = units[(rep, have[0], layer)][1]["recon"].shape[1]
    fig, axes = _grid(plt, len(have), r + 3)
    for row, m in enumerate(have):
        arrays = units[(rep, m, layer)][1]
        orig, recon = _hwc(arrays["original"][0]), arrays["recon"][0]
        _show(axes[row, 0], orig, f"{m}: original")
        what = "sample" if is_sampler(units[(rep, m, layer)][0].get("kind", "")) else "restart"
        for k in range(r):
            _show(axes[row, 1 + k], _hwc(recon[k]), f"{what} {k}")
        diff = _hwc(recon[0]) - orig
        _show(axes[row, r + 1], _renorm(diff), "colour difference")
        _show(axes[row, r + 2], _renorm(np.abs(diff).sum(-1)), "|difference|")
    return _save(plt, fig, out / f"restarts-{rep}-{layer}.png")


def sample_spread(units: Units, rep: str, layer: str, methods: list[str], out: Path,
                  max_images: int = 3) -> str | None:
    """Samplers (Langevin) with two samples or more: per image the samples' mean and their
    per-pixel standard deviation (mean over the colour channels, n − 1), on one scale for the
    whole figure (black 0, white the largest std, given in the titles; RGB in [0, 1])."""
    cells = {m: units[(rep, m, layer)] for m in methods if (rep, m, layer) in units}
    have = [m for m, (record, arrays) in cells.items()
            if "recon" in arrays and is_sampler(record.get("kind", "")) and arrays["recon"].shape[1] > 1]
    if not have:
        return None
    plt = _plt()
    recon = {m: cells[m][1]["recon"][:max_images].astype(np.float64) / 255.0 for m in have}
    std = {m: a.std(axis=1, ddof=1).mean(axis=1) for m, a in recon.items()}       # (N, H, W)
    top = max(float(s.max()) for s in std.values()) or 1.0
    n = min(len(a) for a in recon.values())
    fig, axes = _grid(plt, len(have), 2 * n)
    for row, m in enumerate(have):
        for i in range(n):
            _show(axes[row, 2 * i], np.moveaxis(recon[m][i].mean(axis=0), 0, -1), f"{m}: mean")
            _show(axes[row, 2 * i + 1], std[m][i] / top, f"std 0–{top:.2g}")
    return _save(plt, fig, out / f"samples-{rep}-{layer}.png")


def differences(units: Units, rep: str, layer: str, methods: list[str], out: Path, max_images: int = 3) -> str | None:
    have = [m for m in methods if (rep, m, layer) in units and "recon" in units[(rep, m, layer)][1]]
    if not have:
        return None
    plt = _plt()
    n = min(max_images, units[(rep, have[0], layer)][1]["original"].shape[0])
    fig, axes = _grid(plt, len(have), 3 * n)
    for row, m in enumerate(have):
        arrays = units[(rep, m, layer)][1]
        for i in range(n):
            rec, diff = _hwc(arrays["recon"][i, 0]), _hwc(arrays["recon"][i, 0]) - _hwc(arrays["original"][i])
            _show(axes[row, 3 * i], rec, f"{m}")
            _show(axes[row, 3 * i + 1], _renorm(diff), "colour diff.")
            _show(axes[row, 3 * i + 2], _renorm(np.abs(diff).sum(-1)), "|diff.|")
    return _save(plt, fig, out / f"differences-{rep}-{layer}.png")


def probes(units: Units, rep: str, layers: list[str], kind: str, out: Path,
           box_of: Callable[[dict, str], tuple[float, float, float, float] | None]) -> str | None:
    """``kind`` "neigh" or "group": rows = layers; columns = the full-code reconstruction
    and each probe; ``box_of(record, layer)`` the receptive-field box to draw (or None)."""
    cols = sorted({m for (r, m, _) in units if r == rep and f":{kind}" in m})
    rows = [l for l in layers if any((rep, c, l) in units for c in cols)]
    if not rows:
        return None
    plt = _plt()
    from matplotlib.patches import Rectangle

    base = cols[0].split(":")[0]
    fig, axes = _grid(plt, len(rows), 2 + len(cols))
    for i, layer in enumerate(rows):
        full = units.get((rep, base, layer))
        first = next(units[(rep, c, layer)] for c in cols if (rep, c, layer) in units)
        _show(axes[i, 0], _hwc(first[1]["original"][0]), f"original ({layer})")
        if full is not None and "recon" in full[1]:
            _show(axes[i, 1], _hwc(full[1]["recon"][0, 0]), f"{base}: all neurons")
        for j, c in enumerate(cols, 2):
            u = units.get((rep, c, layer))
            if u is None or "recon" not in u[1]:
                continue
            _show(axes[i, j], _hwc(u[1]["recon"][0, 0]), c.split(":")[1])
            box = box_of(u[0], layer)
            for ax in ((axes[i, 0], axes[i, j]) if box else ()):
                ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False,
                                       edgecolor="red", linewidth=1.2))
    return _save(plt, fig, out / f"{kind}-{rep}.png")


def error_vs_layer(rows: list[dict], reps: dict[str, list[str]], out: Path) -> str | None:
    """``reps``: representation → layers in depth order (those with ≥ 2 layers are drawn)."""
    reps = {r: ls for r, ls in reps.items() if len(ls) > 1}
    if not reps:
        return None
    plt = _plt()
    groups = aggregate(rows)
    fig, axes = plt.subplots(1, len(reps), figsize=(5 * len(reps), 3.6), squeeze=False)
    for ax, (rep, layers) in zip(axes[0], reps.items()):
        methods = list(dict.fromkeys(k[1] for k in groups if k[0] == rep and ":" not in k[1]))
        for m in methods:
            stats = [mean_std(100 * float(r["relative_error"]) for r in groups.get((rep, m, l), [])
                              if r["status"] == "ok") for l in layers]
            ax.errorbar(range(len(layers)), [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o",
                        capsize=3, label=m)
        ax.set_xticks(range(len(layers)), layers, rotation=45, fontsize=8)
        ax.set_ylabel("relative feature error (%)")
        ax.set_title(rep)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(plt, fig, out / "error-vs-layer.png")
