"""Training does what it should (tiny runs): the held-out score-matching loss falls, and a
trained prior gives held-out natural patches lower energy than the same patches with their
pixels shuffled."""

import lightning.pytorch as pl
import pytest
import torch

from preimage.priors.foe import FieldOfExperts
from preimage.priors.ica import OvercompleteICA
from preimage.train.fit.patch_data import PatchDataModule
from preimage.train.fit.prior import PriorModule
from preimage.priors.score_matching import score_matching_loss


class HeldOutLoss(pl.Callback):
    """The exact score-matching loss on the held-out patches (fixed noise), after the whitening
    is fitted (start of training) and at the end."""

    def _loss(self, trainer, module) -> float:
        dm = trainer.datamodule
        g = torch.Generator().manual_seed(0)
        with torch.enable_grad():
            return float(score_matching_loss(module.energy, dm.val_patches, "exact", module.hparams.noise_std,
                                             generator=g))

    def on_train_start(self, trainer, module) -> None:
        self.before = self._loss(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        self.after = self._loss(trainer, module)


def _train(energy, steps: int, patch_size: int):
    dm = PatchDataModule(images=["camera"], grey=True, patch_size=patch_size, n_train=1500,
                         n_val=300, batch_size=64)
    module = PriorModule(energy, loss="exact", lr=2e-2, lam=1.0, schedule="constant")
    record = HeldOutLoss()
    trainer = pl.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                         callbacks=[record])
    trainer.fit(module, dm)
    return module, dm, record


@pytest.mark.parametrize("make", [lambda: FieldOfExperts(1, 3, 8, init="random"),
                                  lambda: OvercompleteICA(1, 3, 12, init="random")], ids=["foe", "ica"])
def test_training_lowers_the_heldout_loss(make):
    torch.manual_seed(0)
    _, _, rec = _train(make(), 40, patch_size=6)
    assert rec.after < rec.before - 0.05 * abs(rec.before), (rec.before, rec.after)


def test_trained_prior_prefers_natural_patches_to_shuffled_ones():
    torch.manual_seed(0)
    module, dm, _ = _train(FieldOfExperts(1, 3, 8, init="random"), 60, patch_size=8)
    x = dm.val_patches  # held-out columns: never seen in training
    g = torch.Generator().manual_seed(1)
    perm = torch.stack([torch.randperm(64, generator=g) for _ in range(len(x))])
    shuffled = torch.gather(x.flatten(1), 1, perm).reshape(x.shape)  # same pixels, structure destroyed
    with torch.no_grad():
        e_nat, e_shuf = module.energy(x), module.energy(shuffled)
    assert float(e_nat.mean()) < float(e_shuf.mean())
    assert float((e_nat < e_shuf).float().mean()) > 0.8
