"""The inversion figure: original | reconstructions | colour difference | absolute
difference (both renormalised to the full range), one row per image, each panel titled; for
a sampling method (Langevin) the samples side by side with their mean, and the per-pixel
standard deviation across the samples of each image.

Drawn as one canvas with Pillow (panels at their own resolution, titles in matplotlib's
DejaVu Sans when matplotlib is installed): a figure of 16 rows takes a fraction of a
second, where laying out 64 matplotlib axes took seconds.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from torch import Tensor

GAP = 8          # pixels between panels and around the canvas
TITLE = 16       # pixels of title band above each panel
FONT_SIZE = 11


def _hwc(images: Tensor) -> np.ndarray:
    """(…, 3, H, W) tensor → (…, H, W, 3) float32 array clamped to [0, 1] (one conversion)."""
    a = np.moveaxis(images.detach().cpu().float().numpy(), -3, -1)
    return np.clip(a, 0.0, 1.0)


def _renorm(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


@lru_cache(maxsize=None)
def _font(size: int):
    """matplotlib's DejaVu Sans (found without importing matplotlib), else Pillow's default."""
    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    try:
        return ImageFont.load_default(size)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _fit(label: str, draw, font, width: int) -> str:
    """``label``, shortened with '…' to fit ``width`` pixels."""
    if draw.textlength(label, font=font) <= width:
        return label
    while label and draw.textlength(label + "…", font=font) > width:
        label = label[:-1]
    return label + "…"


Panel = tuple[np.ndarray, str]  # (H, W, 3) or (H, W) in [0, 1], and its title


def _draw(rows: Sequence[Sequence[Panel]], path: str | Path) -> None:
    """One canvas of titled panels (every panel the same H × W), one list per row."""
    from PIL import Image, ImageDraw

    h, w = rows[0][0][0].shape[:2]
    cols = max(len(r) for r in rows)
    cell_w, cell_h = w + GAP, h + TITLE + GAP
    canvas = np.full((GAP + len(rows) * cell_h, GAP + cols * cell_w, 3), 255, dtype=np.uint8)
    labels: list[tuple[int, int, str]] = []
    for i, row in enumerate(rows):
        y = GAP + i * cell_h + TITLE
        for j, (p, label) in enumerate(row):
            x = GAP + j * cell_w
            p = p[..., None] if p.ndim == 2 else p
            canvas[y : y + h, x : x + w] = np.rint(p * 255.0).astype(np.uint8)  # grey broadcasts to RGB
            labels.append((x, y - TITLE, label))
    img = Image.fromarray(canvas)
    draw, font = ImageDraw.Draw(img), _font(FONT_SIZE)
    for x, y, label in labels:
        text = _fit(str(label), draw, font, w)
        draw.text((x + (w - draw.textlength(text, font=font)) / 2, y + 1), text, fill=(0, 0, 0), font=font)
    img.save(path, compress_level=1)


def inversion_figure(originals: Tensor, recons: Tensor, names: Sequence[str], path: str | Path,
                     titles: Sequence[str] | None = None) -> None:
    """``originals`` (N, 3, H, W), ``recons`` (N, R, 3, H, W), RGB in [0, 1]; differences use restart 0."""
    r = recons.shape[1]
    originals_, recons_ = _hwc(originals), _hwc(recons)
    rows = []
    for i in range(len(originals_)):
        orig, rec = originals_[i], recons_[i, 0]
        diff = rec - orig
        panels = [orig] + [recons_[i, k] for k in range(r)] + [_renorm(diff), _renorm(np.abs(diff).sum(2))]
        row_labels = [names[i]] + [(titles[i * r + k] if titles else f"restart {k}") for k in range(r)] + \
                     ["colour difference", "|difference|"]
        rows.append(list(zip(panels, row_labels)))
    _draw(rows, path)


def pixel_std(samples: Tensor) -> Tensor:
    """(N, R, 3, H, W) samples → (N, H, W): per pixel the standard deviation across the R
    samples (n − 1), averaged over the colour channels; R ≥ 2."""
    return samples.double().std(dim=1, unbiased=True).mean(dim=1).float()


def samples_figure(originals: Tensor, samples: Tensor, names: Sequence[str], path: str | Path,
                   errors: Sequence[float] | None = None) -> None:
    """The samples of each image side by side: original | sample 0 … R − 1 | their mean, one row
    per image; ``errors`` (N·R, image-major) puts each sample's relative feature error in its title."""
    n, r = samples.shape[:2]
    originals_, samples_ = _hwc(originals), _hwc(samples)
    mean = _hwc(samples.mean(dim=1))
    rows = []
    for i in range(n):
        titles = [f"sample {k}" + (f" ({100 * errors[i * r + k]:.1f} %)" if errors is not None else "")
                  for k in range(r)]
        rows.append([(originals_[i], names[i]), *zip(samples_[i], titles), (mean[i], "mean")])
    _draw(rows, path)


def sample_std_figure(samples: Tensor, names: Sequence[str], path: str | Path) -> float:
    """Per image the mean of its samples (titled with the image's name) and the per-pixel
    standard deviation across them (:func:`pixel_std`), on one scale for every image: black 0,
    white the largest std, which the titles give ("std 0–0.12"; RGB in [0, 1]). Returns that std."""
    std = pixel_std(samples).numpy()
    top = float(std.max())
    scaled = std / top if top > 0 else np.zeros_like(std)
    mean = _hwc(samples.mean(dim=1))
    _draw([[(mean[i], names[i]), (scaled[i], f"std 0–{top:.2g}")] for i in range(len(names))], path)
    return top
