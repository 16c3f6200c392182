"""``preimage stats``: statistics of a representation's feature maps on images — average
covariance of the flattened maps and its inverse with their distance to Toeplitz
(stationarity, thesis Fig. 1), Gram matrices, sparsity and kurtosis, activation
histograms — written as a new run directory (``stats.json``, one PNG and one .npz of
matrices per layer). Definitions in :mod:`preimage.train.analysis.stats`."""

from __future__ import annotations

import argparse
import json

import torch

HELP = "feature-map statistics: covariance and its inverse (Toeplitz distance), Gram, sparsity, histograms"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="representation (default: squeezenet)")
    p.add_argument("--weights", default=None, help="weights for the representation (default: its offline default)")
    p.add_argument("--layer", nargs="+", default=None, help="layer(s) to measure (required)")
    p.add_argument("--images", nargs="+", default=None,
                   help="image files, folders or bundled names (default: every bundled photo)")
    p.add_argument("--size", default=None, help="input side in pixels (default: the model's; at least the "
                                                "layers' minimum)")
    p.add_argument("--window", default=None, help="side w of the w×w tiles whose covariance is "
                                                  "measured (default 16, capped at the map size)")
    p.add_argument("--ridge", default=None, help="ridge ε / (tr Σ / d) > 0 before inverting (default 1e-3)")
    p.add_argument("--out", default=None, help="parent folder of the run directory (default: runs)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="the same options as key=value, e.g. ridge=1e-2")


def run(args: argparse.Namespace) -> int:
    import yaml

    from preimage.train.cli.args import move_overrides
    from preimage.train.config.stats import stats_config

    move_overrides(args, ("layer", "images"))
    options = {k: (yaml.safe_load(v) if isinstance(v, str) and k not in ("model", "weights", "out") else v)
               for k in ("model", "weights", "layer", "images", "size", "window", "ridge", "out")
               for v in [getattr(args, k)]}
    if options["layer"] is None and not any(o.startswith("layer=") for o in args.overrides):
        from preimage.representations.errors import PreimageError

        raise PreimageError("no layer given; pass --layer L... (e.g. --layer conv1 fire3)")
    cfg = stats_config(options, args.overrides)
    with torch.no_grad():
        return _run(cfg)


def _run(args) -> int:
    import numpy as np

    from preimage.representations import build_representation, resize_crop, resolve_images, sample_names
    from preimage.representations.errors import PreimageError
    from preimage.train.analysis.stats import layer_stats
    from preimage.train.analysis.stats_figures import layer_figure
    from preimage.train.cli.args import check_side
    from preimage.train.output.run_dir import run_directory

    phi = build_representation(args.model, taps=args.layer, weights=args.weights)  # unknown layer: one line
    size = phi.input_size if args.size is None else args.size
    check_side(size, phi, phi.taps)
    images = resolve_images(args.images if args.images is not None else sample_names())
    if not images:
        raise PreimageError("no images given; pass --images FILES, a FOLDER or bundled names")
    x = phi.convention.preprocess(torch.stack([resize_crop(img, size) for _, img in images]))
    for layer in phi.taps:
        phi.check_input(x, layer)
    feats = phi(x)
    stats = {layer: layer_stats(feats[layer], layer, args.window, args.ridge) for layer in phi.taps}
    with run_directory(args.out, f"stats-{args.model}-{'+'.join(phi.taps)}") as rd:
        out = {"model": args.model, "weights": args.weights, "size": size, "images": [n for n, _ in images],
               "ridge": args.ridge, "layers": {}}
        for layer, s in stats.items():
            stem = layer.replace("/", "-")
            layer_figure(s, feats[layer], rd.path / f"{stem}.png")
            np.savez_compressed(rd.path / f"{stem}-matrices.npz", covariance=s.covariance.numpy(),
                                precision=s.precision.numpy(), gram=s.gram.numpy())
            out["layers"][layer] = {
                "shape": list(s.shape), "window": s.window, "samples": s.samples, "live_channels": s.live_channels,
                "toeplitz_distance_inverse": s.toeplitz_distance_inverse,
                "toeplitz_bound_inverse": s.toeplitz_bound_inverse,
                "toeplitz_distance_covariance": s.toeplitz_distance_covariance,
                "sampling_floor": s.sampling_floor, "fraction_zero": s.fraction_zero, "kurtosis": s.kurtosis,
                "figure": f"{stem}.png", "matrices": f"{stem}-matrices.npz"}
        (rd.path / "stats.json").write_text(json.dumps(out, indent=2))
    for layer, s in stats.items():
        print(f"{layer}: Toeplitz distance of the inverse covariance {s.toeplitz_distance_inverse:.3f} "
              f"(stationary bound {s.toeplitz_bound_inverse:.3f}); of the covariance "
              f"{s.toeplitz_distance_covariance:.3f} (sampling floor {s.sampling_floor:.3f}); "
              f"zeros {100 * s.fraction_zero:.1f} %, excess kurtosis {s.kurtosis:.2f}")
    print(rd.final)
    return 0
