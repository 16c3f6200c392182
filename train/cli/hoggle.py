"""``preimage hoggle fit``: learn HOGgle's paired dictionaries (Vondrick et al., ICCV 2013,
Sec. 3.4) from photos and write a model file (``inverters/hoggle_fit.py``). Not gradient
training: scikit-learn's mini-batch dictionary learning, so plain argparse.

``preimage hoggle invert``: reconstruct images from their HOG with a model, writing
grey PNGs (``preimage invert ... method=hoggle`` gives the full run directory)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

HELP = "HOGgle baseline for HOG (paired dictionaries): fit a model, or invert images with one"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from preimage.inverters.hoggle import DEFAULT_MODEL
    from preimage.inverters.hoggle_fit import TRAIN_PHOTOS

    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = sub.add_parser("fit", help="learn a HOGgle model from photos",
                       description="Learn paired HOG/grey dictionaries (HOGgles Sec. 3.4) from photos.")
    f.add_argument("--images", nargs="+", default=list(TRAIN_PHOTOS),
                   help="image files, folders or bundled samples (default: the bundled training photos; "
                        "coffee, china and grace_hopper are held out)")
    f.add_argument("--atoms", type=int, default=1024, help="dictionary atoms K (paper: 1024)")
    f.add_argument("--lam", type=float, default=0.02, help="sparsity weight λ (paper: 0.02)")
    f.add_argument("--window", type=int, default=5, help="HOG window side in cells (paper: 5)")
    f.add_argument("--cell-size", type=int, default=8, help="HOG cell size in pixels (default 8)")
    f.add_argument("--windows", type=int, default=20000, help="training windows sampled (default 20000)")
    f.add_argument("--epochs", type=int, default=2, help="passes over the windows (default 2)")
    f.add_argument("--batch-size", type=int, default=256, help="mini-batch size (default 256)")
    f.add_argument("--seed", type=int, default=0, help="random seed (window sampling, initial dictionary)")
    f.add_argument("--out", required=True, help="output .npz file (must not exist)")
    f.add_argument("--verbose", action="store_true", help="scikit-learn progress")
    f.set_defaults(_action=_fit)
    i = sub.add_parser("invert", help="reconstruct images from their HOG with a HOGgle model",
                       description="Reconstruct images from their HOG; writes DIR/NAME-hoggle.png.")
    i.add_argument("--image", nargs="+", required=True, help="image files, folders or bundled samples")
    i.add_argument("--model", default=DEFAULT_MODEL, help=f"a .npz file or shipped name (default {DEFAULT_MODEL})")
    i.add_argument("--out", required=True, help="output folder (created; files are never overwritten)")
    i.set_defaults(_action=_invert)


def _fit(args: argparse.Namespace) -> int:
    from preimage.inverters.hoggle_fit import fit_hoggle
    from preimage.representations import resolve_images
    from preimage.representations.errors import PreimageError

    out = Path(args.out)
    if out.suffix != ".npz":
        raise PreimageError(f"--out must name a .npz file, e.g. {out.with_suffix('.npz')}")
    if out.exists():
        raise PreimageError(f"{out} exists; choose another --out (models are never overwritten)")
    if not out.parent.is_dir():
        raise PreimageError(f"folder {out.parent} does not exist; create it or choose another --out")
    if not args.lam > 0:
        raise PreimageError(f"--lam must be positive, got {args.lam}")
    images = resolve_images(args.images)
    command = " ".join(["preimage hoggle fit --images", *map(shlex.quote, args.images),
                        f"--atoms {args.atoms} --lam {args.lam} --window {args.window} --cell-size {args.cell_size}",
                        f"--windows {args.windows} --epochs {args.epochs} --batch-size {args.batch_size}",
                        f"--seed {args.seed} --out {shlex.quote(str(out))}"])
    model = fit_hoggle(images, atoms=args.atoms, lam=args.lam, windows=args.windows, epochs=args.epochs,
                       batch_size=args.batch_size, seed=args.seed, cell=args.cell_size, window=args.window,
                       command=command, verbose=args.verbose)
    model.save(out)
    print(out)
    return 0


def _invert(args: argparse.Namespace) -> int:
    from preimage.inverters.hoggle import HOGgle, hog_representation
    from preimage.representations import resolve_images, save_image
    from preimage.representations.errors import PreimageError

    model = HOGgle.load(args.model)
    images = resolve_images(args.image)
    out = Path(args.out)
    targets = [out / f"{name}-hoggle.png" for name, _ in images]
    clash = [str(t) for t in targets if t.exists()]
    if clash:
        raise PreimageError(f"{clash[0]} exists; choose another --out (files are never overwritten)")
    conv = hog_representation(model.meta.representation, model.meta.cell_size).convention
    recs = [model.reconstruct(conv.preprocess(img[None])) for _, img in images]  # checks before writing
    out.mkdir(parents=True, exist_ok=True)
    for t, rec in zip(targets, recs):
        save_image(conv.deprocess(rec)[0], t)
        print(t)
    return 0


def run(args: argparse.Namespace) -> int:
    return int(args._action(args) or 0)
