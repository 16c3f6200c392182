"""Run a planned comparison: each Lightning Fabric rank takes a share of the pending units
(round robin over the plan's order), writes each finished unit atomically into the shared
``.partial`` run directory, and rank 0 merges them into ``results.csv``, ``summary.md`` and
the figures, then renames the directory. One process (the default) is the same code with a
world of one; ``devices``/``num_nodes`` spread it over processes, GPUs or nodes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch

from preimage.representations.errors import Interrupted, PreimageError
from preimage.train.compare import invert_api, store
from preimage.train.compare.cells import cell_metrics
from preimage.train.compare.plan import Plan, Unit


class StopAfter(Interrupted):
    """Raised by the ``stop_after`` test hook: behaves like an interruption (Ctrl-C)."""


@dataclass
class Launch:
    """How to run: Lightning Fabric's accelerator, devices, strategy and nodes."""

    accelerator: str = "auto"
    devices: int = 1
    strategy: str = "auto"
    num_nodes: int = 1


def _fabric(launch: Launch):
    from lightning.fabric import Fabric

    strategy = launch.strategy
    if strategy == "auto" and launch.devices * launch.num_nodes > 1:
        strategy = "ddp"
    fabric = Fabric(accelerator=launch.accelerator, devices=launch.devices, strategy=strategy,
                    num_nodes=launch.num_nodes)
    fabric.launch()
    return fabric


def _log(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def run_unit(unit: Unit, plan: Plan, run: Path, device: torch.device | str) -> dict:
    """Run one unit on ``device`` and store it; returns its record."""
    out = invert_api.execute(unit.prepared, device)
    rows, rec, orig = cell_metrics(unit.cfg, plan.images, out.images, out.seconds, device)
    r = int(unit.cfg.get("repeats", 1))
    names = [n for n, _ in plan.images]
    kind = (unit.cfg.get("method") or {}).get("name", "optimisation")
    record = {"representation": unit.representation, "method": unit.method, "layer": unit.layer, "kind": kind,
              "preset": unit.cfg.get("name"), "status": out.status, "steps": out.steps, "seconds": out.seconds,
              "warnings": out.warnings, "config": unit.cfg,
              "rows": [{"image": names[b // r], "restart": b % r, **m} for b, m in enumerate(rows)]}
    to8 = lambda t: (t.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()  # noqa: E731
    store.write_unit(run, unit.key, record, None if rec is None else to8(rec), to8(orig))
    return record


def execute_plan(plan: Plan, raw: dict, out: str | Path, *, resume: Path | None = None, launch: Launch = Launch(),
                 wandb: bool = False, quiet: bool = False, stop_after: int | None = None) -> Path | None:
    """Run every pending unit; returns the finished run directory (rank 0; None elsewhere).

    ``resume``: a ``.partial`` directory whose finished units are kept and skipped.
    ``stop_after``: test hook, stop (as if interrupted) after this many units.
    Interrupted (Ctrl-C, SIGTERM), the ``.partial`` directory is kept when a unit is done and
    :class:`~preimage.representations.errors.Interrupted` says how to resume it; rank 0 holds
    the directory's lock (:func:`store.locked`) for the whole run.
    """
    fabric = _fabric(launch)
    world, rank = fabric.world_size, fabric.global_rank
    if fabric.device.type == "cpu" and world > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, launch.devices)))
    with ExitStack() as held:
        run, error, created = None, None, []
        if rank == 0:
            if resume is None:
                created = [p for p in (Path(out), *Path(out).parents) if not p.exists()]  # deepest first
            run = resume if resume is not None else store.new_partial(out, str(raw.get("name", "compare")))
            try:
                held.enter_context(store.locked(run))  # a second --resume of the same .partial is refused
            except PreimageError as e:
                error = str(e)
        run, error = fabric.broadcast((None if run is None else str(run), error), src=0)
        if error is not None:
            raise PreimageError(error)
        run = Path(run)
        try:
            return _execute(plan, raw, run, fabric, fresh=resume is None, wandb=wandb, quiet=quiet,
                            stop_after=stop_after)
        except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM: say what is kept and how to go on
            if rank != 0:
                raise
            raise _interrupted(e, run, plan, resume is None, created) from None


def _interrupted(e: KeyboardInterrupt, run: Path, plan: Plan, fresh: bool, created: list[Path]) -> KeyboardInterrupt:
    """A new comparison stopped before its first unit leaves nothing (plain interruption);
    otherwise its ``.partial`` directory is kept, and the message says so and how to resume."""
    done = len(store.done_keys(run)) if run.is_dir() else 0
    if fresh and done == 0:
        from preimage.train.output.run_dir import remove_created

        shutil.rmtree(run, ignore_errors=True)
        remove_created(created)
        return KeyboardInterrupt()
    cls = type(e) if isinstance(e, Interrupted) else Interrupted
    return cls(f"kept {run} ({done} of {len(plan.units)} units done); resume with: preimage compare --resume {run}")


def _execute(plan: Plan, raw: dict, run: Path, fabric, *, fresh: bool, wandb: bool, quiet: bool,
             stop_after: int | None) -> Path | None:
    from preimage.train.compare.spec import dump

    world, rank = fabric.world_size, fabric.global_rank
    if rank == 0:
        if fresh:
            manifest = {"images_digest": plan.images_digest, "notes": plan.notes, "methods": plan.named,
                        "units": [u.key for u in plan.units], "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
            store.atomic_write(run / "manifest.json", json.dumps(manifest, indent=1))
            store.atomic_write(run / "compare.yaml", dump(raw))
        _log(quiet, f"preimage compare: writing {run} (resume with --resume {run} if interrupted)")
    done = store.done_keys(run)
    fabric.barrier()
    pending = [u for u in plan.units if u.key not in done]
    mine = pending[rank::world]
    if done:
        _log(quiet or rank != 0, f"preimage compare: {len(done)} of {len(plan.units)} units already done, skipped")
    start = time.perf_counter()
    if stop_after == 0:
        raise StopAfter("stopped before the first unit")
    for k, unit in enumerate(mine, 1):
        record = run_unit(unit, plan, run, fabric.device)
        ok = [row["relative_error"] for row in record["rows"] if record["status"] == "ok"]
        err = f"relative error {100 * sum(ok) / len(ok):.2f} %" if ok else record["status"]
        _log(quiet, f"[rank {rank}] {k}/{len(mine)} {unit.representation} {unit.method} {unit.layer}: "
                    f"{err} ({record['seconds']:.1f} s)")
        if record["warnings"]:  # one line, as `preimage invert` warns, --quiet or not (and in summary.md)
            _log(False, f"preimage compare: warning: {unit.representation} {unit.method} {unit.layer}: "
                        f"{'; '.join(record['warnings'])}")
        if stop_after is not None and k >= stop_after:
            raise StopAfter(f"stopped after {k} units")
    fabric.barrier()
    if rank != 0:
        return None
    from preimage.train.compare.merge import merge

    info = {"wall_seconds": time.perf_counter() - start, "world_size": world, "device": str(fabric.device)}
    merge(run, plan, info, wandb=wandb)
    return store.finish(run)
