"""Comparison configs (``configs/compare/*.yaml``): typed, with ``key=value`` overrides.

A comparison is representations → layers × methods; a METHOD is an invert preset plus
overrides (``{config: squeezenet-cvpr15, overrides: [priors.tv.weight=1]}``), run through
the project's invert job API, so every method — optimisation with handcrafted or learned
priors, an inverse network, a hybrid, HOGgle — is one entry. ``{layer}`` in an override is
replaced by the layer being inverted (per-layer checkpoints).

``from_layer: {L: [overrides]}`` adds overrides from layer L on: they apply when the layer
being inverted is L or deeper (in the network's depth order), after ``overrides`` and
shallowest L first. This places something at every layer at or below the inverted one, e.g.
a feature-map prior on conv1 for conv1, pool1, fire3…, one on fire3 for fire3 and deeper,
never a prior on a layer deeper than the one matched. Its keys must be layers of the
representation (an unknown one is one error when planning); its overrides are checked like
``overrides`` (the invert schema, per layer).

Layout (every key is checked; a typo is one error naming the valid keys)::

    name: default
    images: [coffee, china, grace_hopper]
    image_size: 227          # every method's image_size
    restarts: 2              # every method's repeats
    seed: 0
    representations:
      squeezenet:            # label; must be the representation its methods' presets invert
        layers: [conv1, pool1, fire3]
        probes: {method: cvpr15, layers: [fire3], neigh: 5, filter_groups: [1, 2]}
        methods:
          cvpr15: {config: squeezenet-cvpr15, overrides: [...]}
          inverter: {config: squeezenet-cvpr15, overrides: [method.name=inverter], optional: true}
          cvpr15+score@layers:
            config: squeezenet-cvpr15
            overrides: ["priors.score={type: learned, prior: score-rgb}"]
            from_layer:      # conv1, pool1: + conv1's prior; fire3 and deeper: + conv1's and fire3's
              conv1: ["priors.conv1={type: learned, prior: score-squeezenet-conv1}"]
              fire3: ["priors.fire3={type: learned, prior: score-squeezenet-fire3}"]
            optional: true

``optional: true`` marks a method whose checkpoint or code may be missing: it is left out
with a one-line note in the summary (at the layers where it fails: a missing feature-map
prior of fire3 leaves the method out at fire3 and deeper only). A method the user names
(``--methods``) never is. A sampling method (``method.name=langevin``) is compared like the
others; its restarts are its samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import yaml

from preimage.representations.errors import PreimageError
from preimage.train.config.overrides import apply_overrides as _apply
from preimage.train.config.presets import preset_names as _preset_names
from preimage.train.config.presets import read_yaml, resolve_preset
from preimage.train.config.types import NonNegInt, PosInt, to_data
from preimage.train.config.validate import from_data


@dataclass
class MethodSpec:
    """One method: an invert preset (name or .yaml), overrides applied to it, and overrides
    applied from a layer on (``from_layer``: layer → overrides, see the module docstring)."""

    config: str
    overrides: list[str] = field(default_factory=list)
    optional: bool = False
    from_layer: dict[str, list[str]] = field(default_factory=dict)

    def overrides_at(self, layer: str, order: Sequence[str]) -> list[str]:
        """``overrides`` then those of every ``from_layer`` entry at or above ``layer`` in
        ``order`` (the network's layers, shallowest first; every key and ``layer`` in it)."""
        depth = order.index(layer)
        keys = sorted(self.from_layer, key=order.index)
        return list(self.overrides) + [o for k in keys if order.index(k) <= depth for o in self.from_layer[k]]


@dataclass
class ProbeSpec:
    """CVPR'15 Sec. 4.2 probes of one method: the centre ``neigh``×``neigh`` window of
    neurons (objective.neigh) and channel groups (objective.filter_group)."""

    method: str
    layers: list[str] = field(default_factory=list)   # empty: every layer of the group
    neigh: PosInt | None = None
    filter_groups: list[Literal[1, 2]] = field(default_factory=list)


@dataclass
class GroupSpec:
    """A representation with the layers to invert and the methods to compare on it (a method
    given as a bare string is short for ``{config: string}``)."""

    layers: list[str] | str
    methods: dict[str, MethodSpec | str]
    probes: ProbeSpec | None = None

    def __post_init__(self) -> None:
        self.layers = [self.layers] if isinstance(self.layers, str) else self.layers
        self.methods = {k: MethodSpec(v) if isinstance(v, str) else v for k, v in self.methods.items()}
        if not self.layers:
            raise PreimageError("a representation's layers are empty; name at least one layer")
        if not self.methods:
            raise PreimageError("a representation's methods are empty; name at least one method")
        if self.probes and self.probes.method not in self.methods:
            raise PreimageError(f"probes.method {self.probes.method!r} is not one of its methods: "
                                f"{', '.join(self.methods)}")


@dataclass
class CompareSpec:
    name: str
    images: list[str] | str
    representations: dict[str, GroupSpec]
    image_size: PosInt | None = None
    restarts: PosInt = 1
    seed: NonNegInt = 0

    def __post_init__(self) -> None:
        self.images = [self.images] if isinstance(self.images, str) else self.images
        if not self.representations:
            raise PreimageError("representations is empty; name at least one (e.g. squeezenet)")


def parse_spec(raw: Any) -> CompareSpec:
    """A mapping (YAML) → :class:`CompareSpec`; every key, type and range checked by the one
    config validator (:func:`preimage.train.config.validate.from_data`)."""
    if not isinstance(raw, dict):
        raise PreimageError(f"the comparison config is not a YAML mapping of keys to values (got {type(raw).__name__}); "
                            "start from a preset in configs/compare/")
    return from_data(CompareSpec, raw)


def preset_names() -> list[str]:
    return _preset_names("compare")


def load_raw(spec: str) -> dict:
    """A comparison preset by name (``configs/compare``) or a .yaml path → its mapping."""
    path = resolve_preset("compare", spec)
    raw = read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PreimageError(f"comparison config {path} is not a YAML mapping of keys to values; fix the file")
    raw.setdefault("name", path.stem)
    return raw


def normalise(raw: Any) -> dict:
    """Validate and complete (every default filled) a comparison mapping."""
    return to_data(parse_spec(raw))


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """A validated copy of ``raw`` with dotted ``key=value`` overrides (YAML values), the same
    syntax and rules as ``preimage invert``'s (a typo'd key is one error with did-you-mean)."""
    return _apply(normalise(raw), overrides, schema=CompareSpec, normalise_with=normalise)


def load_spec(spec: str, overrides: Sequence[str] = ()) -> tuple[CompareSpec, dict]:
    """Preset/path + ``key=value`` overrides (dotted, YAML values) → (spec, resolved mapping)."""
    raw = apply_overrides(load_raw(spec), overrides)
    return parse_spec(raw), raw


def dump(raw: dict) -> str:
    return yaml.safe_dump(raw, sort_keys=False)
