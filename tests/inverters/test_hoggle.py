"""HOGgle (Vondrick et al. 2013): a tiny model learned in seconds beats a constant image in
the CVPR'15 Table 1 error on held-out photos; exact output size; codes solve the lasso of
Sec. 3.4; save/load round trip; bad input is one clear error and writes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from preimage.inversion.metrics import table1_error
from preimage.inverters.hoggle import HOGgle, HOGgleMeta, hog_representation, normalise
from preimage.inverters.hoggle_fit import fit_hoggle, paired_windows
from preimage.representations import resize_crop, resolve_images
from preimage.representations.errors import PreimageError
from preimage.train.cli.main import main


@pytest.fixture(scope="module")
def rep():
    return hog_representation("hog", 8)


@pytest.fixture(scope="module")
def tiny() -> HOGgle:
    """48 atoms from 3 photos at 160 px (~1,800 windows): a few seconds."""
    photos = [(n, resize_crop(img, 160)) for n, img in resolve_images(["astronaut", "camera", "chelsea"])]
    return fit_hoggle(photos, atoms=48, lam=0.02, windows=3000, epochs=1, batch_size=128, seed=0)


@pytest.fixture(scope="module")
def held_out(rep) -> torch.Tensor:
    """Held-out photos as 160×160 grey inputs (B, 1, H, W) in HOG's units."""
    rgb = torch.stack([resize_crop(img, 160) for _, img in resolve_images(["coffee", "china", "grace_hopper"])])
    return rep.convention.preprocess(rgb)


def test_beats_constant_image_in_table1_error(tiny, held_out, rep):
    phi0 = rep(held_out)["hog"][:, :27]                           # Table 1 scores the 27 orientation channels
    rec = tiny.reconstruct(held_out)
    err = table1_error(rep(rec)["hog"][:, :27], phi0)
    # the best constant image: each photo's mean grey (any constant has HOG 0, the honest baseline)
    const = held_out.mean((1, 2, 3), keepdim=True).expand_as(held_out).contiguous()
    err_const = table1_error(rep(const)["hog"][:, :27], phi0)
    assert (err < err_const).all(), (err, err_const)
    assert err.mean() < 0.8 * err_const.mean()


def test_constant_image_error_is_the_feature_energy(held_out, rep):
    """A constant image has no gradient, hence HOG 0: its error is ‖Φ₀‖² / mean pairwise ‖Φᵢ − Φⱼ‖²."""
    phi0 = rep(held_out)["hog"][:, :27]
    const = torch.zeros_like(held_out)
    assert rep(const)["hog"].abs().max() == 0
    norm = torch.cdist(phi0.flatten(1).double(), phi0.flatten(1).double()).pow(2).mean()
    expect = phi0.flatten(1).double().pow(2).sum(1) / norm
    assert torch.allclose(table1_error(rep(const)["hog"][:, :27], phi0), expect)


@pytest.mark.parametrize("size", [(36, 36), (101, 150), (64, 45)])
def test_output_has_the_input_size(tiny, rep, size):
    x = torch.rand(1, 1, *size) * 255 - 128
    out = tiny.reconstruct(x)
    assert out.shape == x.shape
    assert out.min() >= -128 and out.max() <= 127 and out.max() - out.min() > 200  # stretched (ihog)


def test_codes_solve_the_nonnegative_lasso(tiny, held_out, rep):
    """KKT of min_{α≥0} ½‖y − Vα‖² + λ‖α‖₁: gᵢ = (Vᵀ(Vα − y))ᵢ = −λ where αᵢ > 0, gᵢ ≥ −λ elsewhere."""
    phi = rep(held_out[:1])["hog"].double()
    y = normalise(torch.nn.functional.unfold(phi, 5).transpose(1, 2)[0, :20])
    a = tiny.codes(y)
    v = tiny.d_hog.double()
    g = (a @ v - y) @ v.T
    lam = tiny.meta.lam
    assert (a >= 0).all() and (a > 0).any()
    assert torch.allclose(g[a > 0], torch.full_like(g[a > 0], -lam), atol=1e-4)
    assert (g[a == 0] >= -lam - 1e-4).all()


