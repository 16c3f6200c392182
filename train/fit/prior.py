"""``PriorModule``: the thin LightningModule that trains any learned patch energy
(:class:`preimage.priors.learned.PatchEnergy`, injected from the config) by score matching.

Each step adds fresh Gaussian noise of std ``noise_std`` to the batch (dequantisation of
8-bit pixels, the regulariser of :mod:`preimage.priors.score_matching`; for ``dsm`` it is
the noise level of denoising score matching, Vincent 2011). For ``exact`` this fits the
score of the data smoothed at ``noise_std``, which equals DSM at that level up to a constant
(Vincent 2011, §4.2) with a lower-variance closed-form trace; the shipped grey priors use
3/255 (FoE) and 5/255 (ICA), which keeps the experts from fitting flat, saturated regions
with ever sharper peaks. Each step minimises the chosen loss (Hyvärinen 2005 exact / closed
form, sliced (Song et al. 2019) or denoising). The held-out loss is logged as ``val/loss``
(early stopping and checkpoints monitor it). Before the first step the energy's whitening is
fitted on training patches (Hyvärinen et al. 2009, §5.3); at the end of ``fit`` the
:class:`ExportPrior` callback (added by ``preimage prior fit``) exports the energy with
:func:`preimage.priors.store.save_prior` into the run directory (and to ``export`` if given),
with its λ tuned on a training photo.

**Score priors train the same under DDP as in one process** (``--trainer.strategy ddp
--trainer.devices N``; tested on CPU with two processes, ``tests/train/test_score_ddp.py``): the
data module gives the same global batch at every step for any number of processes
(:meth:`PatchDataModule.train_dataloader <preimage.train.fit.patch_data.PatchDataModule.train_dataloader>`),
each sample's noise level σ and noise ε are drawn from its own generator, seeded by (the data
seed, the global step, the sample's index in the training set) — by (the data seed, its index)
for validation, the same at every validation — (:func:`dsm_draws`), the loss is the batch
mean and DDP averages the gradients, so the updates agree up to float rounding (with
``model.augment=dihedral`` each training sample's rotation/flip is drawn the same way,
:func:`dihedral_draws`); ``train/loss``
and ``val/loss`` are logged as the mean over all processes. Energy priors (FoE, ICA) keep
the torch-generator noise and order their shipped models were trained with, which depend on
how the batch is split.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
from jsonargparse.typing import NonNegativeFloat, PositiveFloat, PositiveInt
from lightning.pytorch import Callback
import torch
from torch import Tensor, nn

from preimage.representations.errors import PreimageError
from preimage.priors.score_matching import LOSSES, score_matching_loss

def check_prior_checkpoint(ckpt: dict, name: str = "--ckpt_path") -> None:
    """Refuse a Lightning checkpoint that was not written by :class:`PriorModule` (``name``: the
    file, as the message says it)."""
    if "prior_kind" not in (ckpt.get("preimage") or {}):
        what = " (it is an inverter's)" if any(str(k).startswith("inverter.") for k in ckpt.get("state_dict") or {}) \
            else " (no prior kind in it)"
        raise PreimageError(f"{name} is not a checkpoint of a prior{what}; "
                            "give a .ckpt written by 'preimage prior fit' (runs/prior/<run>/checkpoints/)")


def random_subpatches(x: Tensor, p: int, n: int, generator: torch.Generator) -> Tensor:
    """``n`` random ``p``×``p`` windows of the (N, C, s, s) patches ``x`` → (n, C, p, p)."""
    s = x.shape[-1]
    i = torch.randint(0, x.shape[0], (n,), generator=generator)
    ys = torch.randint(0, s - p + 1, (n,), generator=generator)
    xs = torch.randint(0, s - p + 1, (n,), generator=generator)
    ar = torch.arange(p)
    # x[i, :, y + a, x + b] → (n, p, p, C) → (n, C, p, p)
    out = x[i[:, None, None], :, ys[:, None, None] + ar[None, :, None], xs[:, None, None] + ar[None, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def dsm_draws(index: Tensor, shape: torch.Size | tuple[int, ...], key: tuple[int | str, ...], sigma_min: float,
              sigma_max: float, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """The DSM noise level σ (B,) and noise ε (B, *shape) of the samples with dataset indices
    ``index`` (B,): sample i's come from a CPU generator seeded by a hash of (``key``, i), so
    they are the same in any batch, on any process (σ log-uniform in [``sigma_min``,
    ``sigma_max``] as :func:`preimage.priors.dsm.log_uniform_sigmas`, then ε ~ N(0, I))."""
    from preimage.priors.dsm import log_uniform_sigmas

    sigmas, noises = [], []
    for i in index.tolist():
        digest = hashlib.blake2b(repr((*key, int(i))).encode(), digest_size=8).digest()
        g = torch.Generator().manual_seed(int.from_bytes(digest, "little"))
        sigmas.append(log_uniform_sigmas(1, sigma_min, sigma_max, g, dtype=dtype))
        noises.append(torch.randn(tuple(shape), generator=g, dtype=dtype))
    return torch.cat(sigmas), torch.stack(noises)


def dihedral_draws(index: Tensor, key: tuple[int | str, ...]) -> Tensor:
    """The element k ∈ {0, …, 7} of the dihedral group D₄ (:func:`preimage.priors.denoise.dihedral`)
    applied to each training sample with dataset index in ``index`` (B,): from a CPU generator
    seeded by a hash of (``key``, ``"dihedral"``, i), a stream apart from :func:`dsm_draws`' (whose
    σ and ε stay what they are without augmentation), the same in any batch, on any process."""
    ks = []
    for i in index.tolist():
        digest = hashlib.blake2b(repr((*key, "dihedral", int(i))).encode(), digest_size=8).digest()
        g = torch.Generator().manual_seed(int.from_bytes(digest, "little"))
        ks.append(int(torch.randint(8, (1,), generator=g)))
    return torch.tensor(ks, dtype=torch.long)


def augment_dihedral(x: Tensor, k: Tensor) -> Tensor:
    """Sample i of the (B, C, p, p) batch ``x`` rotated/flipped by D₄'s element ``k[i]``."""
    from preimage.priors.denoise import dihedral

    return torch.stack([dihedral(xi, int(ki)) for xi, ki in zip(x, k.tolist())])


