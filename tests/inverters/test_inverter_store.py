"""Checkpoints round-trip (weights_only), say what they are, and refuse another network,
another layer, features of the wrong shape, a missing file or a file of another kind."""

from dataclasses import replace

import pytest
import torch

from preimage.inverters import Inverter, build_inverter, load_inverter, read_checkpoint, save_inverter
from preimage.representations import PreimageError, build_representation


@pytest.fixture(scope="module")
def inv():
    rep = build_representation("squeezenet", taps=["pool1"])
    torch.manual_seed(1)
    return build_inverter(rep, "pool1", "upsample", width=8, image_size=48)


def test_round_trip_same_outputs_and_meta(inv, tmp_path):
    path = save_inverter(inv, tmp_path / "a" / "inv.pt", mode="joint", command="preimage inverter fit --config x")
    back = load_inverter(path, "squeezenet", "pool1")
    phi = torch.randn(2, *inv.spec.shapes[-1])
    with torch.no_grad():
        assert torch.equal(back(phi), inv(phi))
    assert back.spec == inv.spec
    meta = read_checkpoint(path)["meta"]
    assert meta["representation"] == "squeezenet" and meta["layer"] == "pool1" and meta["block"] == "upsample"
    assert meta["mode"] == "joint" and meta["image_size"] == 48 and meta["command"].startswith("preimage")
    assert not (tmp_path / "a" / "inv.pt.tmp").exists()


def test_wrong_network_layer_or_missing_file(inv, tmp_path):
    path = save_inverter(inv, tmp_path / "inv.pt")
    with pytest.raises(PreimageError, match="trained for squeezenet, not alexnet"):
        load_inverter(path, "alexnet", "pool1")
    with pytest.raises(PreimageError, match="inverts layer pool1, not fire2"):
        load_inverter(path, "squeezenet", "fire2")
    with pytest.raises(PreimageError, match="no inverter checkpoint"):
        load_inverter(tmp_path / "missing.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(PreimageError, match="not an inverter checkpoint"):
        load_inverter(tmp_path / "other.pt")


def test_feature_shape_mismatch_is_one_clear_error(inv):
    with pytest.raises(PreimageError, match=r"takes \(B, 64, h, w\)"):
        inv(torch.randn(1, 32, 11, 11))
    with pytest.raises(PreimageError, match="do not come from a 48x48 image"):
        inv(torch.randn(1, 64, 5, 5))
    other = Inverter(replace(inv.spec, block="transposed"))
    assert sum(p.numel() for p in other.parameters()) > 0
