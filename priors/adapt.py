"""A prior trained in one pixel convention used in another: E'(x) = E(M x + c) (energies),
s'(x, σ) = Mᵀ s(M x + c, σ) (score priors, :func:`score_for_convention`).

Image priors are trained on RGB (or grey) images in [0, 1]; a representation takes its own
input (e.g. 0–255, mean-subtracted, BGR). :func:`for_convention` builds the per-pixel affine
channel map from the representation's input to the prior's space (undoing the convention,
then luma for a grey prior, or repeating a grey input for a colour prior), so that

    E'(x) = E(M x + c),     ∂E'/∂x = Mᵀ ∂E/∂z |_{z = M x + c}      (M: C_prior × C_input)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from preimage.priors.learned import PatchEnergy

from preimage.representations.images import LUMA  # noqa: E402  (the one grey conversion)


class ChannelAffine(nn.Module):
    """``energy`` evaluated at M x + c per pixel; ``forward`` (B,) and closed-form ``value_and_grad``."""

    def __init__(self, energy: PatchEnergy, matrix: Tensor, offset: Tensor) -> None:
        super().__init__()
        self.energy = energy
        self.register_buffer("matrix", matrix.detach().clone())      # (C_prior, C_input)
        self.register_buffer("offset", offset.detach().clone())      # (C_prior,)

    def _map(self, x: Tensor) -> Tensor:
        m, c = self.matrix.to(x.dtype), self.offset.to(x.dtype)
        return torch.einsum("pc,bchw->bphw", m, x) + c[None, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        return self.energy(self._map(x))

    def value_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        value, g = self.energy.value_and_grad(self._map(x))
        return value, torch.einsum("pc,bphw->bchw", self.matrix.to(g.dtype), g)


def convention_to_rgb(convention) -> tuple[Tensor, Tensor]:
    """(R, r): RGB in [0, 1] = R x + r for a representation input x, from its ``InputConvention``
    (x = (scale · rgb − mean) / std, channels possibly BGR or grey)."""
    cin = convention.channels
    std = torch.as_tensor(convention.std, dtype=torch.float64).reshape(-1).expand(cin)
    mean = torch.as_tensor(convention.mean, dtype=torch.float64).reshape(-1).expand(cin)
    r_mat = torch.zeros(3, cin, dtype=torch.float64)
    r_off = torch.zeros(3, dtype=torch.float64)
    for c in range(3):
        src = 0 if cin == 1 else (2 - c if convention.channel_order == "BGR" else c)
        r_mat[c, src] = std[src] / convention.scale
        r_off[c] = mean[src] / convention.scale
    return r_mat, r_off


def for_convention(energy: PatchEnergy, convention) -> ChannelAffine:
    """Wrap an image prior trained on [0, 1] RGB (3 channels) or grey (1 channel) for inputs in
    the representation's ``convention``."""
    r_mat, r_off = convention_to_rgb(convention)
    if energy.channels == 1:
        luma = torch.tensor([LUMA], dtype=torch.float64)
        r_mat, r_off = luma @ r_mat, luma @ r_off          # (1, C_in), (1,)
    elif energy.channels != 3:
        from preimage.representations.errors import PreimageError

        raise PreimageError(f"an image prior has 1 or 3 channels, this one has {energy.channels}; "
                            f"use it on the feature map it was trained on (set its layer)")
    return ChannelAffine(energy, r_mat, r_off)


class ScoreAffine(nn.Module):
    """A score prior trained in one convention used in another: the gradient-only analogue of
    :class:`ChannelAffine`. For log p'(x) = log p(M x + c),

        s'(x, σ) = Mᵀ s(M x + c, σ)        (σ stays in the prior's units)

    ``channels`` is the input's C; ``has_energy`` False like the wrapped prior."""

    has_energy = False

    def __init__(self, prior: nn.Module, matrix: Tensor, offset: Tensor) -> None:
        super().__init__()
        self.prior = prior
        self.register_buffer("matrix", matrix.detach().clone())      # (C_prior, C_input)
        self.register_buffer("offset", offset.detach().clone())      # (C_prior,)
        self.channels, self.layer = int(matrix.shape[1]), None
        self.representation = getattr(prior, "representation", None)

    def score(self, x: Tensor, sigma) -> Tensor:
        m, c = self.matrix.to(x.dtype), self.offset.to(x.dtype)
        s = self.prior.score(torch.einsum("pc,bchw->bphw", m, x) + c[None, :, None, None], sigma)
        return torch.einsum("pc,bphw->bchw", m, s)

    def forward(self, x: Tensor) -> Tensor:
        raise self.prior.no_energy()


def score_for_convention(prior: nn.Module, convention) -> ScoreAffine:
    """Wrap an image score prior trained on [0, 1] RGB or grey for inputs in the representation's
    ``convention`` (as :func:`for_convention` does for energies)."""
    from preimage.representations.errors import PreimageError

    if getattr(prior, "layer", None) is not None:
        raise PreimageError(f"score prior of layer {prior.layer} is not an image prior; place it at its layer "
                            f"(ScoreTerm(layer={prior.layer!r})) instead of converting it to an input convention")
    r_mat, r_off = convention_to_rgb(convention)
    if prior.channels == 1:
        luma = torch.tensor([LUMA], dtype=torch.float64)
        r_mat, r_off = luma @ r_mat, luma @ r_off
    elif prior.channels != 3:
        raise PreimageError(f"an image score prior has 1 or 3 channels, this one has {prior.channels}; "
                            f"use it on the feature map it was trained on (set its layer)")
    return ScoreAffine(prior, r_mat, r_off)
