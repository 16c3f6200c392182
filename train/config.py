"""Presets (``configs/invert/*.yaml``) → dicts, with ``key=value`` overrides.

A preset is found by name (``squeezenet-cvpr15``) in ``configs/invert`` or by path.
Overrides use dotted keys into the nested dict (``optimiser.lr=0.01``,
``priors.tv.weight=5``); values are parsed as YAML. Overriding a key that the
preset does not have is an error (typos must not be silently ignored).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import yaml

from preimage.representations.errors import PreimageError

PRESET_DIR = Path(__file__).resolve().parents[1] / "configs" / "invert"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(spec: str) -> dict[str, Any]:
    """Load a preset by name or YAML path."""
    path = Path(spec)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = PRESET_DIR / f"{spec}.yaml"
    if not path.is_file():
        raise PreimageError(f"unknown preset {spec!r}; choose one of {', '.join(preset_names())} or give a .yaml file")
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    if not isinstance(cfg, dict):
        raise PreimageError(f"preset {path} is not a YAML mapping")
    cfg.setdefault("name", path.stem)
    return cfg


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``cfg`` with ``a.b.c=value`` overrides applied."""
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise PreimageError(f"override {item!r} is not of the form key=value (e.g. optimiser.lr=0.01)")
        node = cfg
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[:i]) or "the preset"
                have = ", ".join(node) if isinstance(node, dict) else "nothing (not a mapping)"
                raise PreimageError(f"cannot override {key!r}: {where} has no key {part!r} (it has {have})")
            if i == len(parts) - 1:
                node[part] = yaml.safe_load(raw) if raw.strip() else None
            else:
                node = node[part]
    return cfg


def dump(cfg: dict[str, Any]) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
