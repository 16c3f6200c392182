"""Prior files: round trip of every kind, Lightning checkpoints, one clear error for bad files."""

import pytest
import torch

from preimage.priors import list_priors, load_prior, save_prior
from preimage.priors.store import PRETRAINED
from preimage.representations.errors import PreimageError

from learned_cases import ALL, make


@pytest.mark.parametrize("name", ALL)
def test_round_trip(tmp_path, name):
    e = make(name)
    path = save_prior(e, tmp_path / "p.pt", {"lam": 0.25, "layer": "conv1", "command": "preimage prior fit ..."})
    loaded = load_prior(path)
    assert type(loaded.energy) is type(e) and not loaded.energy.training
    assert loaded.lam == 0.25 and loaded.layer == "conv1" and loaded.meta["kind"] == e.kind
    assert loaded.meta["hparams"] == e.hparams() and loaded.meta["patch_size"] == e.patch_size
    z = torch.randn(2, e.channels, 7, 8, dtype=torch.float64)
    torch.testing.assert_close(loaded.energy.double()(z), e(z))
    assert list(tmp_path.iterdir()) == [path]                          # no temporary left behind


def test_lightning_checkpoint_of_a_prior_loads(tmp_path):
    e = make("foe-separable")
    ckpt = {"state_dict": {f"energy.{k}": v for k, v in e.state_dict().items()}, "epoch": 3,
            "hyper_parameters": {"prior_kind": "foe", "prior_hparams": e.hparams(), "prior_meta": {"lam": 0.1},
                                 "lr": 1e-3}}
    torch.save(ckpt, tmp_path / "last.ckpt")
    loaded = load_prior(tmp_path / "last.ckpt")
    assert loaded.lam == 0.1 and loaded.meta["checkpoint"].endswith("last.ckpt")
    z = torch.randn(1, e.channels, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(loaded.energy.double()(z), e(z))
    # the LightningCLI form: the energy as a class spec in the hyper-parameters
    ckpt["hyper_parameters"] = {"energy": {"class_path": "preimage.priors.foe.FieldOfExperts", "init_args": e.hparams()}}
    torch.save(ckpt, tmp_path / "cli.ckpt")
    torch.testing.assert_close(load_prior(tmp_path / "cli.ckpt").energy.double()(z), e(z))


def _bad_files(tmp_path):
    e = make("foe-full-zca")
    (tmp_path / "junk.pt").write_bytes(b"\x00not a torch file" * 10)
    good = save_prior(e, tmp_path / "good.pt")
    (tmp_path / "truncated.pt").write_bytes(good.read_bytes()[:200])
    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "state_dict.pt")              # a plain state dict
    torch.save({"state_dict": {"net.0.weight": torch.zeros(2)},                               # an inverter's checkpoint
                "hyper_parameters": {"layer": "conv3", "lr": 1e-3}}, tmp_path / "inverter.ckpt")
    payload = torch.load(good, weights_only=True)
    payload["state_dict"].pop("alpha_raw")
    torch.save(payload, tmp_path / "missing.pt")
    payload["kind"] = "vae"
    torch.save(payload, tmp_path / "kind.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    return ["junk.pt", "truncated.pt", "state_dict.pt", "inverter.ckpt", "missing.pt", "kind.pt", "list.pt"]


def test_bad_files_are_one_clear_error(tmp_path):
    for name in _bad_files(tmp_path):
        with pytest.raises(PreimageError) as info:
            load_prior(tmp_path / name)
        msg = str(info.value)
        assert "\n" not in msg and name in msg and ("give" in msg or "re-create" in msg or "known kinds" in msg), msg
    with pytest.raises(PreimageError, match="unknown prior 'foe-purple'"):
        load_prior("foe-purple")
    with pytest.raises(PreimageError, match="does not exist"):
        load_prior(tmp_path / "absent.pt")


def test_shipped_priors_are_listed_and_load():
    names = list_priors()
    assert names == sorted(p.stem for p in PRETRAINED.glob("*.pt"))
    for n in names:
        loaded = load_prior(n)
        assert loaded.meta["kind"] == loaded.energy.kind and loaded.meta.get("command")
