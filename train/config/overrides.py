"""Presets (``configs/invert/*.yaml``) and user YAML files → validated config dicts, with
``key=value`` overrides. Everything goes through one schema
(:class:`preimage.train.config.invert.InvertConfig`), so a typo'd key, a wrong type or an
out-of-range value is one error line whether it comes from a preset, a file or an
override.

Overrides use dotted keys (``optimiser.lr=0.01``, ``priors.tv.weight=5``); values are
parsed as YAML. Setting a variant's tag (``optimiser.name=adam``, ``box.mode=clamp``,
``objective=caricature``) replaces that section by the variant's own defaults; a new
name under ``priors`` adds a prior (its type defaults to the name).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import yaml

from preimage.representations.errors import PreimageError
from preimage.train.config.invert import InvertConfig, parse_config, to_data
from preimage.train.config.presets import preset_names as _preset_names
from preimage.train.config.presets import preset_dir, read_yaml, resolve_preset
from preimage.train.config.types import field_type, variant_base

PRESET_DIR = preset_dir("invert")


def preset_names() -> list[str]:
    return _preset_names("invert")


def normalise(data: Any, source: str | None = None) -> dict[str, Any]:
    """Validate plain data against the schema; the complete dict (every default filled)."""
    if not isinstance(data, dict):
        where = f"config {source}" if source else "the config"
        raise PreimageError(f"{where} is not a YAML mapping of keys to values (got {type(data).__name__}); "
                            "start from a preset in configs/invert/")
    try:
        return to_data(parse_config(data))
    except PreimageError as e:
        if source:
            raise PreimageError(f"{source}: {e}") from None
        raise


def load_preset(spec: str) -> dict[str, Any]:
    """Load and validate a preset by name or YAML path (its name defaults to the file's stem)."""
    path = resolve_preset("invert", spec)
    data = read_yaml(path)
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return normalise(data, source=path.name)


def set_key(cfg: dict[str, Any], key: str, value: Any, schema: Any = InvertConfig) -> None:
    """Set dotted ``key`` in ``cfg``, walking the schema type alongside: a changed variant tag
    starts that section afresh; intermediate sections are created as needed. Unknown keys are
    left for the validator, which names them with a did-you-mean."""
    parts = key.split(".")
    node: Any = cfg
    tp: Any = schema
    for i, part in enumerate(parts):
        if not isinstance(node, dict):
            where = ".".join(parts[:i])
            raise PreimageError(f"cannot set {key!r}: {where} is {node!r}, not a section with keys")
        ftp = field_type(tp, node, part)
        base = variant_base(tp)
        if i == len(parts) - 1:
            if base is not None and part == base.tag and node.get(part) != value:
                node.clear()
            node[part] = value
            return
        if node.get(part) is None or not isinstance(node.get(part), dict):
            vb = variant_base(ftp) if ftp is not None else None
            old = node.get(part)
            node[part] = {vb.tag: old} if vb is not None and isinstance(old, str) else {}
        node, tp = node[part], ftp


def parse_override(item: str) -> tuple[str, Any]:
    """``a.b.c=value`` → (``"a.b.c"``, the value parsed as YAML; empty → None)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not p for p in key.split(".")):
        raise PreimageError(f"override {item!r} is not of the form key=value (e.g. optimiser.lr=0.01)")
    try:
        return key, (yaml.safe_load(raw) if raw.strip() else None)
    except yaml.YAMLError:
        raise PreimageError(f"override {item!r}: the value is not valid YAML; quote it or fix the brackets") from None


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str], schema: Any = InvertConfig,
                    normalise_with: Any = None) -> dict[str, Any]:
    """Return a validated copy of ``cfg`` with ``a.b.c=value`` overrides applied in order;
    ``schema`` is the config's type (the invert job's by default) and ``normalise_with`` the
    function that validates and completes the data after each override (``normalise`` for
    invert jobs)."""
    check = normalise_with or (normalise if schema is InvertConfig else None)
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, value = parse_override(item)
        set_key(cfg, key, value, schema)
        if check is not None:
            cfg = check(cfg)
    return cfg


def dump(cfg: dict[str, Any] | InvertConfig) -> str:
    data = to_data(cfg) if isinstance(cfg, InvertConfig) else cfg
    return yaml.safe_dump(data, sort_keys=False)
