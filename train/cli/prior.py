"""``preimage prior``: learn, evaluate and list patch priors.

- ``fit``: score-matching training of an FoE / ICA energy by LightningCLI
  (``--config configs/prior/foe-grey.yaml``, every option also on the command line,
  ``--ckpt_path`` resume; ``preimage prior fit --help`` lists them all);
- ``fit-gmm``: the Gaussian-mixture (EPLL) prior, fitted by EM on the same patches;
- ``denoise``: MAP denoising with a prior, PSNR / SSIM before and after (how FoE priors
  are compared in Roth & Black 2005 and Kingma & LeCun 2010);
- ``list``: the shipped priors and what they are.
"""

from __future__ import annotations

import argparse
import shlex

HELP = "learn patch priors by score matching (fit, fit-gmm), denoise with them, list the shipped ones"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = __doc__.split("\n\n", 1)[1].strip() if __doc__ else HELP
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = p.add_subparsers(dest="prior_command", metavar="SUBCOMMAND", required=True)
    # fit / fit-gmm hand every argument to their own parsers (jsonargparse): options begin
    # with '-' there, so this level must not read them ('+' as its prefix character).
    fit = sub.add_parser("fit", add_help=False, prefix_chars="+",
                         help="train an FoE/ICA prior by score matching (LightningCLI; see fit --help)")
    fit.add_argument("cli_args", nargs="*")
    gmm = sub.add_parser("fit-gmm", add_help=False, prefix_chars="+",
                         help="fit a Gaussian-mixture (EPLL) patch prior by EM (see fit-gmm --help)")
    gmm.add_argument("cli_args", nargs="*")
    den = sub.add_parser("denoise", help="MAP denoising with a prior: noisy/denoised PNGs, PSNR and SSIM",
                         description="Add seeded Gaussian noise (0-255 scale) and find argmin_x "
                                     "½‖x − y‖²/σ² + λ·E(x); writes a new run directory.")
    den.add_argument("--prior", default=None, help="shipped prior name (see `preimage prior list`), .pt or .ckpt")
    den.add_argument("--image", nargs="+", default=None, help="image files, folders or bundled photos")
    den.add_argument("--sigma", default=None, help="noise std on the 0-255 scale, in (0, 255] (default 25)")
    den.add_argument("--lam", default=None, help="λ > 0 (default: the one stored with the prior)")
    den.add_argument("--crop", default=None, help="denoise the centre SIZE×SIZE crop of each image")
    den.add_argument("--seed", default=None, help="seed of the noise (default 0)")
    den.add_argument("--out", default=None, help="parent folder of the run directory (default: runs)")
    den.add_argument("--route", default=None, help="auto (MAP/EPLL for an energy, one pass of D for a score prior), "
                                                   "one-pass, red (score priors: RED's fixed point, weight λ) or "
                                                   "ensemble (score priors: D averaged over 8 rotations/flips)")
    den.add_argument("overrides", nargs="*", metavar="key=value", help="the same options as key=value, e.g. sigma=50")
    sub.add_parser("list", help="list the shipped priors with what they are")


def run(args: argparse.Namespace) -> int:
    cmd = args.prior_command
    if cmd == "fit":
        return _fit(args.cli_args)
    if cmd == "fit-gmm":
        from preimage.train.fit.gmm import main as gmm_main

        return gmm_main(args.cli_args)
    if cmd == "denoise":
        import yaml

        from preimage.train.analysis.denoise import denoise_command
        from preimage.train.cli.args import move_overrides
        from preimage.train.config.denoise import denoise_config

        move_overrides(args, ("image",))
        options = {k: (yaml.safe_load(v) if isinstance(v, str) and k not in ("prior", "out", "route") else v)
                   for k in ("prior", "image", "sigma", "lam", "crop", "seed", "out", "route") for v in [getattr(args, k)]}
        return denoise_command(denoise_config(options, args.overrides))
    return _list()


def _fit(cli_args: list[str]) -> int:
    from preimage.train.cli.args import lightning_args
    from preimage.train.fit.app import run_lightning_cli
    from preimage.train.fit.patch_data import PatchDataModule
    from preimage.train.fit.prior import ExportPrior, PriorModule, check_prior_checkpoint

    export = ExportPrior(command="preimage prior fit " + shlex.join(cli_args))  # as typed: reproduces the model
    cli = run_lightning_cli(PriorModule, PatchDataModule, ["fit", *lightning_args(cli_args, "prior")],
                            root="runs/prior", prog="preimage prior", check_checkpoint=check_prior_checkpoint,
                            export=export)
    if cli.run_dir is not None and export.exported is not None:
        print(cli.run_dir)
    return 0


def _list() -> int:
    from preimage.priors.store import PRETRAINED, list_priors, load_prior

    names = list_priors()
    if not names:
        print("no shipped priors")
        return 0
    rows = [("name", "kind", "space", "channels", "patch", "λ", "size", "trained on")]
    for n in names:
        meta = load_prior(n).meta
        space = "image" if not meta.get("layer") else f"{meta.get('representation')}:{meta['layer']}"
        data = meta.get("data") or {}
        imgs = data.get("images") if isinstance(data, dict) else None
        rows.append((n, str(meta.get("kind")), space, str(meta.get("channels")), str(meta.get("patch_size")),
                     f"{float(meta.get('lam', 1.0)):.3g}", f"{(PRETRAINED / (n + '.pt')).stat().st_size / 1024:.0f} KB",
                     ",".join(imgs) if imgs else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0
