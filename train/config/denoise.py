"""The typed options of ``preimage prior denoise`` (validated by the one config validator,
so ``--sigma nan`` and ``sigma=nan`` get the same one-line error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Sequence

from preimage.train.config.types import NonNegInt, PosFloat, PosInt, Range
from preimage.train.config.validate import from_data

Sigma255 = Annotated[float, Range(gt=0, le=255)]


@dataclass
class DenoiseConfig:
    """``prior``: a shipped name, .pt or .ckpt; ``image``: files, folders or bundled photos;
    ``sigma``: noise std on the 0–255 scale; ``lam``: λ (null: the prior's own); ``crop``: the
    centre SIZE×SIZE crop; ``seed``: of the noise; ``out``: parent of the run directory;
    ``route``: ``auto`` (MAP / EPLL for an energy, one pass of D for a score prior),
    ``one-pass``, ``red`` (score priors only: RED's fixed point, λ weighting the prior) or
    ``ensemble`` (score priors only: D averaged over the 8 rotations × flips of the image, each
    undone; 8 passes)."""

    prior: str
    image: list[str]
    sigma: Sigma255 = 25.0
    lam: PosFloat | None = None
    crop: PosInt | None = None
    seed: NonNegInt = 0
    out: str = "runs"
    route: Literal["auto", "one-pass", "red", "ensemble"] = "auto"


def denoise_config(options: dict[str, Any], overrides: Sequence[str] = ()) -> DenoiseConfig:
    """Command-line options (unset ones left out) + ``key=value`` overrides → validated config."""
    from preimage.train.config.overrides import apply_overrides

    data = {k: v for k, v in options.items() if v is not None}
    data = apply_overrides(data, overrides, schema=DenoiseConfig)
    return from_data(DenoiseConfig, data)
