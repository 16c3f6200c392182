"""``preimage stats``: the Toeplitz distance is a projection's residual (idempotent,
orthogonal, zero on BTTB matrices), near its floor on a stationary field and far from it
on a non-stationary one; Gram and kurtosis against closed forms; the CLI's run directory
and bad input."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from preimage.train.cli.main import main
from preimage.train.analysis.stats import (excess_kurtosis, gram, layer_stats, standardise, tile_samples,
                                  toeplitz_distance, toeplitz_projection)

W = 6


def _stationary(n: int = 64, c: int = 16, h: int = 48, seed: int = 0) -> torch.Tensor:
    """White noise circularly convolved with a fixed 3×3 kernel: a stationary Gaussian field."""
    g = torch.Generator().manual_seed(seed)
    white = torch.randn(n * c, 1, h, h, generator=g, dtype=torch.float64)
    k = torch.tensor([[0.05, 0.1, 0.05], [0.1, 0.4, 0.1], [0.05, 0.1, 0.05]], dtype=torch.float64)
    return F.conv2d(F.pad(white, (1, 1, 1, 1), mode="circular"), k[None, None]).reshape(n, c, h, h)


def test_projection_is_orthogonal_and_idempotent():
    m = torch.randn(W * W, W * W, dtype=torch.float64)
    p = toeplitz_projection(m, W)
    assert torch.allclose(toeplitz_projection(p, W), p)
    assert abs(float(((m - p) * p).sum())) < 1e-9 * float(m.norm() ** 2)
    assert 0.0 < toeplitz_distance(m, W) < 1.0


def test_bttb_matrix_has_distance_zero():
    y, x = torch.meshgrid(torch.arange(W), torch.arange(W), indexing="ij")
    pos = torch.stack([y.flatten(), x.flatten()], 1).double()
    cov = torch.exp(-torch.cdist(pos, pos) / 2)  # exponential covariance: a function of displacement only
    assert toeplitz_distance(cov, W) < 1e-12
    assert toeplitz_distance(torch.diag(torch.arange(1.0, W * W + 1, dtype=torch.float64)), W) > 0.3


def test_stationary_field_is_near_its_bound_non_stationary_far():
    phi = _stationary()
    s = layer_stats(phi, "synthetic", window=W)
    floor = s.sampling_floor
    assert floor < 0.03
    assert s.toeplitz_distance_covariance < 2 * floor
    assert s.toeplitz_distance_inverse == pytest.approx(s.toeplitz_bound_inverse, abs=0.02)
    # the same field with a variance that changes across every tile: not stationary
    ramp = torch.linspace(0.2, 3.0, W, dtype=torch.float64).repeat(phi.shape[-1] // W)
    t = layer_stats(phi * ramp[:, None], "ramp", window=W)
    assert t.toeplitz_distance_inverse > 0.5 and t.toeplitz_distance_covariance > 0.3
    assert t.toeplitz_distance_inverse > t.toeplitz_bound_inverse + 0.5


def test_tiles_gram_kurtosis_sparsity():
    phi = torch.arange(2 * 3 * 4 * 4, dtype=torch.float64).reshape(2, 3, 4, 4)
    assert tile_samples(phi, 2).shape == (2 * 3 * 4, 4)
    assert torch.equal(tile_samples(phi, 2)[0], torch.tensor([0.0, 1.0, 4.0, 5.0], dtype=torch.float64))
    f = phi.flatten(2)
    assert torch.allclose(gram(phi), (f[0] @ f[0].T + f[1] @ f[1].T) / (2 * 16))
    g = torch.Generator().manual_seed(0)
    gauss = torch.randn(4, 2, 64, 64, generator=g, dtype=torch.float64)
    laplace = torch.distributions.Laplace(0.0, 1.0).sample((4, 2, 64, 64)).double()
    assert abs(excess_kurtosis(standardise(gauss))) < 0.2
    assert excess_kurtosis(standardise(laplace)) == pytest.approx(3.0, abs=0.4)
    relu = layer_stats(gauss.clamp_min(0), "relu", window=8)
    assert relu.fraction_zero == pytest.approx(0.5, abs=0.02)


def test_cli_writes_a_run_directory(tmp_path, capsys):
    out = tmp_path / "runs"
    rc = main(["stats", "--layer", "conv1", "fire2", "--images", "chelsea", "coffee", "--size", "64",
               "--window", "8", "--out", str(out)])
    assert rc == 0
    (run,) = out.iterdir()
    data = json.loads((run / "stats.json").read_text())
    assert set(data["layers"]) == {"conv1", "fire2"}
    conv1 = data["layers"]["conv1"]
    assert conv1["window"] == 8 and 0 <= conv1["toeplitz_distance_inverse"] <= 1
    assert (run / "conv1.png").stat().st_size > 1000 and (run / "fire2-matrices.npz").is_file()
    assert data["layers"]["fire2"]["fraction_zero"] > 0.2  # fire modules end in ReLUs
    assert str(run) in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--layer", "conv99"], "unknown layer 'conv99'"),
    (["--layer", "conv1", "--images", "EMPTY"], "holds no image files"),
    (["--layer", "fire9", "--size", "20"], "too small"),
    (["--layer", "conv1", "--ridge", "-1"], "ridge=-1 is not allowed: expected a finite number > 0"),
    (["--layer", "conv1", "ridge=nan"], "ridge=nan is not allowed: expected a finite number > 0"),
    (["--layer", "conv1", "--size", "0"], "size=0 is not allowed"),
    (["--layer", "conv1", "fire9", "--size", "24"], "--size 24 is too small for layer fire9 of squeezenet: give at least 25"),
    (["--layer", "conv1", "--size", "100000"], "--size 100000 is too large: give at most 4096 pixels"),
    (["--images", "chelsea"], "no layer given; pass --layer"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    argv = [str(tmp_path / "empty") if a == "EMPTY" else a for a in argv]
    if "--images" not in argv:
        argv = ["--images", "chelsea", *argv]
    out = tmp_path / "runs"
    rc = main(["stats", *argv, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1, err
    assert not out.exists() or not any(out.iterdir())
