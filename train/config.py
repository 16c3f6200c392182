"""Presets (``configs/invert/*.yaml``) and user YAML files → validated config dicts, with
``key=value`` overrides. Everything goes through one schema
(:class:`preimage.train.schema.InvertConfig`), so a typo'd key, a wrong type or an
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
from preimage.train.schema import InvertConfig, parse_config, to_data
from preimage.train.schema_core import field_type, variant_base

PRESET_DIR = Path(__file__).resolve().parents[1] / "configs" / "invert"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise PreimageError(f"config {path} is not a text file; give a YAML preset") from None
    except OSError as e:
        raise PreimageError(f"cannot read config {path} ({e.strerror}); give a readable YAML file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise PreimageError(f"config {path} is not valid YAML{where} ({problem}); fix the file") from None


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
    path = Path(spec)
    if not path.is_file():
        if path.suffix in (".yaml", ".yml") or "/" in spec:
            raise PreimageError(f"config file {spec} not found; give an existing .yaml file or a preset: "
                                f"{', '.join(preset_names())}")
        path = PRESET_DIR / f"{spec}.yaml"
        if not path.is_file():
            raise PreimageError(f"unknown preset {spec!r}; choose one of {', '.join(preset_names())} "
                                "or give a .yaml file")
    data = _read_yaml(path)
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return normalise(data, source=path.name)


def _set(cfg: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` in ``cfg``, walking the schema alongside: a changed variant tag
    starts that section afresh; intermediate sections are created as needed."""
    parts = key.split(".")
    node: Any = cfg
    tp: Any = InvertConfig
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


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a validated copy of ``cfg`` with ``a.b.c=value`` overrides applied in order."""
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise PreimageError(f"override {item!r} is not of the form key=value (e.g. optimiser.lr=0.01)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise PreimageError(f"override {item!r}: the value is not valid YAML; quote it or fix the brackets") from None
        _set(cfg, key, value)
        cfg = normalise(cfg)
    return cfg


def dump(cfg: dict[str, Any] | InvertConfig) -> str:
    data = to_data(cfg) if isinstance(cfg, InvertConfig) else cfg
    return yaml.safe_dump(data, sort_keys=False)
