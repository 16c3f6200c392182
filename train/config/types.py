"""One generic validator for typed configs: stdlib dataclasses, type hints, ranges and
tagged variants. No per-key checks: every rule is read off the dataclass fields.

- ``Annotated[int, Range(ge=1)]`` bounds a number; floats must be finite.
- A field typed with a :class:`Variant` base class (e.g. ``OptimiserVariant``) holds any
  variant registered for that kind, chosen by the base's ``tag`` key (``name: adam``).
  A bare string is short for ``{tag: string}``; ``None`` is short for ``{tag: none_tag}``
  where the kind has one (``box: null`` → ``box: {mode: off}``).
- Unknown keys, wrong types and out-of-range values raise one :class:`PreimageError`
  line naming the dotted key, the value and what is allowed (with "did you mean" for
  near-miss keys): :func:`preimage.train.config.validate.from_data`.

:func:`to_data` (dataclasses → plain data) is the inverse of ``from_data`` on valid data,
so a config can be validated, dumped and reloaded without change.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass
from typing import Any, Annotated, ClassVar, Literal, Union

from preimage.representations.errors import PreimageError


@dataclass(frozen=True)
class Range:
    """Bounds of a number: ``ge``/``gt`` below, ``le``/``lt`` above."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def ok(self, v: float) -> bool:
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))

    def describe(self) -> str:
        if self.ge is not None and self.lt is not None:
            return f"in [{self.ge:g}, {self.lt:g})"
        parts = [f"{op} {b:g}" for op, b in (("≥", self.ge), (">", self.gt), ("≤", self.le), ("<", self.lt))
                 if b is not None]
        return " and ".join(parts)


class Variant:
    """Base of tagged variants. A kind's base class sets ``kind`` (registry name), ``tag``
    (the key that picks the variant), ``default`` (tag when the key is absent) and
    optionally ``none_tag`` (what ``null`` means) and ``label`` (word used in messages).
    :func:`register_variant` sets the tag value on each registered class."""

    kind: ClassVar[str] = ""
    tag: ClassVar[str] = "name"
    default: ClassVar[str | None] = None
    none_tag: ClassVar[str | None] = None
    label: ClassVar[str] = ""


PosInt = Annotated[int, Range(ge=1)]
NonNegInt = Annotated[int, Range(ge=0)]
PosFloat = Annotated[float, Range(gt=0)]
NonNegFloat = Annotated[float, Range(ge=0)]

_REGISTRY: dict[str, dict[str, type]] = {}
_BASES: dict[str, type] = {}
PLUGINS: list[str] = []          # module names imported lazily before a variant is looked up
_plugins_loaded = False


def register_base(cls: type) -> type:
    """Declare ``cls`` (a :class:`Variant` subclass with ``kind`` set) as a kind's base."""
    _BASES[cls.kind] = cls
    _REGISTRY.setdefault(cls.kind, {})
    return cls


def register_variant(kind: str, name: str):
    """Class decorator: make dataclass ``cls`` the variant ``name`` of ``kind``
    (``"priors"``, ``"method"``, ``"init"``, ``"objective"``, ``"optimiser"``, ``"box"``)."""

    def deco(cls: type) -> type:
        base = _BASES.get(kind)
        if base is None:
            raise TypeError(f"unknown variant kind {kind!r}; kinds: {', '.join(_BASES)}")
        if not (dataclasses.is_dataclass(cls) and issubclass(cls, base)):
            raise TypeError(f"{cls.__name__} must be a dataclass subclassing {base.__name__}")
        setattr(cls, base.tag, name)
        _REGISTRY[kind][name] = cls
        return cls

    return deco


def _load_plugins() -> None:
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for module in PLUGINS:
            importlib.import_module(module)


def variants(kind: str) -> dict[str, type]:
    """The registered variants of ``kind`` (plugins imported first)."""
    _load_plugins()
    return _REGISTRY[kind]


def _key(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value).replace("\n", " ")


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    if typing.get_origin(tp) is Annotated:
        base, *meta = typing.get_args(tp)
        return base, meta
    return tp, []


def describe(tp: Any) -> str:
    """What a type allows, in words (for messages)."""
    tp, meta = _strip(tp)
    rng = " ".join(m.describe() for m in meta if isinstance(m, Range))
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if tp is bool:
        return "true or false"
    if tp is int:
        return f"an integer {rng}".strip()
    if tp is float:
        return f"a finite number {rng}".strip()
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(_show(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if origin is tuple and Ellipsis not in args:
            return f"a list [{', '.join(describe(a) for a in args)}]"
        return f"a list, each {describe(args[0])}"
    if origin is dict:
        return f"a mapping of names to {describe(typing.get_args(tp)[1])}"
    if isinstance(tp, type) and issubclass(tp, Variant) and tp.kind in _BASES and _BASES[tp.kind] is tp:
        return f"a {tp.label or tp.kind} ({', '.join(variants(tp.kind))})"
    if dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    return getattr(tp, "__name__", str(tp))


def to_data(obj: Any) -> Any:
    """Typed config → plain data (dicts, lists, scalars); the tag first in each variant."""
    if isinstance(obj, Variant):
        base = _BASES[obj.kind]
        return {base.tag: getattr(obj, base.tag)} | {f.name: to_data(getattr(obj, f.name))
                                                     for f in dataclasses.fields(obj) if f.init}
    if dataclasses.is_dataclass(obj):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_data(v) for k, v in obj.items()}
    return obj


def field_type(tp: Any, node: Any, key: str) -> Any | None:
    """The schema type of ``key`` inside a value of type ``tp`` (``node``: its current
    data, which picks the variant); None if unknown. Used to walk dotted overrides."""
    tp, _ = _strip(tp)
    if typing.get_origin(tp) in (Union, types.UnionType):
        for arm in typing.get_args(tp):
            if arm is not type(None):
                found = field_type(arm, node, key)
                if found is not None:
                    return found
        return None
    if typing.get_origin(tp) is dict:
        return typing.get_args(tp)[1]
    if isinstance(tp, type) and issubclass(tp, Variant) and _BASES.get(tp.kind) is tp:
        name = node.get(tp.tag, tp.default) if isinstance(node, dict) else None
        tp = variants(tp.kind).get(name)
        if tp is None:
            return None
    if dataclasses.is_dataclass(tp):
        return typing.get_type_hints(tp, include_extras=True).get(key)
    return None


def variant_base(tp: Any) -> type | None:
    """The :class:`Variant` base inside ``tp`` (through Optional/Annotated), if any."""
    tp, _ = _strip(tp)
    if typing.get_origin(tp) in (Union, types.UnionType):
        found = [variant_base(a) for a in typing.get_args(tp)]
        return next((f for f in found if f is not None), None)
    if isinstance(tp, type) and issubclass(tp, Variant) and _BASES.get(tp.kind) is tp:
        return tp
    return None
