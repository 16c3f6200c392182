"""``compare(...)``: the Python call behind ``preimage compare`` (config + overrides + images
→ a finished run directory). Everything is validated before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from preimage.representations import resolve_images
from preimage.representations.errors import PreimageError
from preimage.train.compare import store
from preimage.train.compare.plan import Plan, build_plan
from preimage.train.compare.runner import Launch, execute_plan
from preimage.train.compare.spec import load_spec


def plan_comparison(config: str, overrides: Sequence[str] = (), images: Sequence[str] | None = None,
                    methods: Sequence[str] | None = None) -> tuple[Plan, dict]:
    """Validate and plan (no files written). ``images`` replaces the config's image list."""
    overrides = list(overrides)
    if images is not None:
        if not images:
            raise PreimageError("--images needs at least one file, folder or bundled name")
        overrides.append("images=" + json.dumps([str(i) for i in images]))
    spec, raw = load_spec(config, overrides)
    return build_plan(spec, resolve_images(spec.images), methods), raw


def _resume_plan(run: Path) -> tuple[Plan, dict]:
    manifest = json.loads((run / "manifest.json").read_text())
    plan, raw = plan_comparison(str(run / "compare.yaml"), (), None, manifest.get("methods") or None)
    if plan.images_digest != manifest["images_digest"]:
        raise PreimageError(f"--resume {run}: the images differ from the ones the comparison started with; "
                            "restore them or start a new comparison")
    if [u.key for u in plan.units] != manifest["units"]:
        raise PreimageError(f"--resume {run}: the comparison now plans other units than when it started (a "
                            "method or checkpoint appeared or went missing); start a new comparison")
    plan.notes = manifest["notes"]
    return plan, raw


def compare(config: str | None = None, overrides: Sequence[str] = (), images: Sequence[str] | None = None,
            methods: Sequence[str] | None = None, out: str | Path = "runs", resume: str | Path | None = None,
            launch: Launch = Launch(), wandb: bool = False, quiet: bool = False,
            stop_after: int | None = None) -> Path | None:
    """Run (or resume) a comparison; returns the run directory on rank 0, None on others."""
    if resume is not None:
        if config is not None or overrides or images is not None or methods:
            raise PreimageError("--resume takes the comparison from its run directory; drop --config, --images, "
                                "--methods and key=value overrides")
        run = store.check_resumable(resume)
        plan, raw = _resume_plan(run)
    else:
        if config is None:
            raise PreimageError("no comparison given; pass --config NAME (e.g. default) or --resume RUN_DIR")
        run = None
        plan, raw = plan_comparison(config, overrides, images, methods)
    return execute_plan(plan, raw, out, resume=run, launch=launch, wandb=wandb, quiet=quiet, stop_after=stop_after)
