"""Run directories that never overwrite and never stay half-written: outputs go to a
hidden temporary sibling which is renamed to ``runs/<timestamp>-<name>[-N]`` at the end.
On failure or interruption the temporary directory is removed, and so are the parent
folders this run created (no empty ``runs/`` is left behind)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from preimage.representations.errors import PreimageError


def check_root(root: str | Path, what: str = "output folder") -> None:
    """Fail early (one line) if ``root`` cannot become a folder: it, or a parent, is a
    file, or the nearest existing parent is not writable."""
    root = Path(root)
    for p in (root, *root.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                where = "is a file" if p == root else f"lies under {p}, which is a file"
                raise PreimageError(f"{what} {root} {where}; give a folder (it is created if missing)")
            if not os.access(p, os.W_OK | os.X_OK):
                raise PreimageError(f"{what} {root}: cannot write in {p}; give a writable folder")
            return


def _candidates(root: Path, name: str) -> Iterator[str]:
    """``<timestamp>-<name>``, then ``…-2``, ``…-3``, …: the one naming scheme of every run."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    yield f"{stamp}-{name}"
    n = 2
    while True:
        yield f"{stamp}-{name}-{n}"
        n += 1


def fresh_name(root: str | Path, name: str, suffix: str = "") -> Path:
    """A run directory path under ``root`` that does not exist yet (neither with nor without
    ``suffix``); not created — see :func:`claim_dir` to take it atomically."""
    root = Path(root)
    return next(root / f"{b}{suffix}" for b in _candidates(root, name)
                if not (root / b).exists() and not (root / f"{b}{suffix}").exists())


def claim_dir(root: str | Path, name: str, suffix: str = "") -> Path:
    """Create and return a fresh ``<root>/<timestamp>-<name>[-N]<suffix>``: ``mkdir`` is atomic,
    so two runs started in the same second get different directories."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for base in _candidates(root, name):
        if (root / base).exists():
            continue
        try:
            (root / f"{base}{suffix}").mkdir()
            return root / f"{base}{suffix}"
        except FileExistsError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def remove_created(created: list[Path]) -> None:
    """Remove the folders a failed run created (deepest first), as far as they are empty."""
    for p in created:
        try:
            p.rmdir()
        except OSError:
            break


class RunDir:
    """``path``: where to write (a temporary directory until the run ends);
    ``final``: the run directory, set once the run has succeeded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.final: Path | None = None


@contextmanager
def run_directory(root: str | Path, name: str) -> Iterator[RunDir]:
    """Yield a :class:`RunDir` writing into a hidden temporary directory under ``root``;
    on success it is renamed to a fresh ``<timestamp>-<name>[-N]``, on failure removed."""
    root = Path(root)
    check_root(root)
    created = [p for p in (root, *root.parents) if not p.exists()]  # deepest first
    root.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
        run = RunDir(tmp)
        yield run
        while True:  # rename is atomic; retry if another run took the name meanwhile
            final = fresh_name(root, name)
            try:
                os.rename(tmp, final)
                break
            except OSError:
                if not final.exists():
                    raise
        run.final = final
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        remove_created(created)
        raise
