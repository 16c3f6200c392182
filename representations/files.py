"""Model files of the package's own format (priors, inverters): addressed by a shipped short
name or a path, written atomically, read without running code (``weights_only=True``), and
every failure one :class:`PreimageError` naming the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from preimage.representations.errors import PreimageError


def shipped_names(folder: Path) -> list[str]:
    """Short names of the ``.pt`` files shipped in ``folder``."""
    return sorted(p.stem for p in folder.glob("*.pt")) if folder.is_dir() else []


def resolve_shipped(name_or_path: str | Path, folder: Path, missing: Callable[[str], str]) -> Path:
    """An existing file, else ``folder/<name>.pt``; otherwise ``PreimageError(missing(names))``
    where ``names`` lists the shipped ones."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = folder / f"{name_or_path}.pt"
    if shipped.is_file():
        return shipped
    raise PreimageError(missing(", ".join(shipped_names(folder)) or "none shipped"))


def save_torch_file(payload: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary name beside ``path``, then rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def read_torch_file(path: str | Path, unreadable: Callable[[str], str]) -> Any:
    """``torch.load`` of plain data only; a file that is not one is
    ``PreimageError(unreadable(reason))``. torch's own message, which suggests the unsafe
    ``weights_only=False``, is never passed on."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any parse failure is bad input
        reason = ("it holds objects other than tensors; no code is run"
                  if "weights_only" in str(e) and "Unsupported global" in str(e) else type(e).__name__)
        raise PreimageError(unreadable(reason)) from None
