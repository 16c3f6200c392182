"""Learning HOGgle's paired dictionaries (Vondrick et al., ICCV 2013, Sec. 3.4).

Training pairs: every grey patch of ``(w + 2)·cell`` pixels lying inside a photo (stride
one cell) with the w×w HOG window it surrounds, taken from the photos at a few scales and
mirrored (ihog ``learnpairdict.m`` takes every window of its training photos). HOG is
computed on the whole photo, so windows carry the photo's real block normalisation.

Learning (Sec. 3.4): the paired problem ``min Σᵢ ‖xᵢ − Uαᵢ‖² + ‖φ(xᵢ) − Vαᵢ‖² + λ‖αᵢ‖₁``
is one dictionary-learning problem on the stacked vectors ``[xᵢ; φ(xᵢ)]`` with the stacked
dictionary ``[U; V]``. Each half is centred and scaled to unit norm first, and codes are
non-negative (both as in ihog). Solved by scikit-learn's ``MiniBatchDictionaryLearning``
(atoms of unit norm, objective ``½‖X − AD‖² + λ‖A‖₁``: SPAMS ``mexTrainDL`` mode 2, ihog's solver).
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from preimage.inverters.hoggle import HOGgle, HOGgleMeta, hog_representation, hog_windows, normalise
from preimage.representations.errors import PreimageError

HELD_OUT = ("coffee", "china", "grace_hopper")  # evaluation photos: never trained on
from preimage.representations.images import TRAIN_PHOTOS  # noqa: E402  (re-exported)
SCALES = (1.0, 0.75, 0.5)  # photo scales the windows are taken at


def paired_windows(x: Tensor, rep: Callable[[Tensor], dict], cell: int, window: int) -> tuple[Tensor, Tensor]:
    """Grey images (B, 1, H, W) → (grey patches (N, p²), HOG windows (N, C·w²)), p = (w+2)·cell.

    Patch k (top-left pixel ``cell·k``) surrounds the HOG window whose first cell is k + 1:
    the window covers pixels ``cell·(k+1) … cell·(k+1+w)``, the patch one more cell each side.
    """
    p = (window + 2) * cell
    phi = rep(x)["hog"]                                          # (B, C, H', W')
    hc, wc = phi.shape[-2:]
    n_y, n_x = min((x.shape[-2] - p) // cell + 1, hc - window), min((x.shape[-1] - p) // cell + 1, wc - window)
    if n_y < 1 or n_x < 1:
        raise PreimageError(f"training images must be at least {p + cell}x{p + cell} pixels; "
                            f"got {x.shape[-1]}x{x.shape[-2]}")
    grey = F.unfold(x[..., : (n_y - 1) * cell + p, : (n_x - 1) * cell + p], p, stride=cell)  # (B, p², n_y·n_x)
    wins = hog_windows(phi[..., 1 : 1 + n_y + window - 1, 1 : 1 + n_x + window - 1], window)  # (B, n_y·n_x, C·w²)
    return grey.transpose(1, 2).reshape(-1, p * p), wins.reshape(-1, wins.shape[-1])


def training_pairs(images: Sequence[tuple[str, Tensor]], cell: int = 8, window: int = 5,
                   scales: Sequence[float] = SCALES, flip: bool = True,
                   representation: str = "hog", keep: float = 1.0,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Photos [(name, RGB (3, H, W) in [0, 1])] → their (grey patch, HOG window) pairs, each
    kept with probability ``keep`` (seeded by ``generator``; bounds memory for large sets)."""
    held = [n for n, _ in images if n in HELD_OUT]
    if held:
        raise PreimageError(f"{', '.join(held)} are held out for evaluation; train on other photos")
    rep = hog_representation(representation, cell)
    p = (window + 2) * cell
    grey_out, hog_out = [], []
    for _, rgb in images:
        for s in scales:
            h, w = round(rgb.shape[-2] * s), round(rgb.shape[-1] * s)
            if min(h, w) < p + cell:
                continue
            img = rgb[None] if s == 1 else F.interpolate(rgb[None], size=(h, w), mode="bilinear",
                                                         antialias=True, align_corners=False)
            x = rep.convention.preprocess(img.clamp(0, 1))
            batch = torch.cat([x, x.flip(-1)]) if flip else x
            with torch.no_grad():
                g, y = paired_windows(batch, rep, cell, window)
            if keep < 1.0:
                sel = torch.rand(g.shape[0], generator=generator) < keep
                g, y = g[sel], y[sel]
            grey_out.append(g)
            hog_out.append(y)
    if not grey_out:
        raise PreimageError(f"no training image is at least {p + cell}x{p + cell} pixels; give larger photos")
    return torch.cat(grey_out), torch.cat(hog_out)


