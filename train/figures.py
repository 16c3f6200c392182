"""The inversion figure: original | reconstructions | colour difference | absolute
difference (both renormalised to the full range), one row per image (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from torch import Tensor


def _hwc(img: Tensor) -> np.ndarray:
    return img.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def _renorm(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def inversion_figure(originals: Tensor, recons: Tensor, names: Sequence[str], path: str | Path,
                     titles: Sequence[str] | None = None) -> None:
    """``originals`` (N, 3, H, W), ``recons`` (N, R, 3, H, W), RGB in [0, 1]; differences use restart 0."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    n, r = recons.shape[:2]
    cols = 1 + r + 2
    fig, axes = plt.subplots(n, cols, figsize=(2.2 * cols, 2.3 * n), squeeze=False)
    for i in range(n):
        orig, rec = _hwc(originals[i]), _hwc(recons[i, 0])
        diff = rec - orig
        panels = [orig] + [_hwc(recons[i, k]) for k in range(r)] + [_renorm(diff), _renorm(np.abs(diff).sum(2))]
        labels = [names[i]] + [(titles[i * r + k] if titles else f"restart {k}") for k in range(r)] + \
                 ["colour difference", "|difference|"]
        for ax, p, label in zip(axes[i], panels, labels):
            ax.imshow(p, cmap="gray" if p.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_title(label, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
