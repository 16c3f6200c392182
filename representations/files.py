"""Model files of the package's own format (priors, inverters): addressed by a shipped short
name or a path, written atomically, read without running code (``weights_only=True``), and
every failure one :class:`PreimageError` naming the fix."""

from __future__ import annotations

import os
import tempfile
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


def check_writable(path: str | Path, key: str) -> Path:
    """Refuse, before any work, a ``path`` that :func:`save_torch_file` could not write: an
    existing folder, a path under a file, or a folder this process cannot create files in
    (read-only file system, no permission; probed with a temporary file that is removed).
    ``key`` names the option in the message. Nothing is left behind."""
    path = Path(path)
    if path.is_dir():
        raise PreimageError(f"{key}={path} is a folder; give the path of a file to write, e.g. {path / 'model.pt'}")
    parent = path.parent
    while not parent.exists():  # the nearest existing folder (save_torch_file creates the rest)
        parent = parent.parent
    if not parent.is_dir():
        raise PreimageError(f"{key}={path} lies under {parent}, which is a file; give a path in a writable folder")
    reason = None
    if not os.access(parent, os.W_OK | os.X_OK):
        reason = "permission denied"
    else:
        try:
            fd, probe = tempfile.mkstemp(dir=parent, prefix=".preimage-write-check-")
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            reason = (e.strerror or type(e).__name__).lower()
    if reason is not None:
        raise PreimageError(f"{key}={path}: cannot write into folder {parent} ({reason}); "
                            f"give a path in a writable folder")
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
