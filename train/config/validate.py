"""``from_data``: validate plain data (from YAML) against a schema type and build the
typed value; the rules are read off the type hints (see :mod:`preimage.train.config.types`)."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal, Union

from preimage.representations.errors import PreimageError
from preimage.train.config.types import (_BASES, Range, Variant, _key, _show, _strip, describe, variant_base,
                                        variants)


def _bad(path: str, value: Any, tp: Any) -> PreimageError:
    return PreimageError(f"{path}={_show(value)} is not allowed: expected {describe(tp)}")


def from_data(tp: Any, value: Any, path: str = "", key_default: str | None = None) -> Any:
    """Validate plain data (from YAML) against type ``tp`` and build the typed value."""
    base, meta = _strip(tp)
    origin = typing.get_origin(base)
    if base is Any:
        return value
    if base is type(None):
        if value is None:
            return None
        raise _bad(path, value, tp)
    if origin in (Union, types.UnionType):
        arms = typing.get_args(base)
        if value is None and type(None) in arms:
            return None
        aimed = []
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return from_data(arm, value, path, key_default)
            except PreimageError as e:
                if _aims(arm, value):
                    aimed.append(e)
        if aimed:  # the value is clearly meant for a structured arm: its precise (deeper) message
            raise aimed[0]
        raise _bad(path, value, tp)
    if origin is Literal:
        if value in typing.get_args(base) and not isinstance(value, bool):
            return value
        raise _bad(path, value, tp)
    if base in (int, float, bool, str):
        out = _scalar(base, value, path, tp)
        for m in meta:
            if isinstance(m, Range) and not m.ok(out):
                raise _bad(path, value, tp)
        return out
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _bad(path, value, tp)
        args = typing.get_args(base)
        if origin is tuple and Ellipsis not in args:
            if len(value) != len(args):
                raise _bad(path, value, tp)
            return tuple(from_data(a, v, _key(path, i)) for i, (a, v) in enumerate(zip(args, value)))
        out = [from_data(args[0], v, _key(path, i)) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise _bad(path, value, tp)
        vt = typing.get_args(base)[1]
        return {str(k): from_data(vt, v, _key(path, str(k)), key_default=str(k)) for k, v in value.items()}
    if isinstance(base, type) and issubclass(base, Variant) and _BASES.get(base.kind) is base:
        return _variant(base, value, path, key_default)
    if dataclasses.is_dataclass(base):
        return _dataclass(base, value, path)
    raise TypeError(f"schema type {tp!r} at {path} is not supported")  # a schema bug, not bad input


def _aims(arm: Any, value: Any) -> bool:
    """Whether ``value`` is shaped for ``arm`` (a mapping for a dataclass, a list for a list...)."""
    arm, _ = _strip(arm)
    origin = typing.get_origin(arm)
    if isinstance(value, dict):
        return origin is dict or dataclasses.is_dataclass(arm) or variant_base(arm) is not None
    if isinstance(value, (list, tuple)):
        return origin in (list, tuple)
    return isinstance(value, str) and variant_base(arm) is not None


def _scalar(base: type, value: Any, path: str, tp: Any) -> Any:
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif base is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e6 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise _bad(path, value, tp) from None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif isinstance(value, str):
        return value
    raise _bad(path, value, tp)


def _suggest(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _variant(base: type, value: Any, path: str, key_default: str | None) -> Any:
    where = path or "the config"
    if (value is None or value is False) and base.none_tag is not None:  # YAML 1.1 reads `off` as false
        value = {base.tag: base.none_tag}
    if isinstance(value, str):
        value = {base.tag: value}
    if not isinstance(value, dict):
        raise _bad(path, value, base)
    name = value.get(base.tag, key_default if key_default is not None else base.default)
    table = variants(base.kind)
    if name not in table:
        label = base.label or base.kind
        raise PreimageError(f"{_key(path, base.tag)}: unknown {label} {_show(name)}"
                            f"{_suggest(str(name), list(table))}; choose one of {', '.join(table)}")
    rest = {k: v for k, v in value.items() if k != base.tag}
    return _dataclass(table[name], rest, path, context=f"{where} ({base.tag} {name})")


def _dataclass(cls: type, value: Any, path: str, context: str | None = None) -> Any:
    where = context or path or "the config"
    if not isinstance(value, dict):
        raise _bad(path, value, cls)
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for k in value:
        if k not in fields:
            allowed = list(fields)
            have = f"it has {', '.join(allowed)}" if allowed else "it has no keys"
            raise PreimageError(f"{where} has no key {_show(k)}{_suggest(str(k), allowed)}; {have}")
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = from_data(hints[name], value[name], _key(path, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise PreimageError(f"{where} needs {_key(path, name)}: {describe(hints[name])}")
    try:
        return cls(**kwargs)
    except PreimageError as e:  # a rule across fields (``__post_init__``): say where
        raise PreimageError(f"{path}: {e}" if path else str(e)) from None
