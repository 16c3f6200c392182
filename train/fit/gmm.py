"""``preimage prior fit-gmm``: the Gaussian-mixture patch prior of EPLL (Zoran & Weiss 2011),
fitted by EM (scikit-learn, :meth:`preimage.priors.gmm.GMMPatchPrior.fit`), not by SGD, on the
patches of the same :class:`~preimage.train.fit.patch_data.PatchDataModule` as ``prior fit``.

Options come from a YAML config (``--config configs/prior/gmm-grey.yaml``) with the sections
``data`` (the data module's arguments) and ``model`` (:class:`GMMFit`), each also on the
command line (``--model.n_components 100``). The run directory holds ``prior.pt``,
``config.yaml`` and ``metrics.json`` (held-out mean −log p per patch, EM time).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch

from preimage.representations.errors import PreimageError
from preimage.train.fit.patch_data import PatchDataModule


@dataclass
class GMMFit:
    """EM options (scikit-learn's ``GaussianMixture``, full covariances) and the export.

    Args:
        n_components: mixture components K.
        reg_covar: added to each covariance's diagonal (data units², 0–1 pixels).
        max_iter: EM iterations at most.
        tol: EM stops when the mean log-likelihood gains less.
        seed: k-means start.
        lam: MAP λ stored with the prior; ``None`` tunes it on ``tune_image`` (image priors).
        tune_image: training photo on which λ is tuned.
        tune_sigma: noise std (0–255) used for tuning.
        tune_crop: side of the tuning crop.
        export: extra path for the prior file (e.g. ``priors/pretrained/gmm-grey.pt``).
        out: parent folder of the run directory.
    """

    n_components: int = 50
    reg_covar: float = 1e-6
    max_iter: int = 25
    tol: float = 1e-3
    seed: int = 0
    lam: float | None = None
    tune_image: str = "astronaut"
    tune_sigma: float = 25.0
    tune_crop: int = 128
    export: str | None = None
    out: str = "runs/prior"


def build_parser():
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(prog="preimage prior fit-gmm", exit_on_error=False, allow_abbrev=False,
                            description="Fit a Gaussian-mixture patch prior (EPLL) by EM on training patches.")
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="YAML config with data: and model: sections")
    parser.add_class_arguments(PatchDataModule, "data")
    parser.add_class_arguments(GMMFit, "model")
    return parser


def fit_gmm(data: PatchDataModule, opts: GMMFit, command: str | None = None, config_text: str | None = None) -> Path:
    """Draw the patches, fit the mixture, tune λ, write a run directory; returns its path."""
    from preimage.priors.gmm import GMMPatchPrior
    from preimage.priors.store import save_prior
    from preimage.train.analysis.denoise import tune_lambda
    from preimage.train.output.run_dir import run_directory

    data.setup("fit")
    start = time.perf_counter()
    prior = GMMPatchPrior.fit(data.train_patches, opts.n_components, opts.reg_covar, opts.max_iter, opts.seed, opts.tol)
    seconds = time.perf_counter() - start
    prior.eval()
    with torch.no_grad():
        nll_val = float(prior(data.val_patches).mean())
        nll_train = float(prior(data.train_patches[: len(data.val_patches)]).mean())
    meta_data = data.meta()
    lam = opts.lam
    if lam is None and meta_data["representation"] is None:
        lam = tune_lambda(prior, opts.tune_image, data.grey, opts.tune_sigma, opts.tune_crop)
    meta = {"representation": meta_data["representation"], "layer": meta_data["layer"],
            "data": {k: meta_data[k] for k in ("images", "grey", "patch_size", "weights")},
            "lam": 1.0 if lam is None else float(lam), "command": command, "fit": asdict(opts),
            "speed": {"train_seconds": seconds, "samples_per_second": len(data.train_patches) * opts.max_iter / seconds}}
    metrics = {"nll_val_per_patch": nll_val, "nll_train_per_patch": nll_train, "em_seconds": seconds,
               "patches": len(data.train_patches), "patches_per_second": len(data.train_patches) * opts.max_iter / seconds,
               "lam": meta["lam"]}
    with run_directory(opts.out, f"gmm-{prior.channels}c{prior.patch_size}") as rd:
        save_prior(prior, rd.path / "prior.pt", meta)
        (rd.path / "metrics.json").write_text(json.dumps(metrics, indent=2))
        if config_text is not None:
            (rd.path / "config.yaml").write_text(config_text)
    if opts.export:
        save_prior(prior, opts.export, meta)
    return rd.final


def main(args: Sequence[str]) -> int:
    from jsonargparse import ArgumentError

    from preimage.train.cli.args import lightning_args

    typed = list(args)
    args = lightning_args(typed, "prior")  # key=value and short preset names, as every fit command
    parser = build_parser()
    try:
        cfg = parser.parse_args(args)
        init = parser.instantiate_classes(cfg)
    except ArgumentError as e:
        from preimage.train.fit.app import _one_line

        raise PreimageError(_one_line(e, parser)) from None
    except Exception as e:  # noqa: BLE001 - a PreimageError raised in a constructor may come wrapped
        from preimage.train.fit.app import _preimage_cause

        inner = _preimage_cause(e)
        if inner is None:
            raise
        raise inner from None
    if init.model.n_components < 1:
        raise PreimageError(f"n_components must be at least 1, got {init.model.n_components}")
    text = parser.dump(cfg, skip_none=False)
    print(fit_gmm(init.data, init.model, "preimage prior fit-gmm " + shlex.join(typed), text))
    return 0
