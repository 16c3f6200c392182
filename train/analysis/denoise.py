"""Evaluating a prior by denoising (Roth & Black 2005, §4.1; Zoran & Weiss 2011, §3): seeded
Gaussian noise on the 0–255 scale, the MAP estimate argmin ½‖x − y‖²/σ² + λ·E(x)
(:func:`preimage.priors.denoise.denoise`: L-BFGS, or EPLL's splitting for the GMM), PSNR and
SSIM before and after; λ tuned on a training photo (:func:`tune_lambda`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torch import Tensor

from preimage.representations.errors import PreimageError

if TYPE_CHECKING:  # pragma: no cover
    from preimage.train.config.denoise import DenoiseConfig

#: λ values tried by :func:`tune_lambda` (a log grid; refined around the best one).
LAMBDA_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def add_noise(x: Tensor, sigma255: float, seed: int = 0) -> Tensor:
    """x + σ/255 · n, n ~ N(0, I) seeded (no clipping, as in the denoising literature)."""
    g = torch.Generator().manual_seed(seed)
    return x + sigma255 / 255.0 * torch.randn(x.shape, generator=g, dtype=x.dtype)


def psnr(x: Tensor, ref: Tensor) -> float:
    """PSNR in dB of (C, H, W) images in [0, 1], x clipped to [0, 1] first
    (:func:`preimage.inversion.metrics.image_psnr`)."""
    from preimage.inversion.metrics import image_psnr

    return float(image_psnr(x.clamp(0, 1).double()[None], ref.double()[None]).clamp_max(200.0))


def ssim(x: Tensor, ref: Tensor) -> float:
    """SSIM (Wang et al. 2004) of (C, H, W) images as the denoising literature reports it
    (scikit-image: 7×7 uniform window, data range 1), kept apart from the inversion metrics'
    Gaussian-window SSIM (:func:`preimage.inversion.metrics.image_ssim`) so that the denoising
    tables stay comparable with published ones."""
    from skimage.metrics import structural_similarity

    a = x.clamp(0, 1).double().permute(1, 2, 0).numpy()
    b = ref.double().permute(1, 2, 0).numpy()
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=2))


def prepare(image: Tensor, channels: int, crop: int | None) -> Tensor:
    """(3, H, W) RGB → (channels, h, w) in the prior's colour space, centre-cropped to ``crop``."""
    from preimage.train.fit.patches import to_grey

    x = to_grey(image) if channels == 1 else image
    if x.shape[0] != channels:
        raise PreimageError(f"the prior scores {channels}-channel inputs; it cannot denoise images")
    if crop is not None:
        h, w = x.shape[-2:]
        if crop > min(h, w):
            raise PreimageError(f"--crop {crop} is larger than the {w}x{h} image; use at most {min(h, w)}")
        t, l = (h - crop) // 2, (w - crop) // 2
        x = x[:, t:t + crop, l:l + crop]
    return x.contiguous()


def check_route(energy, route: str, name: str = "this prior") -> bool:
    """Whether ``energy`` is a score prior; one clear error for a score-only ``route`` on an energy."""
    score = not getattr(energy, "has_energy", True)
    if route != "auto" and not score:
        raise PreimageError(f"route={route} is for score priors; {name} has an energy, so it is denoised by MAP "
                            "(or EPLL); leave route=auto")
    return score


def denoise_image(energy, y: Tensor, sigma255: float, lam: float, steps: int = 200, route: str = "auto") -> Tensor:
    """One noisy (C, H, W) image in [0, 1] units denoised: the MAP estimate with an energy, or one
    pass of a score prior's denoiser D(y, σ) (its minimum-MSE estimate: Miyasawa 1961, Tweedie;
    the score prior is trained for exactly this, Kadkhodaie & Simoncelli 2021), or with
    ``route="red"`` RED's fixed point with the score prior at weight λ
    (:func:`preimage.priors.denoise.red_denoise`), or with ``route="ensemble"`` the mean of D over
    the 8 rotations and flips of y, each undone (:func:`preimage.priors.denoise.ensemble_denoise`;
    8 passes of D)."""
    from preimage.priors.denoise import denoise, ensemble_denoise, red_denoise

    score = check_route(energy, route)
    with torch.no_grad():
        if score and route == "red":
            return red_denoise(energy, y[None].float(), sigma255 / 255.0, lam)[0]
        if score and route == "ensemble":
            return ensemble_denoise(energy, y[None].float(), sigma255 / 255.0)[0]
        if score:
            return energy.denoise(y[None].float(), sigma255 / 255.0)[0]
        return denoise(energy, y[None].float(), sigma255 / 255.0, lam, steps)[0]


