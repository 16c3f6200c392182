"""LightningCLI with preimage's defaults, for any LightningModule / LightningDataModule.

``run_lightning_cli(Model, Data, ["fit", "--config", "x.yaml", "--trainer.max_steps", "10"])``
runs Lightning's own CLI (``fit``, ``validate``, ``test``, ``predict``; YAML configs; every
constructor argument of the model, the data module and the Trainer on the command line;
``--ckpt_path`` resume) with these defaults:

- **Run directories that never overwrite**: unless ``--trainer.default_root_dir`` is given,
  each run writes into a fresh ``<root>/<timestamp>-<name>[-N]`` (``name``: the config's file
  name), holding ``config.yaml``, ``metrics.csv`` (CSVLogger) and ``checkpoints/``. The
  directory is only created once training starts; a run that fails before its first
  checkpoint leaves nothing behind.
- **W&B offline by default**: ``trainer.logger: {class_path: preimage.train.lightning_app.WandbLogger}``
  in a config logs offline into the run directory unless the user's W&B settings
  (``WANDB_MODE``, an API key) say otherwise.
- **One-line errors**: a bad option, a bad config file or a :class:`PreimageError` raised while
  building the objects becomes one :class:`PreimageError` (``train/cli.py`` prints it on one
  line and exits with status 2).

The subcommand's objects are returned (``cli.model``, ``cli.datamodule``, ``cli.trainer``),
and ``cli.run_dir`` is the run directory. Reusable for any learned model (priors, inverters).
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger

from preimage.representations.errors import PreimageError

#: Environment variable through which the run directory reaches the W&B logger.
RUN_DIR_ENV = "PREIMAGE_RUN_DIR"


class WandbLogger(_LightningWandbLogger):
    """Lightning's W&B logger, offline unless the user's W&B settings say otherwise (``offline=None``),
    writing into the run directory unless ``save_dir`` is given."""

    def __init__(self, project: str = "preimage", offline: bool | None = None, save_dir: str | None = None,
                 **kwargs: Any) -> None:
        from preimage.train.tracking import _wandb_mode

        if offline is None:
            offline = _wandb_mode() != "online"
        save_dir = save_dir or os.environ.get(RUN_DIR_ENV, ".")
        super().__init__(project=project, offline=offline, save_dir=save_dir, **kwargs)
        self._preimage_dir = save_dir

    @property
    def experiment(self):  # type: ignore[override]
        Path(self._preimage_dir).mkdir(parents=True, exist_ok=True)
        return super().experiment


class PreimageCLI(LightningCLI):
    """LightningCLI whose ``--ckpt_path`` restores only the model's constructor arguments from the
    checkpoint's ``hyper_parameters`` (other entries, e.g. what a prior file needs to know, are
    descriptions, not options)."""

    def _parse_ckpt_path(self) -> None:
        import inspect

        import torch

        sub = self.config.get("subcommand")
        path = self.config[sub].get("ckpt_path") if sub else None
        if not path or not Path(path).is_file():
            return
        hparams = dict(torch.load(path, weights_only=True, map_location="cpu").get("hyper_parameters") or {})
        hparams.pop("_instantiator", None)
        params = inspect.signature(self._model_class.__init__).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            hparams = {k: v for k, v in hparams.items() if k in params}
        if hparams and "_class_path" not in hparams:
            self.config = self.parser.parse_object({sub: {"model": hparams}}, self.config)


def _config_name(args: Sequence[str], default: str) -> str:
    """The stem of the (last) ``--config``/``-c`` file among ``args``."""
    name = default
    for i, a in enumerate(args):
        value = None
        if a in ("--config", "-c") and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith("--config="):
            value = a.split("=", 1)[1]
        if value and not value.lstrip().startswith(("{", "[")):
            name = Path(value).stem
    return name


def _has_option(args: Sequence[str], key: str) -> bool:
    return any(a == key or a.startswith(key + "=") for a in args)


def _option(args: Sequence[str], key: str) -> str | None:
    """The value of ``key`` among ``args`` (last one wins), ``None`` if absent."""
    value = None
    for i, a in enumerate(args):
        if a == key and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(key + "="):
            value = a.split("=", 1)[1]
    return value


def read_checkpoint(path: str, check: Callable[[dict], None] | None = None) -> dict:
    """Load a Lightning checkpoint with ``weights_only=True``; one clear error if it is not one
    (``check`` may refuse checkpoints of another kind of model by raising PreimageError)."""
    import pickle
    import zipfile

    import torch

    if not Path(path).is_file():
        raise PreimageError(f"checkpoint {path} does not exist; give the .ckpt of an earlier run (its checkpoints/ folder)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as e:
        raise PreimageError(f"cannot read checkpoint {path} ({type(e).__name__}); it is corrupt or not a "
                            "Lightning checkpoint: give the .ckpt of an earlier run") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise PreimageError(f"{path} is not a Lightning checkpoint; give the .ckpt of an earlier run")
    if check is not None:
        check(ckpt)
    return ckpt


def fresh_run_dir(root: str | Path, name: str) -> Path:
    """A run directory name under ``root`` that does not exist yet (not created)."""
    from preimage.train.run_dir import _final_name

    return _final_name(Path(root), name)


def run_lightning_cli(model_class: type, datamodule_class: type | None, args: Sequence[str], *,
                      name: str | None = None, root: str | Path = "runs", prog: str | None = None,
                      check_checkpoint: Callable[[dict], None] | None = None, cli_class: type = PreimageCLI,
                      trainer_defaults: dict[str, Any] | None = None, **cli_kwargs: Any) -> LightningCLI:
    """Run ``cli_class(model_class, datamodule_class, args=args)`` with preimage's defaults (see the
    module docstring). ``name`` defaults to the config file's stem; ``root`` is the parent of run
    directories; ``prog`` names the command in ``--help``; ``check_checkpoint`` vets a
    ``--ckpt_path`` before anything is built (see :func:`read_checkpoint`); ``trainer_defaults`` are merged over
    ours; ``cli_kwargs`` go to LightningCLI
    (e.g. ``subclass_mode_model=True``)."""
    from jsonargparse import ArgumentError

    args = list(args)
    ckpt_path = _option(args, "--ckpt_path")
    if ckpt_path and ckpt_path not in ("last", "best", "hpc", "registry"):
        read_checkpoint(ckpt_path, check_checkpoint)
    help_only = any(a in ("-h", "--help", "--print_config") or a.startswith("--print_config=") for a in args)
    run_dir = fresh_run_dir(root, name or _config_name(args, model_class.__name__.lower()))
    user_dir = _has_option(args, "--trainer.default_root_dir")
    missing_parents = [p for p in [run_dir.parent, *run_dir.parent.parents] if not p.exists()]
    defaults: dict[str, Any] = {
        "default_root_dir": str(run_dir),
        "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger",
                   "init_args": {"save_dir": str(run_dir), "name": "", "version": ""}},
    }
    defaults.update(trainer_defaults or {})
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    # Lightning's start-up notes (accelerators, tips) would break the one-line error contract
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cli_kwargs.setdefault("parser_kwargs", {"exit_on_error": False, **({"prog": prog} if prog else {})})
    cli_kwargs.setdefault("save_config_kwargs", {"overwrite": False})
    try:
        with warnings.catch_warnings():  # "args given and sys.argv too": intended here
            warnings.filterwarnings("ignore", message=".*args parameter is intended.*")
            cli = cli_class(model_class, datamodule_class, args=args, trainer_defaults=defaults, **cli_kwargs)
    except ArgumentError as e:
        _clean(run_dir, user_dir, missing_parents)
        raise PreimageError(_one_line(e)) from None
    except BaseException as e:
        _clean(run_dir, user_dir, missing_parents)
        inner = _preimage_cause(e)
        if inner is not None:
            raise inner from None
        raise
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous
    cli.run_dir = Path(cli.trainer.default_root_dir) if not help_only else None
    return cli


def _preimage_cause(e: BaseException) -> PreimageError | None:
    """The PreimageError behind ``e`` (jsonargparse may wrap errors raised in constructors)."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, PreimageError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _one_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else type(e).__name__
    for ln in lines[1:]:  # jsonargparse puts the reason on a later line
        if len(text) > 200:
            break
        text += " " + ln
    return text[:400] + " (see --help)"


def _clean(run_dir: Path, user_dir: bool, missing_parents: list[Path]) -> None:
    """Remove a run directory that a failed run created (unless it holds a checkpoint) and the
    parent folders it created, if empty."""
    if user_dir:
        return
    if run_dir.exists() and not any(run_dir.rglob("*.ckpt")):
        shutil.rmtree(run_dir, ignore_errors=True)
    for p in missing_parents:  # deepest first
        try:
            p.rmdir()
        except OSError:
            break