def test_pairs_align_patch_and_window(rep):
    """Patch k surrounds the window starting at cell k + 1: a bright square in one patch shows in its window."""
    x = torch.full((1, 1, 96, 96), -100.0)
    x[..., 40:48, 40:48] = 100.0                                  # cell (5, 5)
    grey, hog = paired_windows(x, rep, 8, 5)
    n = 6                                                            # per row: min((96−56)/8 + 1, 12 − 5)
    assert grey.shape == (n * n, 56 * 56) and hog.shape == (n * n, 31 * 25)
    k = 3 * n + 3                                                    # patch at pixel 24: window cells 4..8
    patch = grey[k].reshape(56, 56)
    assert patch[16:24, 16:24].min() == 100.0                        # pixels 40..47 sit 16..23 into the patch
    centre = hog[k].reshape(31, 5, 5)[:, 1:3, 1:3]                   # cells 5, 6 around the square's edges
    assert centre.abs().sum() > 0


def test_save_load_round_trip(tiny, held_out, tmp_path):
    path = tiny.save(tmp_path / "m.npz")
    again = HOGgle.load(path)
    assert again.meta == tiny.meta
    half = lambda t: t.half().float()                                # stored as float16
    assert torch.equal(again.d_grey, half(tiny.d_grey)) and torch.equal(again.d_hog, half(tiny.d_hog))
    a, b = tiny.reconstruct(held_out), again.reconstruct(held_out)
    assert (a - b).abs().mean() < 1.0                                # input units, 0–255 range
    assert not list(tmp_path.glob("*.part"))


def test_bad_files_and_mismatches(tiny, tmp_path, rep):
    with pytest.raises(PreimageError, match="not found"):
        HOGgle.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(PreimageError, match="not a readable HOGgle model"):
        HOGgle.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3), meta=np.array('{"kind": "inverter"}'))
    with pytest.raises(PreimageError, match="not a HOGgle model"):
        HOGgle.load(tmp_path / "other.npz")
    with pytest.raises(PreimageError, match="inverts hog with 8-pixel cells"):
        tiny.check("dsift", 8)
    with pytest.raises(PreimageError, match="inverts hog with 8-pixel cells"):
        tiny.check("hog", 4)
    x = torch.zeros(1, 1, 64, 64)
    phi = rep(x)["hog"]
    with pytest.raises(PreimageError, match="31, H', W'"):
        tiny(phi[:, :27], (64, 64))
    with pytest.raises(PreimageError, match="HOG cells"):
        tiny(phi, (80, 64))
    with pytest.raises(PreimageError, match="at least 36x36"):
        tiny.reconstruct(torch.zeros(1, 1, 30, 30))
    with pytest.raises(PreimageError, match="held out"):
        fit_hoggle(resolve_images(["coffee"]), atoms=4, windows=10)
    with pytest.raises(PreimageError, match="do not match"):
        HOGgle(torch.zeros(4, 10), torch.zeros(4, 775), HOGgleMeta(atoms=4, lam=0.02))


def test_cli_fit_writes_a_loadable_model(tmp_path, capsys):
    from preimage.representations import save_image

    img = tmp_path / "photo.png"
    save_image(resize_crop(resolve_images(["chelsea"])[0][1], 112), img)
    out = tmp_path / "m.npz"
    assert main(["hoggle", "fit", "--images", str(img), "--atoms", "8", "--windows", "300", "--epochs", "1",
                 "--out", str(out)]) == 0
    model = HOGgle.load(out)
    assert model.meta.atoms == 8 and model.meta.command.startswith("preimage hoggle fit --images")
    assert f"--out {out}" in model.meta.command and model.meta.extra["images"] == ["photo"]
    outdir = tmp_path / "recs"
    assert main(["hoggle", "invert", "--image", str(img), "--model", str(out), "--out", str(outdir)]) == 0
    assert (outdir / "photo-hoggle.png").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--images", "no-such-photo", "--out", "{tmp}/m.npz"], "not found"),
    (["--images", "chelsea", "--lam", "-1", "--out", "{tmp}/m.npz"], "--lam must be positive"),
    (["--images", "chelsea", "--out", "{tmp}/m.pt"], "must name a .npz"),
    (["--images", "chelsea", "--out", "{tmp}/nowhere/m.npz"], "does not exist"),
    (["--images", "grace_hopper", "--out", "{tmp}/m.npz"], "held out"),
    (["--images", "chelsea", "--atoms", "0", "--out", "{tmp}/m.npz"], "must be positive integers"),
])
def test_cli_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["hoggle", "fit", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_invert_missing_model_writes_nothing(tmp_path, capsys):
    out = tmp_path / "recs"
    assert main(["hoggle", "invert", "--image", "chelsea", "--model", str(tmp_path / "none.npz"),
                 "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err and not out.exists()