def tune_lambda(energy, image: str = "astronaut", grey: bool = True, sigma255: float = 25.0, crop: int = 128,
                grid: Sequence[float] = LAMBDA_GRID, seed: int = 1) -> float:
    """λ maximising PSNR on a centre crop of a training photo (never a held-out one): the best of
    ``grid``, then refined on a ×√3 and then a ×3^¼ step around the best so far."""
    from preimage.representations import load_image
    from preimage.representations.images import refuse_held_out

    rgb = load_image(image)
    refuse_held_out([(str(image), rgb)], "λ tuning image", "tune λ on a training photo (model.tune_image)")
    x = prepare(rgb, energy.channels, crop)
    y = add_noise(x, sigma255, seed)
    scores = {lam: psnr(denoise_image(energy, y, sigma255, lam), x) for lam in grid}
    for step in (3 ** 0.5, 3 ** 0.25):
        best = max(scores, key=scores.get)
        for lam in (best / step, best * step):
            scores[lam] = psnr(denoise_image(energy, y, sigma255, lam), x)
    return float(max(scores, key=scores.get))


def denoise_figure(rows: list[tuple[str, Tensor, Tensor, Tensor, dict]], path: Path) -> None:
    """clean | noisy | denoised, one row per image, PSNR/SSIM in the titles."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.6 * len(rows)), squeeze=False)
    for ax_row, (name, x, y, d, m) in zip(axes, rows):
        panels = [(x, name), (y, f"noisy {m['psnr_before']:.2f} dB / {m['ssim_before']:.3f}"),
                  (d, f"denoised {m['psnr_after']:.2f} dB / {m['ssim_after']:.3f}")]
        for ax, (img, title) in zip(ax_row, panels):
            a = img.clamp(0, 1).permute(1, 2, 0).numpy()
            ax.imshow(a[..., 0] if a.shape[2] == 1 else a, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def denoise_command(args: DenoiseConfig) -> int:
    """``preimage prior denoise``: a new run directory with PNGs, metrics.json and a figure."""
    from preimage.priors.store import load_prior
    from preimage.representations import resolve_images, save_image
    from preimage.train.output.run_dir import run_directory

    from preimage.train.output.run_dir import check_root

    check_root(args.out, "--out")
    loaded = load_prior(args.prior)
    if loaded.layer is not None:
        raise PreimageError(f"{args.prior} is a prior on layer {loaded.layer} of {loaded.meta.get('representation')}, "
                            "not on images; denoise with an image prior (see `preimage prior list`)")
    lam = loaded.lam if args.lam is None else args.lam
    images = [(n, prepare(img, loaded.energy.channels, args.crop)) for n, img in resolve_images(args.image)]
    for n, x in images:
        loaded.energy.check_input(x[None])
    check_route(loaded.energy, args.route, str(args.prior))  # before the run directory
    out = {"prior": str(args.prior), "kind": loaded.meta.get("kind"), "lam": lam, "sigma": args.sigma, "route": args.route,
           "seed": args.seed, "crop": args.crop, "images": {}}
    rows = []
    with run_directory(args.out, f"denoise-{Path(str(args.prior)).stem}") as rd:
        for i, (name, x) in enumerate(images):
            y = add_noise(x, args.sigma, args.seed + i)
            t = time.perf_counter()
            d = denoise_image(loaded.energy, y, args.sigma, lam, route=args.route)
            m = {"psnr_before": psnr(y, x), "ssim_before": ssim(y, x), "psnr_after": psnr(d, x),
                 "ssim_after": ssim(d, x), "seconds": time.perf_counter() - t}
            out["images"][name] = m
            rows.append((name, x, y, d, m))
            for tag, img in (("clean", x), ("noisy", y), ("denoised", d)):
                save_image(img.expand(3, -1, -1), rd.path / f"{name}-{tag}.png")
        out["mean"] = {k: float(np.mean([m[k] for m in out["images"].values()]))
                       for k in ("psnr_before", "ssim_before", "psnr_after", "ssim_after")}
        (rd.path / "metrics.json").write_text(json.dumps(out, indent=2))
        denoise_figure(rows, rd.path / "figure.png")
    print(rd.final)
    return 0
