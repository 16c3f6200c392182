"""Saving and loading inverters: one ``.pt`` file holding plain data (loaded with
``weights_only=True``) that says what it is — representation, weights, layer, block type,
training mode, image size and the command that trained it — and the state dict.

Shipped inverters live in ``inverters/pretrained/`` and are addressed by short name
(``squeezenet-conv1``), like the bundled photos.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


from preimage.inverters.network import Inverter, InverterSpec
from preimage.representations.errors import PreimageError
from preimage.representations.files import read_torch_file, resolve_shipped, save_torch_file, shipped_names

KIND = "preimage.inverter"
FORMAT = 1
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def pretrained_names() -> list[str]:
    """Short names of the shipped inverters."""
    return shipped_names(PRETRAINED_DIR)


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """A shipped short name or a file path → the file; one clear error when neither exists."""
    return resolve_shipped(name_or_path, PRETRAINED_DIR, lambda names: (
        f"no inverter checkpoint {str(name_or_path)!r}: give a .pt file saved by "
        f"'preimage inverter fit' or a shipped name ({names})"))


def save_inverter(inverter: Inverter, path: str | Path, **meta: Any) -> Path:
    """Write ``inverter`` with ``meta`` (e.g. ``mode``, ``command``, ``steps``) to ``path``
    (written to a temporary name, then renamed: never half-written)."""
    spec = inverter.spec
    payload = {
        "kind": KIND,
        "format": FORMAT,
        "spec": spec.to_dict(),
        "meta": {"representation": spec.representation, "weights": spec.weights, "layer": spec.layer,
                 "block": spec.block, "image_size": spec.image_size, **meta},
        "state_dict": {k: v.detach().cpu().clone() for k, v in inverter.state_dict().items()},
    }
    return save_torch_file(payload, path)


def read_checkpoint(name_or_path: str | Path) -> dict:
    """The checkpoint's plain data (``kind``, ``spec``, ``meta``, ``state_dict``), checked."""
    path = resolve_checkpoint(name_or_path)
    payload = read_torch_file(path, lambda reason: f"{path} is not an inverter checkpoint ({reason}); "
                                                   "give a .pt file saved by 'preimage inverter fit'")
    if not isinstance(payload, dict) or payload.get("kind") != KIND:
        raise PreimageError(f"{path} is not an inverter checkpoint (no kind {KIND!r}); "
                            "give a .pt file saved by 'preimage inverter fit'")
    return payload


def load_inverter(name_or_path: str | Path, representation: str | None = None,
                  layer: str | None = None) -> Inverter:
    """Rebuild a saved inverter (eval mode). With ``representation`` / ``layer`` given, a
    checkpoint made for another network or layer is one clear error."""
    payload = read_checkpoint(name_or_path)
    spec = InverterSpec.from_dict(payload["spec"])
    if representation is not None and _canonical(representation) != _canonical(spec.representation):
        raise PreimageError(f"inverter {name_or_path} was trained for {spec.representation}, not {representation}; "
                            f"use an inverter of {representation} or representation: {spec.representation}")
    if layer is not None and layer != spec.layer:
        raise PreimageError(f"inverter {name_or_path} inverts layer {spec.layer}, not {layer}; "
                            f"pass --layer {spec.layer} or an inverter trained for {layer}")
    inv = Inverter(spec)
    inv.load_state_dict(payload["state_dict"])
    inv.meta = payload["meta"]
    return inv.eval()


def _canonical(name: str) -> str:
    from preimage.representations.registry import ALIASES

    return ALIASES.get(name.lower(), name.lower())
