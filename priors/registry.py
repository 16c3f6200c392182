"""Kinds of learned prior by name: each storable prior class registers itself here.

A storable prior is an ``nn.Module`` class with a ``kind`` (the name written in prior files)
and ``hparams()`` (its constructor's keyword arguments), so that ``cls(**hparams)`` rebuilds
it before its ``state_dict`` is loaded (:mod:`preimage.priors.store`). Energies (FoE, ICA,
GMM) and score priors (gradient only) share the one registry.
"""

from __future__ import annotations

from typing import TypeVar

from torch import nn

from preimage.representations.errors import PreimageError

_KINDS: dict[str, type[nn.Module]] = {}

P = TypeVar("P", bound=type)


def register_prior(cls: P) -> P:
    """Class decorator: make ``cls`` loadable under its ``kind`` (one class per kind)."""
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise PreimageError(f"{cls.__name__} has no 'kind' name; set the class attribute kind = '<name>'")
    other = _KINDS.get(kind)
    if other is not None and f"{other.__module__}.{other.__qualname__}" != f"{cls.__module__}.{cls.__qualname__}":
        raise PreimageError(f"prior kind {kind!r} is already registered by {other.__name__}; give {cls.__name__} "
                            f"its own kind name")
    _KINDS[kind] = cls
    return cls


def prior_classes() -> dict[str, type[nn.Module]]:
    """kind → class of every registered prior (the built-in ones are registered on importing
    :mod:`preimage.priors`)."""
    import preimage.priors  # noqa: F401  (registers the built-in kinds)

    return dict(_KINDS)
