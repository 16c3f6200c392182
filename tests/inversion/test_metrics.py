"""Metrics against hand-computed values."""

import pytest
import torch

from preimage.inversion.metrics import (image_mse, image_psnr, image_ssim, normalised_error_text, relative_error,
                               table1_error)


def test_relative_error():
    phi0 = torch.tensor([[3.0, 4.0]])
    assert float(relative_error(torch.tensor([[3.0, 4.0 + 5.0]]), phi0)) == pytest.approx(1.0)


def test_table1_error_matches_deep_goggle_formula():
    # three 1-D codes 0, 1, 3: pdist2² over all 9 pairs (diagonal included) = 2·(1 + 9 + 4) / 9
    orig = torch.tensor([[0.0], [1.0], [3.0]])
    rec = orig + torch.tensor([[1.0], [0.0], [2.0]])
    norm = 28 / 9
    torch.testing.assert_close(table1_error(rec, orig), torch.tensor([1.0, 0.0, 4.0], dtype=torch.float64) / norm)


def test_normalised_error_text_uses_mean_distance_of_distinct_pairs():
    orig = torch.tensor([[0.0], [1.0], [3.0]])
    rec = orig + torch.tensor([[1.0], [0.0], [2.0]])
    n_phi = (1 + 3 + 2) / 3
    torch.testing.assert_close(normalised_error_text(rec, orig), torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64) / n_phi)


def test_image_metrics():
    ref = torch.rand(1, 3, 32, 32)
    x = (ref + 0.1).clamp(0, 1)
    mse = image_mse(x, ref)
    torch.testing.assert_close(image_psnr(x, ref), -10 * torch.log10(mse))
    assert float(image_ssim(ref.repeat(2, 1, 1, 1), ref)[0]) == pytest.approx(1.0, abs=1e-4)
    assert float(image_ssim(x, ref)) < 1.0


@pytest.mark.parametrize("shape", [(3, 3, 40, 37), (2, 1, 23, 30)])
def test_psnr_and_ssim_equal_torchmetrics(shape):
    """Our PSNR and SSIM are torchmetrics' values (computed without importing it)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    g = torch.Generator().manual_seed(0)
    ref = torch.rand(1, *shape[1:], generator=g)
    x = (ref + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)
    want = torch.stack([peak_signal_noise_ratio(a[None], ref, data_range=1.0) for a in x])
    torch.testing.assert_close(image_psnr(x, ref), want)
    want = structural_similarity_index_measure(x, ref.expand_as(x), data_range=1.0, reduction="none")
    torch.testing.assert_close(image_ssim(x, ref), want, rtol=1e-5, atol=1e-6)
    assert (image_ssim(x, ref) < 0.9).all() and image_ssim(ref, ref).item() == pytest.approx(1.0, abs=1e-6)
