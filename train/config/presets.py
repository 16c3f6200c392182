"""The one preset resolver: every command takes ``--config NAME`` (a file in
``configs/<kind>/``) or a path to a YAML file, with the same did-you-mean message.

Kinds: ``invert``, ``compare``, ``prior``, ``inverter`` (the folders of ``configs/``).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from preimage.representations.errors import PreimageError

CONFIG_ROOT = Path(__file__).resolve().parents[2] / "configs"
KINDS = ("invert", "compare", "prior", "inverter")


def preset_dir(kind: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown preset kind {kind!r}; kinds: {', '.join(KINDS)}")
    return CONFIG_ROOT / kind


def preset_names(kind: str) -> list[str]:
    """Short names of the presets of ``kind``, sorted."""
    return sorted(p.stem for p in preset_dir(kind).glob("*.yaml"))


def resolve_preset(kind: str, spec: str | Path) -> Path:
    """A short name or a YAML path → the file. A name that is neither a file nor a preset is
    one error listing the presets (with the closest one first when it looks like a typo)."""
    path = Path(spec)
    if path.is_file():
        return path
    names = preset_names(kind)
    if path.suffix in (".yaml", ".yml") or "/" in str(spec):
        raise PreimageError(f"config file {spec} not found; give an existing .yaml file or a {kind} preset: "
                            f"{', '.join(names)}")
    named = preset_dir(kind) / f"{spec}.yaml"
    if named.is_file():
        return named
    close = difflib.get_close_matches(str(spec), names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise PreimageError(f"unknown preset {str(spec)!r}{hint}; choose one of the {kind} presets "
                        f"{', '.join(names)} or give a .yaml file")


def read_yaml(path: str | Path) -> Any:
    """A YAML file's data; unreadable or invalid files are one error naming the file and line."""
    path = Path(path)
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
