"""A comparison's run directory: written atomically, resumable, never overwritten.

While it runs the directory is ``<out>/<timestamp>-<name>.partial`` (keep it to resume
with ``--resume``); when every unit is done it is renamed to a fresh
``<timestamp>-<name>[-N]``. Each file is written to a temporary sibling and renamed into
place, so a killed run leaves whole files only: a unit counts as done once its
``cells/<key>.json`` exists (its ``.npz`` of reconstructions is written first).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from preimage.representations.errors import PreimageError
from preimage.train.compare.cells import METRICS

PARTIAL = ".partial"
LOCK = ".lock"  # held (fcntl.flock) by the process writing the directory
COLUMNS = ("representation", "method", "layer", "image", "restart", *METRICS, "steps", "status")


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def new_partial(out: str | Path, name: str) -> Path:
    """Create ``<out>/<timestamp>-<name>.partial`` (a fresh name, never an existing one)."""
    from preimage.train.output.run_dir import claim_dir

    path = claim_dir(out, name, PARTIAL)
    (path / "cells").mkdir()
    return path


def check_resumable(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise PreimageError(f"--resume {path}: no such run directory")
    if not p.name.endswith(PARTIAL):
        raise PreimageError(f"--resume {path}: this comparison is complete (only a *{PARTIAL} directory can be "
                            "resumed; start a new comparison instead)")
    if not (p / "compare.yaml").is_file() or not (p / "manifest.json").is_file():
        raise PreimageError(f"--resume {path}: not a comparison run directory (no compare.yaml / manifest.json)")
    return p


@contextmanager
def locked(run: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run`` while this process writes it (``fcntl.flock`` on
    ``run/.lock``, released when the process ends, however it ends): a second process
    resuming the same ``.partial`` is refused with one line instead of racing the first."""
    import fcntl

    f = open(run / LOCK, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        pid = f.read().strip()
        f.close()
        raise PreimageError(f"--resume {run}: another preimage compare{f' (process {pid})' if pid else ''} is "
                            "running on it; wait for it to finish (or stop it), then resume") from None
    try:
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        yield
    finally:
        f.close()


def finish(partial: Path) -> Path:
    """Rename the finished ``.partial`` directory to its final name (a fresh one); its lock
    file is removed first (the caller holds the lock)."""
    (partial / LOCK).unlink(missing_ok=True)
    base = partial.name[: -len(PARTIAL)]
    n = 1
    while True:
        final = partial.with_name(base if n == 1 else f"{base}-{n}")
        if not final.exists():
            try:
                os.rename(partial, final)
                return final
            except OSError:
                if not final.exists():
                    raise
        n += 1


def done_keys(run: Path) -> set[str]:
    return {p.stem for p in (run / "cells").glob("*.json")}


def write_unit(run: Path, key: str, record: dict[str, Any], recon: np.ndarray | None, orig: np.ndarray) -> None:
    """``recon`` (N, R, 3, H, W) and ``orig`` (N, 3, H, W) as uint8; then the record (JSON)."""
    buf = io.BytesIO()
    arrays = {"original": orig} | ({"recon": recon} if recon is not None else {})
    np.savez_compressed(buf, **arrays)
    atomic_write(run / "cells" / f"{key}.npz", buf.getvalue())
    atomic_write(run / "cells" / f"{key}.json", json.dumps(record, indent=1))


def read_unit(run: Path, key: str) -> tuple[dict, dict[str, np.ndarray]]:
    record = json.loads((run / "cells" / f"{key}.json").read_text())
    with np.load(run / "cells" / f"{key}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return record, arrays


def _fmt(v: Any) -> str:
    return f"{v:.9g}" if isinstance(v, float) else str(v)


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: _fmt(row[k]) for k in COLUMNS})
    return buf.getvalue()


def read_csv(path: str | Path) -> list[dict]:
    """``results.csv`` → rows with metrics as floats."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for k in (*METRICS, "steps", "restart"):
            row[k] = float(row[k]) if k in METRICS else int(row[k])
    return rows
