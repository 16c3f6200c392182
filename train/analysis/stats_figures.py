"""Figures of ``preimage stats`` (matplotlib, imported lazily, Agg): per layer the average
covariance of the flattened maps and its inverse (thesis Fig. 1), the Gram matrix and the
activation histogram (log counts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from preimage.train.analysis.stats import LayerStats


def _sym_limits(m: np.ndarray) -> float:
    return float(np.abs(m).max()) or 1.0


def layer_figure(s: LayerStats, phi: Tensor, path: Path, bins: int = 100) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    cov, prec, g = s.covariance.cpu().numpy(), s.precision.cpu().numpy(), s.gram.cpu().numpy()
    for ax, m, title in ((axes[0], cov, f"covariance ({s.window}×{s.window} window)\n"
                                       f"Toeplitz distance {s.toeplitz_distance_covariance:.3f} "
                                       f"(floor ≈ {s.sampling_floor:.3f})"),
                         (axes[1], prec, f"inverse covariance\nToeplitz distance {s.toeplitz_distance_inverse:.3f} "
                                         f"(stationary: {s.toeplitz_bound_inverse:.3f})"),
                         (axes[2], g, f"Gram matrix ({s.shape[0]} channels)")):
        lim = _sym_limits(m)
        im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    values = phi.detach().double().flatten().cpu().numpy()
    axes[3].hist(values, bins=bins, log=True, color="0.3")
    axes[3].set_title(f"activations: {100 * s.fraction_zero:.1f} % zeros, excess kurtosis {s.kurtosis:.2f}",
                      fontsize=9)
    fig.suptitle(f"layer {s.layer}  (C×H×W = {'×'.join(map(str, s.shape))})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
