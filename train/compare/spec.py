"""Comparison configs (``configs/compare/*.yaml``): typed, with ``key=value`` overrides.

A comparison is representations → layers × methods; a METHOD is an invert preset plus
overrides (``{config: squeezenet-cvpr15, overrides: [priors.tv.weight=1]}``), run through
the project's invert job API, so every method — optimisation with handcrafted or learned
priors, an inverse network, a hybrid, HOGgle — is one entry. ``{layer}`` in an override is
replaced by the layer being inverted (per-layer checkpoints).

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

``optional: true`` marks a method whose checkpoint or code may be missing: it is left out
with a one-line note in the summary. A method the user names (``--methods``) never is.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import yaml

from preimage.representations.errors import PreimageError

PRESET_DIR = Path(__file__).resolve().parents[2] / "configs" / "compare"


@dataclass
class MethodSpec:
    """One method: an invert preset (name or .yaml) and overrides applied to it."""

    config: str
    overrides: list[str] = field(default_factory=list)
    optional: bool = False


@dataclass
class ProbeSpec:
    """CVPR'15 Sec. 4.2 probes of one method: the centre ``neigh``×``neigh`` window of
    neurons (objective.neigh) and channel groups (objective.filter_group)."""

    method: str
    layers: list[str] = field(default_factory=list)   # empty: every layer of the group
    neigh: int | None = None
    filter_groups: list[int] = field(default_factory=list)


@dataclass
class GroupSpec:
    """A representation with the layers to invert and the methods to compare on it."""

    layers: list[str]
    methods: dict[str, MethodSpec]
    probes: ProbeSpec | None = None


@dataclass
class CompareSpec:
    name: str
    images: list[str]
    representations: dict[str, GroupSpec]
    image_size: int | None = None
    restarts: int = 1
    seed: int = 0


def _check_keys(cls: type, raw: dict, where: str) -> None:
    valid = [f.name for f in fields(cls)]
    for key in raw:
        if key not in valid:
            near = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise PreimageError(f"unknown key {key!r} in {where}{hint}; valid keys: {', '.join(valid)}")
    missing = [f.name for f in fields(cls)
               if f.name not in raw and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise PreimageError(f"{where} lacks {', '.join(repr(m) for m in missing)}")



def _typed(value: Any, kind: type | tuple, what: str) -> Any:
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PreimageError(f"{what} must be a {names}, got {value!r}")
    return value


def _str_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    _typed(value, list, what)
    return [str(_typed(v, (str, int), f"each entry of {what}")) for v in value]


def _method(raw: Any, where: str) -> MethodSpec:
    if isinstance(raw, str):
        raw = {"config": raw}
    _typed(raw, dict, where)
    _check_keys(MethodSpec, raw, where)
    return MethodSpec(str(_typed(raw["config"], str, f"{where}.config")),
                      _str_list(raw.get("overrides") or [], f"{where}.overrides"),
                      bool(_typed(raw.get("optional", False), bool, f"{where}.optional")))


def _probes(raw: Any, where: str) -> ProbeSpec | None:
    if raw is None:
        return None
    _typed(raw, dict, where)
    _check_keys(ProbeSpec, raw, where)
    neigh = raw.get("neigh")
    return ProbeSpec(str(raw["method"]), _str_list(raw.get("layers") or [], f"{where}.layers"),
                     None if neigh is None else int(_typed(neigh, int, f"{where}.neigh")),
                     [int(_typed(g, int, f"{where}.filter_groups")) for g in raw.get("filter_groups") or []])


def _group(raw: Any, where: str) -> GroupSpec:
    _typed(raw, dict, where)
    _check_keys(GroupSpec, raw, where)
    methods = _typed(raw["methods"], dict, f"{where}.methods")
    if not methods:
        raise PreimageError(f"{where}.methods is empty; name at least one method")
    group = GroupSpec(_str_list(raw["layers"], f"{where}.layers"),
                      {str(k): _method(v, f"{where}.methods.{k}") for k, v in methods.items()},
                      _probes(raw.get("probes"), f"{where}.probes"))
    if not group.layers:
        raise PreimageError(f"{where}.layers is empty; name at least one layer")
    if group.probes and group.probes.method not in group.methods:
        raise PreimageError(f"{where}.probes.method {group.probes.method!r} is not one of its methods: "
                            f"{', '.join(group.methods)}")
    return group


def parse_spec(raw: dict) -> CompareSpec:
    """A mapping (YAML) → :class:`CompareSpec`; every key and type checked."""
    _typed(raw, dict, "the comparison config")
    _check_keys(CompareSpec, raw, "the comparison config")
    reps = _typed(raw["representations"], dict, "representations")
    if not reps:
        raise PreimageError("representations is empty; name at least one (e.g. squeezenet)")
    size = raw.get("image_size")
    restarts = int(_typed(raw.get("restarts", 1), int, "restarts"))
    if restarts < 1:
        raise PreimageError(f"restarts must be at least 1, got {restarts}")
    return CompareSpec(str(raw["name"]), _str_list(raw["images"], "images"),
                       {str(k): _group(v, f"representations.{k}") for k, v in reps.items()},
                       None if size is None else int(_typed(size, int, "image_size")), restarts,
                       int(_typed(raw.get("seed", 0), int, "seed")))


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_raw(spec: str) -> dict:
    """A comparison preset by name (``configs/compare``) or a .yaml path → its mapping."""
    path = Path(spec)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = PRESET_DIR / f"{spec}.yaml"
    if not path.is_file():
        raise PreimageError(f"unknown comparison {spec!r}; choose one of {', '.join(preset_names())} "
                            "or give a .yaml file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise PreimageError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    _typed(raw, dict, f"comparison config {path}")
    raw.setdefault("name", path.stem)
    return raw


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """A copy of ``raw`` with dotted ``key=value`` overrides (YAML values); a key that the
    config lacks is an error naming the keys it has (typos are never silently ignored)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise PreimageError(f"override {item!r} is not of the form key=value (e.g. restarts=1)")
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise PreimageError(f"override {item!r}: the value is not valid YAML; quote it or fix the brackets") \
                from None
        node = raw
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[:i]) or "the comparison config"
                have = ", ".join(map(str, node)) if isinstance(node, dict) else "nothing (not a mapping)"
                near = difflib.get_close_matches(part, list(map(str, node)) if isinstance(node, dict) else [], n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise PreimageError(f"cannot override {key!r}: {where} has no key {part!r}{hint}; it has {have}")
            if i == len(parts) - 1:
                node[part] = parsed
            else:
                node = node[part]
    return raw


def load_spec(spec: str, overrides: Sequence[str] = ()) -> tuple[CompareSpec, dict]:
    """Preset/path + ``key=value`` overrides (dotted, YAML values) → (spec, resolved mapping)."""
    raw = load_raw(spec)
    for key in ("image_size", "restarts", "seed"):  # optional keys can be overridden too
        raw.setdefault(key, {"restarts": 1, "seed": 0}.get(key))
    for group in (raw.get("representations") or {}).values():
        if isinstance(group, dict):
            group.setdefault("probes", None)
    raw = apply_overrides(raw, overrides)
    return parse_spec(copy.deepcopy(raw)), raw


def dump(raw: dict) -> str:
    return yaml.safe_dump(raw, sort_keys=False)
