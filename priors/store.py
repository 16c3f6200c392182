"""Saving and loading learned priors (ARCHITECTURE.md, "Learned models").

A prior file is a ``torch.save`` of a plain dict that loads with ``weights_only=True``::

    {"format": "preimage-prior", "version": 1, "kind": "foe" | "ica" | "gmm" | "score" | …,
     "hparams": {...constructor kwargs...}, "state_dict": {...}, "meta": {...}}

``meta`` says what the prior is: kind, channels, patch_size, representation, layer (None:
the image), whitening, hparams, lam (the MAP λ, default 1), training data and the command
that reproduces it; a score prior (gradient only) adds ``has_energy: False`` and its trained
noise range ``sigma_min``/``sigma_max`` and ``scale``. The kinds are those registered in
:mod:`preimage.priors.registry` (each class registers itself by its ``kind``). Shipped
priors live in ``priors/pretrained/<name>.pt`` and load by short name (``load_prior("foe-grey")``).

A Lightning checkpoint (``.ckpt``) of the training module also loads if its ``preimage``
entry (what ``preimage prior fit`` writes beside the constructor arguments in
``hyper_parameters``) or its ``hyper_parameters`` say which energy it holds, in either of two forms:

- ``prior_kind`` and ``prior_hparams`` (optionally ``prior_meta``), or
- any entry that is a LightningCLI class spec ``{"class_path": "preimage.priors.foe.FieldOfExperts",
  "init_args": {...}}`` naming one of the energies below,

and its ``state_dict`` holds the energy's tensors under one prefix (``energy.``, ``model.``,
…; found by matching the energy's own keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from preimage.priors.registry import prior_classes
from preimage.representations.errors import PreimageError
from preimage.representations.files import read_torch_file, resolve_shipped, save_torch_file, shipped_names

FORMAT = "preimage-prior"
PRETRAINED = Path(__file__).resolve().parent / "pretrained"


@dataclass
class LoadedPrior:
    """A learned prior (eval mode, float32) and what it is. ``energy`` is the model: an energy
    (``forward`` gives values) or a score prior (``has_energy`` False: a gradient only)."""

    energy: nn.Module
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def lam(self) -> float:
        return float(self.meta.get("lam", 1.0))

    @property
    def layer(self) -> str | None:
        return self.meta.get("layer")

    @property
    def has_energy(self) -> bool:
        return bool(getattr(self.energy, "has_energy", True))


def default_meta(energy: nn.Module, **meta: Any) -> dict[str, Any]:
    """The meta fields every prior file carries, ``meta`` overriding the defaults; what the
    model says of itself (``describe()``, e.g. a score prior's layer) is not overridable."""
    hp = energy.hparams()
    base = {"kind": energy.kind, "channels": energy.channels, "patch_size": getattr(energy, "patch_size", None),
            "representation": None, "layer": None, "whitening": hp.get("whitening"),
            "hparams": hp, "lam": 1.0, "data": None, "command": None}
    own = getattr(energy, "describe", dict)()
    for k, v in own.items():
        if k in meta and meta[k] != v:
            raise PreimageError(f"meta {k}={meta[k]!r} contradicts the {energy.kind} prior, which has {k}={v!r}; "
                                f"build the prior with {k}={meta[k]!r} or leave {k} out of the meta")
    base.update(meta)
    base.update(own)
    return base


def save_prior(energy: nn.Module, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write ``energy`` with its meta to ``path`` (written whole or not at all)."""
    path = Path(path)
    payload = {"format": FORMAT, "version": 1, "kind": energy.kind, "hparams": energy.hparams(),
               "state_dict": {k: v.detach().cpu().clone() for k, v in energy.state_dict().items()},
               "meta": default_meta(energy, **(meta or {}))}
    return save_torch_file(payload, path)


def list_priors() -> list[str]:
    """Short names of the shipped priors."""
    return shipped_names(PRETRAINED)


def resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".pt", ".ckpt") or p.exists():
        if not p.is_file():
            raise PreimageError(f"prior file {str(p)!r} does not exist; give a shipped name "
                                f"({', '.join(list_priors()) or 'none shipped'}) or a path to a .pt/.ckpt file")
        return p
    return resolve_shipped(name_or_path, PRETRAINED, lambda names: (
        f"unknown prior {str(name_or_path)!r}; give a shipped name ({names}) or a path to a .pt/.ckpt file"))


def _read(path: Path) -> Any:
    return read_torch_file(path, lambda reason: f"{str(path)!r} is not a readable prior file ({reason}); "
                                                f"give a file written by save_prior or by 'preimage prior fit'")


def _from_lightning(ckpt: dict, path: Path) -> tuple[str, dict, dict, dict]:
    hp = {**(ckpt.get("hyper_parameters") or {}), **(ckpt.get("preimage") or {})}  # "preimage": what it is
    classes = prior_classes()
    kind, hparams, meta = hp.get("prior_kind"), hp.get("prior_hparams"), dict(hp.get("prior_meta") or {})
    if kind is None:
        by_path = {f"{c.__module__}.{c.__name__}": k for k, c in classes.items()}
        for v in hp.values():
            if isinstance(v, dict) and v.get("class_path") in by_path:
                kind, hparams = by_path[v["class_path"]], dict(v.get("init_args") or {})
                break
    if kind not in classes or not isinstance(hparams, dict):
        raise PreimageError(f"{str(path)!r} is a Lightning checkpoint but not of a prior (no energy kind in its "
                            f"hyper_parameters); give a prior checkpoint written by 'preimage prior fit'")
    template = set(classes[kind](**hparams).state_dict())
    sd = ckpt.get("state_dict") or {}
    prefixes = {k[: len(k) - len(t)] for k in sd for t in template if k.endswith("." + t) or k == t}
    for pre in sorted(prefixes, key=len):
        sub = {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
        if template <= set(sub):
            meta.setdefault("checkpoint", str(path))
            return kind, hparams, {k: sub[k] for k in template}, meta
    raise PreimageError(f"{str(path)!r} names a {kind} prior but its state_dict lacks the energy's tensors; "
                        f"give the checkpoint the training run wrote")


def load_prior(name_or_path: str | Path, kinds: str | Sequence[str] | None = None) -> LoadedPrior:
    """Load a shipped prior by short name, a ``.pt`` from :func:`save_prior` or a Lightning ``.ckpt``;
    ``kinds`` (e.g. ``"score"``) refuses any other kind with one clear error."""
    path = resolve(name_or_path)
    obj = _read(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        kind, hparams, sd, meta = obj.get("kind"), obj.get("hparams"), obj.get("state_dict"), dict(obj.get("meta") or {})
    elif isinstance(obj, dict) and "state_dict" in obj and "hyper_parameters" in obj:
        kind, hparams, sd, meta = _from_lightning(obj, path)
    else:
        raise PreimageError(f"{str(path)!r} is not a prior (it holds something else, e.g. an inverter or a plain "
                            f"state dict); give a file written by save_prior or by 'preimage prior fit'")
    classes = prior_classes()
    if kind not in classes:
        raise PreimageError(f"{str(path)!r} holds a prior of unknown kind {kind!r}; known kinds: {', '.join(classes)}")
    wanted = [kinds] if isinstance(kinds, str) else (None if kinds is None else list(kinds))
    if wanted is not None and kind not in wanted:
        raise PreimageError(f"{str(path)!r} holds a {kind} prior but a {' or '.join(wanted)} prior is needed here; "
                            f"give a prior file of kind {' or '.join(wanted)}")
    try:
        energy = classes[kind](**hparams)
        energy.load_state_dict(sd)
    except (TypeError, RuntimeError, KeyError) as e:
        raise PreimageError(f"{str(path)!r} does not match the {kind} prior it claims to be ({str(e).splitlines()[0]}); "
                            f"the file is corrupt or from an incompatible version, re-create it") from None
    meta = default_meta(energy, **meta)
    return LoadedPrior(energy.float().eval().requires_grad_(False), meta)
