"""A comparison → units (method × representation × layer, each one batched invert job
over all images × restarts), validated before any work starts.

Validation builds every job: a missing preset, an override the preset lacks, an unknown
layer, a missing checkpoint or an image too small for a layer is a :class:`PreimageError`
here, and so is a batch (images × restarts) that cannot fit in memory. Methods marked
``optional`` that fail for a reason other than the layer (a missing preset, checkpoint or prior
file) are left out at that layer with a one-line note; required ones (and every method named
with ``--methods``) stop the comparison. A method's overrides at a layer are its ``overrides``
and its ``from_layer`` entries at or above that layer
(:meth:`~preimage.train.compare.spec.MethodSpec.overrides_at`); a ``from_layer`` key that is not
a layer of the representation stops the comparison, optional or not.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Sequence

from torch import Tensor

from preimage.representations.errors import PreimageError
from preimage.train.compare import invert_api
from preimage.train.compare.cells import scorer
from preimage.train.compare.spec import CompareSpec, GroupSpec
from preimage.train.jobs.setup import BatchTooLarge


@dataclass
class Unit:
    """One job. ``method`` is the column name; probes are ``<method>:neigh<n>`` and
    ``<method>:group<g>`` (CVPR'15 Sec. 4.2)."""

    representation: str
    method: str
    layer: str
    cfg: dict
    prepared: invert_api.Prepared | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.+-]", "-", f"{self.representation}__{self.method}__{self.layer}")

    @property
    def is_probe(self) -> bool:
        return ":" in self.method


@dataclass
class Plan:
    units: list[Unit]
    notes: list[str]           # methods left out, one line each
    images: list[tuple[str, Tensor]]
    images_digest: str
    named: list[str] = field(default_factory=list)   # methods named by the user (--methods)


def images_digest(images: list[tuple[str, Tensor]]) -> str:
    h = hashlib.sha256()
    for name, img in images:
        h.update(name.encode())
        h.update(img.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _settings(spec: CompareSpec) -> dict:
    return {"image_size": spec.image_size, "repeats": spec.restarts, "seed": spec.seed}


def _variants(label: str, group: GroupSpec) -> list[tuple[str, str, str, list[str]]]:
    """(method column, method name, layer, extra overrides) for every job of a group."""
    out = [(name, name, layer, []) for name in group.methods for layer in group.layers]
    p = group.probes
    if p is not None:
        for layer in p.layers or group.layers:
            if layer not in group.layers:
                raise PreimageError(f"representations.{label}.probes.layers names {layer!r}, which is not one of "
                                    f"the group's layers: {', '.join(group.layers)}")
            if p.neigh:
                out.append((f"{p.method}:neigh{p.neigh}", p.method, layer, [f"objective.neigh={p.neigh}"]))
            for g in p.filter_groups:
                out.append((f"{p.method}:group{g}", p.method, layer, [f"objective.filter_group={g}"]))
    return out


def _check_from_layer(label: str, group: GroupSpec, order: list[str]) -> None:
    """Every ``from_layer`` key is a layer of the representation (``order``; unknown when no
    preset of the group loads, and then every method is left out anyway)."""
    for name, m in group.methods.items():
        for key in m.from_layer:
            if order and key not in order:
                close = difflib.get_close_matches(key, order, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise PreimageError(f"representations.{label}.methods.{name}.from_layer names {key!r}, which is not "
                                    f"a layer of {label}{hint}; its layers: {', '.join(order)}")


def build_plan(spec: CompareSpec, images: list[tuple[str, Tensor]], methods: Sequence[str] | None = None) -> Plan:
    """Every unit prepared; raises on bad input before anything is written."""
    if not images:
        raise PreimageError("no images to compare on; pass --images FILES, a FOLDER or bundled names")
    names = [n for n, _ in images]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PreimageError(f"image names must be unique in a comparison, {', '.join(dup)} repeats; rename the files")
    named = list(dict.fromkeys(methods or []))
    every = {m for g in spec.representations.values() for m in g.methods}
    unknown = [m for m in named if m not in every]
    if unknown:
        raise PreimageError(f"unknown method {unknown[0]!r}; the comparison defines {', '.join(sorted(every))}")
    units: list[Unit] = []
    left: dict[tuple[str, str, str], list[str]] = {}
    for label, group in spec.representations.items():
        order: list[str] = []  # the network's layers in depth order (from_layer's reference)
        for layer in group.layers:
            scorer_rep = None
            for m in group.methods.values():  # the layer check never depends on optional methods
                try:
                    cfg = invert_api.resolve(m.config, [], layer, _settings(spec))
                except PreimageError:
                    continue
                if cfg.get("representation") != label:
                    raise PreimageError(f"representations.{label} uses preset {m.config!r}, which inverts "
                                        f"{cfg.get('representation')!r}; put it under that representation")
                scorer_rep = scorer(label, cfg.get("weights"), layer)  # unknown layer: one error listing them
                break
            if scorer_rep is None and not all(m.optional for m in group.methods.values()):
                raise PreimageError(f"no preset of representations.{label} could be loaded")
            order = order or (list(scorer_rep.layers) if scorer_rep is not None else [])
        _check_from_layer(label, group, order)
        left_out: set[tuple[str, str]] = set()
        for column, name, layer, extra in _variants(label, group):
            if named and name not in named or (name, layer) in left_out:
                continue
            m = group.methods[name]
            optional = m.optional and name not in named
            try:
                own = m.overrides_at(layer, order) if order else list(m.overrides)
                cfg = invert_api.resolve(m.config, own + extra, layer, _settings(spec))
                units.append(Unit(label, column, layer, cfg, invert_api.prepare(cfg, images)))
            except BatchTooLarge as e:  # the comparison's own settings, not the method's: never left out
                raise PreimageError(f"method {name!r} on {label} {layer}: {e.say('restarts')}") from None
            except PreimageError as e:
                if not optional:
                    raise PreimageError(f"method {name!r} on {label} {layer}: {e}") from None
                left_out.add((name, layer))  # this layer only: a shipped model may exist for others
                units = [u for u in units if not (u.representation == label and u.layer == layer
                                                  and u.method.split(":")[0] == name)]
                why = str(e).split("; ")[0]  # the problem, without the list of alternatives
                left.setdefault((label, name, why), []).append(layer)
    notes = [f"{name} on {label} ({', '.join(layers)}): left out, {why}"
             for (label, name, why), layers in left.items()]
    if not units:
        raise PreimageError("nothing to compare: every method was left out (" + "; ".join(notes) + ")")
    return Plan(units, notes, images, images_digest(images), named)
