"""A score prior trains the same under DDP as in one process: each sample's DSM noise is a
function of (data seed, step, its index), whatever batch or process it is in; the global
batches are the same for one process of 16 and two of 8; and ``prior fit --trainer.strategy ddp
--trainer.devices 2`` (two CPU processes, gloo) logs the same loss curve and exports the same
weights as one process, in one run directory. Multiprocessing strategies are refused in one line."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from preimage.train.fit.patch_data import PatchDataModule
from preimage.train.fit.prior import dihedral_draws, dsm_draws

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1", WANDB_MODE="offline")
TINY = ["--config", "score-grey", "model.energy.init_args.features=4", "model.energy.init_args.depth=4",
        "model.energy.init_args.dilations=null", "data.patch_size=16", "data.n_train=64", "data.n_val=16",
        "data.images=[astronaut]", "trainer.max_steps=6", "trainer.log_every_n_steps=1",
        "trainer.val_check_interval=3", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
        "trainer.precision=32"]  # float32: the equality is up to float rounding, which bf16 (the config's) coarsens


def test_dsm_draws_belong_to_the_sample_not_to_its_batch():
    index = torch.tensor([5, 0, 63, 17, 8, 2])
    key = ("train", 0, 3)
    sigma, noise = dsm_draws(index, (1, 4, 4), key, 0.01, 0.4)
    perm = torch.tensor([3, 1, 5, 0, 4, 2])
    s_a, n_a = dsm_draws(index[perm[:2]], (1, 4, 4), key, 0.01, 0.4)  # another split, another order
    s_b, n_b = dsm_draws(index[perm[2:]], (1, 4, 4), key, 0.01, 0.4)
    assert torch.equal(torch.cat([s_a, s_b]), sigma[perm]) and torch.equal(torch.cat([n_a, n_b]), noise[perm])
    assert ((0.01 <= sigma) & (sigma <= 0.4)).all() and len(set(sigma.tolist())) == len(index)
    for other in (("train", 0, 4), ("train", 1, 3), ("val", 0)):  # another step, data seed or stream
        s, n = dsm_draws(index, (1, 4, 4), other, 0.01, 0.4)
        assert not torch.equal(s, sigma) and not torch.equal(n, noise)


def test_dihedral_draws_belong_to_the_sample_not_to_its_batch():
    index = torch.arange(64)
    key = ("train", 0, 3)
    k = dihedral_draws(index, key)
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([dihedral_draws(index[perm[:20]], key), dihedral_draws(index[perm[20:]], key)]),
                       k[perm])
    assert set(k.tolist()) == set(range(8)) and not torch.equal(dihedral_draws(index, ("train", 0, 4)), k)


def test_augmented_dsm_step_is_dsm_on_the_rotated_patches_and_energies_refuse_it():
    from preimage.priors.denoise import dihedral
    from preimage.priors.dsm import dsm_score_loss
    from preimage.priors.foe import FieldOfExperts
    from preimage.priors.score import ScoreDenoiser
    from preimage.representations.errors import PreimageError
    from preimage.train.fit.prior import PriorModule

    torch.manual_seed(0)
    e = ScoreDenoiser(channels=1, features=4, depth=3, sigma_min=0.02, sigma_max=0.3)
    with torch.no_grad():
        e.convs[-1].weight.normal_(0, 0.3)
    x, index, key = torch.rand(6, 1, 8, 8), torch.tensor([4, 9, 0, 33, 2, 7]), ("train", 0, 5)
    sigma, noise = dsm_draws(index, (1, 8, 8), key, 0.02, 0.3)
    k = dihedral_draws(index, key)
    rotated = torch.stack([dihedral(xi, int(ki)) for xi, ki in zip(x, k)])
    assert not torch.equal(rotated, x)
    on = PriorModule(e, loss="dsm", augment="dihedral")
    want = dsm_score_loss(e, rotated, 0.02, 0.3, noise=noise, sigma=sigma).loss
    torch.testing.assert_close(on._loss(x, index=index, key=key, augment=True), want, rtol=0, atol=0)
    plain = dsm_score_loss(e, x, 0.02, 0.3, noise=noise, sigma=sigma).loss
    assert not torch.allclose(want, plain)
    torch.testing.assert_close(on._loss(x, index=index, key=key), plain, rtol=0, atol=0)  # validation: as cut
    off = PriorModule(e, loss="dsm")  # the default: the patches as cut
    torch.testing.assert_close(off._loss(x, index=index, key=key, augment=True), plain, rtol=0, atol=0)
    with pytest.raises(PreimageError) as err:
        PriorModule(FieldOfExperts(n_experts=2, patch_size=3, channels=1), augment="dihedral")
    assert "score priors" in str(err.value) and "model.augment=none" in str(err.value)


def _global_batches(dm: PatchDataModule, world: int, epoch: int) -> list[torch.Tensor]:
    per_rank = []
    for rank in range(world):
        dm.trainer = SimpleNamespace(world_size=world, global_rank=rank)
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)  # as Lightning's fit loop does every epoch
        per_rank.append([idx for _, idx in loader])
    dm.trainer = None
    return [torch.cat(step).sort().values for step in zip(*per_rank)]  # the loss is a mean: order is moot


def test_one_process_of_16_sees_the_global_batches_of_two_of_8():
    patches = torch.rand(70, 1, 4, 4)
    dm = PatchDataModule(batch_size=16)
    dm.train_patches = patches
    dm.global_order = True
    one = [_global_batches(dm, 1, e) for e in (0, 1)]
    dm.batch_size = 8
    two = [_global_batches(dm, 2, e) for e in (0, 1)]
    for a, b in zip(one, two):
        assert len(a) == len(b) == 4 and all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(torch.cat(one[0]), torch.cat(one[1]))  # set_epoch: a new order every epoch
    x, idx = next(iter(dm.train_dataloader()))
    assert torch.equal(x, patches[idx])


def _fit(cwd: Path, *args: str) -> Path:
    cwd.mkdir()
    p = subprocess.run([sys.executable, "-m", "preimage.train.cli", "prior", "fit", *TINY, *args], cwd=cwd,
                       env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    runs = list((cwd / "runs" / "prior").iterdir())
    assert len(runs) == 1 and p.stdout.strip() == str(Path("runs/prior") / runs[0].name), (runs, p.stdout)
    return runs[0]


def _curve(run: Path, column: str) -> dict[int, float]:
    with open(run / "metrics.csv") as f:
        return {int(r["step"]): float(r[column]) for r in csv.DictReader(f) if r[column]}


@pytest.mark.parametrize("augment", ["none", pytest.param("dihedral", marks=pytest.mark.slow)])
def test_ddp_on_two_processes_gives_the_loss_curve_and_weights_of_one(tmp_path, augment):
    from preimage.priors.store import load_prior

    aug = f"model.augment={augment}"
    one = _fit(tmp_path / "one", "data.batch_size=16", "trainer.devices=1", aug)
    two = _fit(tmp_path / "two", "data.batch_size=8", "trainer.devices=2", "--trainer.strategy", "ddp", aug)
    for column, steps in (("train/loss", list(range(6))), ("val/loss", [2, 5])):
        a, b = _curve(one, column), _curve(two, column)
        assert sorted(a) == sorted(b) == steps, (column, a, b)
        torch.testing.assert_close(torch.tensor(list(b.values())), torch.tensor(list(a.values())),
                                   rtol=1e-5, atol=0)
    assert len(set(_curve(one, "train/loss").values())) == 6  # the steps differ: a curve, not a constant
    wa, wb = load_prior(one / "prior.pt").energy.state_dict(), load_prior(two / "prior.pt").energy.state_dict()
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-4, atol=1e-6)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())


def test_multiprocessing_strategies_are_refused_in_one_line(tmp_path, monkeypatch, capsys):
    from preimage.train.cli.main import main

    monkeypatch.chdir(tmp_path)
    rc = main(["prior", "fit", *TINY, "data.batch_size=8", "trainer.devices=2", "trainer.strategy=ddp_spawn"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "ddp_spawn" in err[0] and "--trainer.strategy ddp" in err[0], err
    assert not (tmp_path / "runs").exists()
