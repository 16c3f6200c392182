"""Run directories that never overwrite and never stay half-written: outputs go to a
hidden temporary sibling which is renamed to ``runs/<timestamp>-<name>[-N]`` at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _final_name(root: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = root / f"{stamp}-{name}", 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{name}-{n}"
    return path


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
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    run = RunDir(tmp)
    try:
        yield run
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    while True:  # rename is atomic; retry if another run took the name meanwhile
        final = _final_name(root, name)
        try:
            os.rename(tmp, final)
            break
        except OSError:
            if not final.exists():
                raise
    run.final = final
