"""The typed options of ``preimage stats`` (validated by the one config validator, so
``--ridge nan``, ``ridge=-1`` and ``--size 0`` get the same one-line error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from preimage.train.config.types import PosFloat, PosInt
from preimage.train.config.validate import from_data


@dataclass
class StatsConfig:
    """``model``/``weights``: the representation; ``layer``: the layers measured; ``images``:
    files, folders or bundled photos (default: every bundled photo); ``size``: input side
    (default: the model's; at least every layer's minimum); ``window``: side of the tiles whose
    covariance is measured; ``ridge``: ε / (tr Σ / d) added before inverting (> 0);
    ``out``: parent of the run directory."""

    layer: list[str]
    model: str = "squeezenet"
    weights: str | None = None
    images: list[str] | None = None
    size: PosInt | None = None
    window: PosInt = 16
    ridge: PosFloat = 1e-3
    out: str = "runs"


def stats_config(options: dict[str, Any], overrides: Sequence[str] = ()) -> StatsConfig:
    """Command-line options (unset ones left out) + ``key=value`` overrides → validated config."""
    from preimage.train.config.overrides import apply_overrides

    data = {k: v for k, v in options.items() if v is not None}
    data = apply_overrides(data, overrides, schema=StatsConfig)
    return from_data(StatsConfig, data)