def stacked(grey: Tensor, hog: Tensor) -> np.ndarray:
    """[normalise(x); normalise(φ(x))] per row (ihog learnpairdict.m), float64 for scikit-learn."""
    return torch.cat([normalise(grey.double()), normalise(hog.double())], 1).numpy()


def fit_hoggle(images: Sequence[tuple[str, Tensor]], atoms: int = 1024, lam: float = 0.02,
               windows: int = 20000, epochs: int = 2, batch_size: int = 256, seed: int = 0,
               cell: int = 8, window: int = 5, command: str = "", verbose: bool = False) -> HOGgle:
    """Learn a HOGgle model from photos: ``windows`` random pairs (seeded), ``epochs`` passes
    of mini-batch dictionary learning over them (HOGgles Sec. 3.4)."""
    from sklearn.decomposition import MiniBatchDictionaryLearning

    if min(atoms, windows, epochs, batch_size, cell, window) < 1 or not lam > 0:
        raise PreimageError("atoms, windows, epochs, batch size, cell size and window must be positive integers "
                            f"and lam > 0; got {atoms}, {windows}, {epochs}, {batch_size}, {cell}, {window}, {lam}")
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    p = (window + 2) * cell
    total = sum(max(0, (round(s * h) - p) // cell + 1) * max(0, (round(s * w) - p) // cell + 1) * 2
                for _, img in images for h, w in [img.shape[-2:]] for s in SCALES)   # an upper bound
    grey, hog = training_pairs(images, cell, window, SCALES, keep=min(1.0, 1.5 * windows / max(total, 1)),
                               generator=gen)
    flat = hog.pow(2).sum(1) > 0                                   # flat windows carry no HOG to invert
    grey, hog = grey[flat], hog[flat]
    idx = torch.randperm(grey.shape[0], generator=gen)[:windows]
    if idx.numel() < atoms:
        raise PreimageError(f"{idx.numel()} training windows for {atoms} atoms; give more photos or fewer --atoms")
    data = stacked(grey[idx], hog[idx])
    init = data[:atoms] / np.linalg.norm(data[:atoms], axis=1, keepdims=True)  # random windows (ihog's "fast" dictionary)
    dl = MiniBatchDictionaryLearning(n_components=atoms, alpha=lam, max_iter=epochs, fit_algorithm="cd",
                                     batch_size=batch_size, positive_code=True, random_state=seed, dict_init=init,
                                     transform_algorithm="lasso_cd", verbose=verbose)
    dl.fit(data)
    d = torch.from_numpy(dl.components_)                           # (K, p² + C·w²), unit-norm atoms
    n_grey = grey.shape[1]
    meta = HOGgleMeta(atoms=atoms, lam=lam, cell_size=cell, window=window, channels=hog.shape[1] // window**2,
                      command=command,
                      extra={"seed": seed, "windows": int(idx.numel()), "epochs": epochs, "batch_size": batch_size,
                             "images": [n for n, _ in images], "seconds": round(time.perf_counter() - start, 1),
                             "n_iter": int(dl.n_iter_), "n_steps": int(dl.n_steps_)})
    return HOGgle(d[:, :n_grey].float(), d[:, n_grey:].float(), meta)
