"""LightningModule training an :class:`~preimage.inverters.Inverter` (the thesis' modular
inverse networks; Dosovitskiy & Brox 2016).

Modes (block ``k`` maps Φₖ → Φₖ₋₁; Φ₀ is the image in the representation's input units):

- ``stacked``: every block is fed the *true* Φₖ and scored against the true Φₖ₋₁. The blocks
  share no input, so their losses are independent and Adam trains each exactly as if alone;
  chaining them gives the inverter.
- ``joint``: the chain runs from Φ_L; every block's output is scored against the true Φₖ₋₁
  and feeds the next block.
- ``end_to_end``: the chain runs from Φ_L; only the image is scored.
- ``finetune``: ``joint`` started from ``init_checkpoint`` (a short joint fine-tune of a
  stacked chain).

With one module (a chain of one block: SqueezeNet conv1, HOG, DSIFT) the block's target is the
image, so stacked, joint and end to end are the same loss and the same training; the command
line says so.

The image term is the MSE in input units; a feature term at stage k is its MSE relative to
the batch's mean Φₖ₋₁², times the image's mean square, so every term is in image units.
``feature_loss`` > 0 adds λ·‖Φ_L(x̂) − Φ_L(x)‖² in the same units. ``val/loss`` is the
mode's own loss on the validation crops (a split of the training photos,
:class:`~preimage.train.fit.crops.InverterData`); ``val/image_mse`` and ``val/psnr`` score the chain's
image whatever the mode.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Literal

import torch
from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from lightning import Callback, LightningModule, Trainer
from torch import Tensor

from preimage.inverters import build_inverter, load_inverter, save_inverter
from preimage.representations import build_representation
from preimage.representations.errors import PreimageError

MODES = ("stacked", "joint", "end_to_end", "finetune")
# With a single module (SqueezeNet conv1, HOG, DSIFT) its target is the image, so these coincide.
SAME_WITH_ONE_MODULE = ("stacked", "joint", "end_to_end")


def check_inverter_checkpoint(ckpt: dict, name: str = "--ckpt_path") -> None:
    """Refuse a Lightning checkpoint that was not written by :class:`InverterTask` (a prior's,
    say); ``name``: the file, as the message says it."""
    prior = ckpt.get("preimage") or {}
    if "prior_kind" in prior:
        meta = prior.get("prior_meta") or {}
        space = f"{meta.get('representation')} {meta['layer']}" if meta.get("layer") else "the image"
        raise PreimageError(f"{name} is a checkpoint of a prior ({prior['prior_kind']} on {space}, written by "
                            f"'preimage prior fit'), not of an inverter; give a .ckpt written by 'preimage inverter "
                            f"fit' (runs/inverter/<run>/checkpoints/)")
    if not any(str(k).startswith("inverter.") for k in ckpt.get("state_dict") or {}):
        raise PreimageError(f"{name} is not a checkpoint of an inverter (no inverter weights in it); give a .ckpt "
                            f"written by 'preimage inverter fit' (runs/inverter/<run>/checkpoints/)")


def _rel_mse(out: Tensor, target: Tensor, scale: Tensor) -> Tensor:
    return (out - target).pow(2).mean() / target.pow(2).mean().clamp_min(1e-12) * scale


class InverterTask(LightningModule):
    """Train an inverter of ``representation`` at ``layer`` (module docstring: the modes and losses).

    Args:
        representation: the network or descriptor inverted (``squeezenet``, ``hog``, ``dsift``, …).
        layer: its layer whose code is inverted (``conv1``, ``pool1``, ``fire3``, ``hog``, …).
        weights: the representation's weights (default: its own offline default).
        block: inverse block, ``transposed`` (transposed convolution → ReLU → convolution) or
            ``upsample`` (resize → convolution).
        width: hidden channels per block.
        mode: ``stacked`` (each block trained alone on the true features), ``joint`` (the chain
            from Φ_L, every block scored), ``end_to_end`` (the chain, its image scored) or
            ``finetune`` (``joint`` started from ``init_checkpoint``).
        lr: Adam's learning rate, cosine-annealed to 0 over ``trainer.max_steps``.
        feature_loss: weight λ of ‖Φ_L(x̂) − Φ_L(x)‖² (relative, in image units) added to the loss; 0: off.
        init_checkpoint: start from this saved inverter (.pt; required by ``finetune``).
        image_size: input side at which the stage shapes are recorded (default: the representation's).
        export: also save the best inverter to this path (the run's ``checkpoints/`` always
            gets ``inverter.pt``).
        normalise: per-stage scales learned from the data (:func:`~preimage.inverters.build_inverter`;
            used for HOG).
        depth: extra 3×3 context convolutions per block.
    """

    def __init__(self, representation: str = "squeezenet", layer: str = "conv1", weights: str | None = None,
                 block: Literal["transposed", "upsample"] = "transposed", width: PositiveInt = 64,
                 mode: Literal["stacked", "joint", "end_to_end", "finetune"] = "joint", lr: PositiveFloat = 1e-3,
                 feature_loss: NonNegativeFloat = 0.0, init_checkpoint: str | None = None,
                 image_size: PositiveInt | None = None, export: str | None = None, normalise: bool = False,
                 depth: NonNegativeInt = 0) -> None:
        super().__init__()
        if mode not in MODES:
            raise PreimageError(f"unknown training mode {mode!r}; choose one of {', '.join(MODES)}")
        if mode == "finetune" and not init_checkpoint:
            raise PreimageError("mode finetune needs model.init_checkpoint: the stacked inverter to fine-tune")
        if export:  # refused now, not after training
            from preimage.representations.files import check_writable

            check_writable(export, "model.export")
        self.save_hyperparameters()
        rep = build_representation(representation, taps=[layer], weights=weights)
        if init_checkpoint:
            self.inverter = load_inverter(init_checkpoint, representation, layer).train()
        else:
            self.inverter = build_inverter(rep, layer, block, width, image_size, weights, normalise, depth)
        stages = self.inverter.spec.stages
        # not a submodule: the frozen network is neither trained nor saved in checkpoints
        object.__setattr__(self, "phi", rep.with_taps(stages) if hasattr(rep, "with_taps") else rep)
        self.mode, self.feature_weight = mode, float(feature_loss)
        if len(self.inverter.blocks) == 1 and mode in SAME_WITH_ONE_MODULE:
            # WARNING: the command line shows Lightning's warnings only (lightning_app.py)
            logging.getLogger("lightning.pytorch").warning(
                f"{representation} {layer} has one inverse module (image ← {layer}): the modes "
                f"{', '.join(SAME_WITH_ONE_MODULE)} are the same training (the module's target is the image)")

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        need = self.phi.min_input_size(self.inverter.layer)
        if dm is not None and getattr(dm, "crop", need) < need:
            raise PreimageError(f"crops of {dm.crop} pixels are too small for {self.inverter.layer}: "
                                f"use data.crop of at least {need}")

    def _pairs(self, rgb: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Φ_L and the targets of every block (block order, image last), no grad."""
        phi = self.phi.to(rgb.device)
        x = phi.convention.preprocess(rgb)
        with torch.no_grad():
            feats = phi(x)
        stages = self.inverter.spec.stages
        return feats[stages[-1]], [feats[s] for s in reversed(stages[:-1])] + [x]

    def losses(self, rgb: Tensor) -> dict[str, Tensor]:
        """The mode's loss, its terms and the chain's image MSE for a batch of RGB crops."""
        phi_l, targets = self._pairs(rgb)
        sizes = [tuple(t.shape[-2:]) for t in targets]
        scale = targets[-1].pow(2).mean()
        if self.mode == "stacked":
            inputs = [phi_l] + targets[:-1]
            outs = [self.inverter.step(k, i, s) for k, (i, s) in enumerate(zip(inputs, sizes))]
            chain = self.inverter(phi_l, sizes) if not self.training else None
        else:
            outs = self.inverter(phi_l, sizes, return_all=True)
            chain = outs[-1]
        terms = {}
        for k, (o, t, name) in enumerate(zip(outs, targets, self.inverter.targets)):
            if self.mode != "end_to_end" or k == len(outs) - 1:
                terms[name] = (o - t).pow(2).mean() if k == len(outs) - 1 else _rel_mse(o, t, scale)
        if self.feature_weight > 0:
            image = outs[-1] if chain is None else chain
            feats = self.phi(image)[self.inverter.layer]
            terms["feature"] = self.feature_weight * _rel_mse(feats, phi_l, scale)
        out = {"loss": sum(terms.values()), **{f"loss_{k}": v for k, v in terms.items()}}
        if chain is not None:
            out["image_mse"] = (chain - targets[-1]).pow(2).mean()
        return out

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        out = self.losses(batch)
        self.log_dict({f"train/{k}": v.detach() for k, v in out.items() if k != "loss"})
        self.log("train/loss", out["loss"].detach(), prog_bar=True)
        return out["loss"]

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        out = self.losses(batch)
        unit = self.phi.convention.scale / (sum(self.phi.convention.std) / len(self.phi.convention.std))
        psnr = 10 * math.log10(unit**2) - 10 * torch.log10(out["image_mse"].clamp_min(1e-20))
        self.log("val/loss", out["loss"], prog_bar=True)
        self.log("val/image_mse", out["image_mse"])
        self.log("val/psnr", psnr, prog_bar=True)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.inverter.parameters(), lr=self.hparams.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class ExportInverter(Callback):
    """At the end of ``fit``: reload the best checkpoint's weights and save the inverter with
    :func:`~preimage.inverters.save_inverter` (meta: mode, steps, validation loss, training and validation data, command)
    as ``inverter.pt`` beside the checkpoints, and to ``model.export`` when given. ``command``:
    the command line that reproduces the model, stored in its meta."""

    def __init__(self, command: str | None = None) -> None:
        self.command = command
        self.exported: Path | None = None

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.fast_dev_run:
            return
        ckpt = trainer.checkpoint_callback
        best = getattr(ckpt, "best_model_path", "") if ckpt is not None else ""
        if best:
            state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
            pl_module.load_state_dict(state)
        score = getattr(ckpt, "best_model_score", None)
        meta = {"mode": pl_module.mode, "steps": int(trainer.global_step), "block": pl_module.inverter.spec.block,
                "feature_loss": pl_module.feature_weight,
                "val_loss": None if score is None else float(score), "data": _data_meta(trainer.datamodule),
                "command": self.command}
        paths = []
        if best:
            paths.append(Path(best).parent / "inverter.pt")
        if pl_module.hparams.export:
            paths.append(pl_module.hparams.export)
        for p in paths:
            save_inverter(pl_module.inverter, p, **meta)
        self.exported = Path(paths[0]) if paths else None


def _data_meta(dm: Any) -> dict[str, Any] | None:
    """What the inverter was trained and selected on (stored in its meta)."""
    if dm is None or not hasattr(dm, "images"):
        return None
    return {"images": list(dm.images), "val_images": dm.val_images,
            "val_fraction": None if dm.val_images is not None else dm.val_fraction}
