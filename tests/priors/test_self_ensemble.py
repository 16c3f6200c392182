"""The geometric self-ensemble of a score prior's denoiser: the 8 elements of the dihedral group
D₄ are distinct and undone exactly (any H, W), an equivariant D is its own ensemble, a
non-equivariant D averages to the hand-computed mean over the orbit of its direction, and bad
input is refused in one line."""

from __future__ import annotations

import pytest
import torch

from preimage.priors.denoise import DIHEDRAL, dihedral, ensemble_denoise, undo_dihedral
from preimage.priors.score import ScoreDenoiser
from preimage.representations.errors import PreimageError


def test_the_eight_dihedral_elements_are_distinct_and_undone_exactly():
    x = torch.randn(2, 3, 5, 7)  # non-square: odd rotations give (…, 7, 5)
    seen = []
    for k in range(DIHEDRAL):
        g = dihedral(x, k)
        assert g.shape[-2:] == ((5, 7) if k % 2 == 0 else (7, 5))
        assert torch.equal(undo_dihedral(g, k), x)
        seen.append(dihedral(x[..., :5, :5], k))
    assert all(not torch.equal(seen[i], seen[j]) for i in range(DIHEDRAL) for j in range(i))
    assert torch.equal(dihedral(x, 4), x.flip(-1)) and torch.equal(dihedral(x, 1), torch.rot90(x, 1, (-2, -1)))


class Shifted(torch.nn.Module):
    """A non-equivariant denoiser D(z) = z + a·(z shifted one pixel right, circularly)² (it looks
    only to the left)."""

    has_energy = False

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a, self.calls = a, 0

    def denoise(self, z: torch.Tensor, sigma: float) -> torch.Tensor:
        self.calls += 1
        return z + self.a * torch.roll(z, 1, -1).square()


def test_a_non_equivariant_denoiser_averages_over_the_four_directions():
    """g⁻¹ D(g y) = y + a·(y shifted along g⁻¹(→))²; over D₄ the direction → has the orbit
    {→, ←, ↑, ↓}, each reached by 2 of the 8 elements, so the ensemble is
    y + a/4 Σ_{4 directions} (shifted y)²."""
    y = torch.randn(2, 1, 6, 9, dtype=torch.float64)
    d = Shifted(0.3)
    got = ensemble_denoise(d, y, 0.1)
    shifts = [torch.roll(y, s, dim) for dim in (-1, -2) for s in (1, -1)]
    want = y + 0.3 / 4 * sum(s.square() for s in shifts)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert d.calls == DIHEDRAL
    assert not torch.allclose(got, d.denoise(y, 0.1))  # it is not the one pass
    # the first 2 elements (identity, rot90 counter-clockwise): the pixel to the left and the one above
    two = ensemble_denoise(d, y, 0.1, transforms=2)
    torch.testing.assert_close(two, y + 0.15 * (torch.roll(y, 1, -1).square() + torch.roll(y, 1, -2).square()),
                               rtol=0, atol=1e-12)


def test_an_equivariant_denoiser_is_its_own_ensemble():
    """A ScoreDenoiser of 1×1 convolutions is a pointwise map, so it commutes with every g."""
    torch.manual_seed(0)
    prior = ScoreDenoiser(channels=1, features=8, depth=3, kernel_size=1, sigma_min=0.02, sigma_max=0.3).double()
    with torch.no_grad():
        prior.convs[-1].weight.normal_(0, 0.3)
    y = torch.rand(3, 1, 7, 10, dtype=torch.float64)
    one = prior.denoise(y, 0.1)
    assert not torch.allclose(one, y)
    torch.testing.assert_close(ensemble_denoise(prior, y, 0.1), one, rtol=0, atol=1e-12)
    identity = ScoreDenoiser(channels=1, features=4, depth=4, residual=True, unshuffle=2).double()  # D = id
    torch.testing.assert_close(ensemble_denoise(identity, y, 0.1), y, rtol=0, atol=1e-14)


def test_a_3x3_denoiser_is_not_equivariant_but_its_ensemble_is():
    torch.manual_seed(1)
    prior = ScoreDenoiser(channels=1, features=6, depth=3, sigma_min=0.02, sigma_max=0.3).double()
    with torch.no_grad():
        prior.convs[-1].weight.normal_(0, 0.3)
    y = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    assert not torch.allclose(prior.denoise(dihedral(y, 1), 0.1), dihedral(prior.denoise(y, 0.1), 1))
    for k in range(DIHEDRAL):  # E(g y) = g E(y)
        torch.testing.assert_close(ensemble_denoise(prior, dihedral(y, k), 0.1), dihedral(ensemble_denoise(prior, y, 0.1), k),
                                   rtol=0, atol=1e-12)


def test_bad_input_is_refused_in_one_line():
    from preimage.priors.store import load_prior

    prior = ScoreDenoiser(channels=1, features=4, depth=2)
    cases = [(lambda: ensemble_denoise(load_prior("foe-grey").energy, torch.rand(1, 1, 8, 8), 0.1), "score prior"),
             (lambda: ensemble_denoise(prior, torch.rand(1, 8, 8), 0.1), "(B, C, H, W)"),
             (lambda: ensemble_denoise(prior, torch.rand(1, 1, 8, 8), 0.1, transforms=3), "1, 2, 4 or 8"),
             (lambda: ensemble_denoise(prior, torch.rand(1, 1, 8, 8), -0.1), "sigma"),
             (lambda: dihedral(torch.rand(1, 1, 4, 4), 8), "0…7")]
    for call, words in cases:
        with pytest.raises(PreimageError) as e:
            call()
        assert words in str(e.value) and "\n" not in str(e.value)