def init_weights(energy: nn.Module, init: str) -> None:
    """Copy the weights of the prior ``init`` (a shipped name or a prior file) into ``energy``,
    which must be the same class with the same hyper-parameters (``model.init``)."""
    from preimage.priors.store import load_prior

    src = load_prior(init).energy
    if type(src) is not type(energy):
        raise PreimageError(f"model.init={init!r} holds a {type(src).__name__} but model.energy is a "
                            f"{type(energy).__name__}; give a prior of the class being trained")
    skip = {"layer", "representation", "init"}  # set from the data in setup; the start the weights replace
    theirs = {k: v for k, v in src.hparams().items() if k not in skip}
    ours = {k: v for k, v in energy.hparams().items() if k not in skip}
    diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    if diff:
        k = diff[0]
        raise PreimageError(f"model.init={init!r} has {k}={theirs.get(k)!r} but model.energy has {k}={ours.get(k)!r}"
                            f"{f' (and {len(diff) - 1} more)' if len(diff) > 1 else ''}; "
                            f"set model.energy.init_args to the prior's hyper-parameters")
    with torch.no_grad():
        energy.load_state_dict(src.state_dict())


class PriorModule(pl.LightningModule):
    """Score-matching training of ``energy``.

    Args:
        energy: the learned prior: a patch energy (``class_path: preimage.priors.foe.FieldOfExperts``
            …) or a score prior (``preimage.priors.score.ScoreDenoiser``: a denoiser D(z, σ) trained
            by denoising score matching over its own noise range ``sigma_min``…``sigma_max``,
            log-uniform, σ²-weighted; Vincent 2011, Song & Ermon 2019; ``loss: dsm``).
        loss: ``exact`` (Hyvärinen 2005, exact Laplacian), ``sliced`` (Song et al. 2019) or
            ``dsm`` (Vincent 2011; for a score prior, over its noise range).
        noise_std: std of the fresh Gaussian noise added to every batch, in data units
            (0.5/255 for 8-bit photos in [0, 1]); the noise level of ``dsm``.
        n_slices: random projections per sample for ``sliced``.
        curvature: weight of Kingma & LeCun's (2010) Hessian-diagonal penalty (0: off).
        lr: Adam's learning rate.
        schedule: ``cosine`` (to zero at ``trainer.max_steps``) or ``constant``.
        whitening_patches: patches used to fit the energy's whitening.
        lam: the MAP weight λ stored with the prior; ``None`` tunes it on ``tune_image``
            (image priors) or stores 1 (feature-map priors).
        tune_image: training photo on which λ is tuned (never a held-out photo).
        tune_sigma: noise std (0–255 scale) used to tune λ.
        tune_crop: side of the centre crop used to tune λ.
        export: extra path to write the exported prior to (e.g. ``priors/pretrained/foe-grey.pt``).
        prune: drop experts whose strength α_i‖Pw_i‖² is below this fraction of the largest from
            the exported prior (FoE / ICA; :func:`preimage.priors.prune.prune_experts`; 0: keep
            all); checkpoints keep every expert.
        init: a prior to start from instead of a random initialisation: a shipped name or a file
            from :func:`~preimage.priors.store.save_prior` / ``prior fit`` (``.pt`` or ``.ckpt``)
            holding the same class with the same hyper-parameters; its weights (whitening
            included) are copied in, and the optimiser and schedule start afresh (a second
            stage at another learning rate or on other data; ``--ckpt_path`` resumes a run
            instead, with its optimiser).
        augment: ``dihedral`` (score priors only) rotates/flips each training patch by a random
            element of D₄ (4 rotations × flip; :func:`dihedral_draws`) before its DSM noise is
            added: 8× the distinct patches of a rotation- and flip-invariant image statistics;
            ``none``: the patches as cut (validation always is).

    Batches are ``(patches, indices)`` (:class:`~preimage.train.fit.patch_data.PatchDataModule`).
    A score prior draws each sample's noise from its index (:func:`dsm_draws`; data seed
    ``data.seed``) and sets the data module's ``global_order``, so that its training does not
    depend on how the batch is split over DDP processes (module docstring); given batches
    without indices it draws from torch's global generator.
    """

    def __init__(self, energy: nn.Module, loss: Literal["exact", "sliced", "dsm"] = "exact",
                 noise_std: NonNegativeFloat = 0.5 / 255, n_slices: PositiveInt = 1,
                 curvature: NonNegativeFloat = 0.0, lr: PositiveFloat = 3e-3,
                 schedule: Literal["cosine", "constant"] = "cosine", whitening_patches: PositiveInt = 20_000,
                 lam: PositiveFloat | None = None, tune_image: str = "astronaut", tune_sigma: PositiveFloat = 25.0,
                 tune_crop: PositiveInt = 128, export: str | None = None, prune: NonNegativeFloat = 0.0,
                 augment: Literal["none", "dihedral"] = "none", init: str | None = None) -> None:
        super().__init__()
        from preimage.priors.learned import PatchEnergy
        from preimage.priors.score import ScorePrior

        if not isinstance(energy, (PatchEnergy, ScorePrior)):
            raise PreimageError(f"model.energy must be a learned patch energy (e.g. preimage.priors.foe.FieldOfExperts) "
                                f"or a score prior (preimage.priors.score.ScoreDenoiser), got {type(energy).__name__}")
        if loss not in LOSSES:
            raise PreimageError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if isinstance(energy, ScorePrior) and loss != "dsm":
            raise PreimageError(f"a score prior has no energy, so model.loss={loss!r} cannot train it; "
                                "set model.loss=dsm (denoising score matching)")
        if augment != "none" and not isinstance(energy, ScorePrior):
            raise PreimageError(f"model.augment={augment} is for score priors; a {type(energy).__name__} trains on "
                                "the patches as cut: leave model.augment=none")
        if export:  # refused now, not after training
            from preimage.representations.files import check_writable

            check_writable(export, "model.export")
        if prune:
            from preimage.priors.prune import check_prunable

            check_prunable(energy, prune)
        if init:
            init_weights(energy, init)
        self.energy = energy
        self.is_score = isinstance(energy, ScorePrior)
        self.save_hyperparameters(ignore=["energy"])

    # --- data-dependent set-up -------------------------------------------------------------
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None or getattr(dm, "train_patches", None) is None:
            return
        c, p = dm.channels, dm.patch_size
        if c != self.energy.channels:
            raise PreimageError(f"the energy has {self.energy.channels} channels but the patches have {c}; "
                                f"set --model.energy.init_args.channels {c}")
        if self.is_score:  # fully convolutional, no whitening to fit; the space is the data's
            dm.global_order = True  # the same global batches in one process as in N
            meta = dm.meta() if hasattr(dm, "meta") else {}
            self.energy.layer, self.energy.representation = meta.get("layer"), meta.get("representation")
            return
        if p < self.energy.patch_size:
            raise PreimageError(f"training patches of {p}x{p} are smaller than the energy's "
                                f"{self.energy.patch_size}x{self.energy.patch_size} window; raise --data.patch_size")
        if stage == "fit" and self.trainer.ckpt_path is None and not self.hparams.get("init"):
            # resuming restores the fitted whitening, model.init brings its own
            g = torch.Generator().manual_seed(getattr(dm, "seed", 0) + 7)
            x = dm.train_patches
            sub = x if p == self.energy.patch_size and len(x) <= self.hparams.whitening_patches else \
                random_subpatches(x, self.energy.patch_size, self.hparams.whitening_patches, g)
            self.energy.fit_whitening(sub.to(self.device))

    # --- steps -----------------------------------------------------------------------------
    def _loss(self, x: Tensor, generator: torch.Generator | None = None, index: Tensor | None = None,
              key: tuple[int | str, ...] = (), augment: bool = False) -> Tensor:
        h = self.hparams
        if self.is_score:
            from preimage.priors.dsm import dsm_score_loss

            e = self.energy
            if augment and h.get("augment", "none") == "dihedral":  # before the noise: ε is D₄-invariant
                k = dihedral_draws(index, key) if index is not None else \
                    torch.randint(8, (x.shape[0],), generator=generator)
                x = augment_dihedral(x, k)
            sigma = noise = None
            if index is not None:  # split-independent draws (module docstring)
                sigma, noise = dsm_draws(index, x.shape[1:], key, e.sigma_min, e.sigma_max, x.dtype)
                sigma, noise = sigma.to(x.device), noise.to(x.device)
            return dsm_score_loss(e, x, e.sigma_min, e.sigma_max, generator, noise=noise, sigma=sigma).loss
        return score_matching_loss(self.energy, x, h.loss, h.noise_std, h.n_slices, h.curvature, generator)

    def _data_seed(self) -> int:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        return int(getattr(dm, "seed", 0))

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        index = batch[1] if len(batch) > 1 else None
        loss = self._loss(batch[0], index=index, key=("train", self._data_seed(), int(self.global_step)), augment=True)
        mean = self.trainer.strategy.reduce(loss.detach(), reduce_op="mean")  # over all processes (DDP)
        if not torch.isfinite(mean):  # every process stops, so the run directory is cleaned up
            fix = "lower --model.lr" if self.is_score else "lower --model.lr or raise --model.noise_std"
            raise PreimageError(f"score-matching loss diverged (non-finite) at step {self.global_step}; {fix}")
        self.log("train/loss", mean, prog_bar=True)  # already the global mean: no sync_dist
        return loss

    def validation_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        g = torch.Generator(self.device).manual_seed(1000 + batch_idx)  # the same noise at every validation
        index = batch[1] if self.is_score and len(batch) > 1 else None  # score priors: per sample, any split
        with torch.enable_grad():
            loss = self._loss(batch[0], g, index=index, key=("val", self._data_seed()))
        self.log("val/loss", loss, prog_bar=True, batch_size=len(batch[0]), sync_dist=True)
        return loss

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.energy.parameters(), lr=self.hparams.lr)
        if self.hparams.schedule == "constant":
            return opt
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # --- checkpoints and export ---------------------------------------------------------------
    def prior_meta(self) -> dict[str, Any]:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        meta = dm.meta() if dm is not None and hasattr(dm, "meta") else {}
        data = {k: meta.get(k) for k in ("images", "grey", "patch_size", "weights")}
        out = {"representation": meta.get("representation"), "layer": meta.get("layer"), "data": data,
               "loss": self.hparams.loss, "noise_std": self.hparams.noise_std}
        if self.is_score:
            out["augment"] = self.hparams.get("augment", "none")
        if self.hparams.get("init"):
            out["init"] = str(self.hparams["init"])
        return out

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # what the checkpoint holds, beside (not inside) the constructor arguments that
        # ``--ckpt_path`` restores through LightningCLI
        checkpoint["preimage"] = {"prior_kind": self.energy.kind, "prior_hparams": self.energy.hparams(),
                                  "prior_meta": self.prior_meta()}

    def on_train_start(self) -> None:
        self._t0, self._step0 = time.perf_counter(), int(self.global_step)

    def training_speed(self) -> dict[str, float]:
        """Wall time of the training loop and its throughput: samples (patches or crops) per
        second and p×p windows scored per second (a crop of side s holds (s − p + 1)² of them)."""
        dm = self.trainer.datamodule
        seconds = time.perf_counter() - getattr(self, "_t0", time.perf_counter())
        samples = (int(self.global_step) - getattr(self, "_step0", 0)) * dm.batch_size * self.trainer.world_size
        windows = samples * (dm.patch_size - getattr(self.energy, "patch_size", 1) + 1) ** 2
        return {"train_seconds": seconds, "samples_per_second": samples / max(seconds, 1e-9),
                "windows_per_second": windows / max(seconds, 1e-9)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_prior_checkpoint(checkpoint)
        kind = checkpoint["preimage"]["prior_kind"]
        if kind != self.energy.kind:
            raise PreimageError(f"the checkpoint holds a {kind} prior but the config trains a {self.energy.kind}; "
                                f"resume with the config that wrote it")


class ExportPrior(Callback):
    """At the end of ``fit``: the trained energy (pruned if ``model.prune``; λ tuned on the
    training photo unless ``model.lam`` is given) saved with
    :func:`preimage.priors.store.save_prior` as ``prior.pt`` in the run directory
    (``trainer.default_root_dir``) and to ``model.export`` when given. ``command``: the command
    line that reproduces the model, stored in its meta."""

    def __init__(self, command: str | None = None) -> None:
        self.command = command
        self.exported: Path | None = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run or not trainer.is_global_zero:
            return
        from preimage.priors.store import save_prior
        from preimage.train.analysis.denoise import tune_lambda

        module: PriorModule = pl_module  # type: ignore[assignment]
        hp = module.hparams
        speed = module.training_speed()  # before λ is tuned
        module.energy.eval()
        meta = module.prior_meta()
        energy = module.energy
        if hp.prune:                          # λ is tuned for the experts that are shipped
            from preimage.priors.prune import prune_experts

            energy, meta["pruned"] = prune_experts(module.energy, hp.prune)
        lam = hp.lam
        if lam is None and meta["representation"] is None and not module.is_score:  # a score prior denoises in one pass
            lam = tune_lambda(energy, hp.tune_image, bool(meta["data"].get("grey")), hp.tune_sigma, hp.tune_crop)
        meta.update(lam=1.0 if lam is None else float(lam), steps=int(trainer.global_step),
                    command=self.command, speed=speed)
        self.exported = save_prior(energy, Path(trainer.default_root_dir) / "prior.pt", meta)
        if hp.export:
            save_prior(energy, hp.export, meta)
