"""LightningCLI with preimage's defaults, for every ``fit`` command (priors, inverters).

``run_lightning_cli(Model, Data, ["fit", "--config", "x.yaml", "--trainer.max_steps", "10"],
kind="prior", root="runs/prior", export=ExportPrior(command))`` runs Lightning's own CLI
(``fit``, ``validate``, ``test``, ``predict``; YAML configs; every constructor argument of the
model, the data module and the Trainer on the command line; ``--ckpt_path`` resume) with:

- **The same checkpoint and early-stopping callbacks for every model**: ``--checkpoint.*``
  (Lightning's ``ModelCheckpoint``: best ``val/loss`` and the last step) and
  ``--early_stopping.*`` (``EarlyStopping`` on ``val/loss``), set in a config's
  ``checkpoint:`` / ``early_stopping:`` sections.
- **Run directories that never overwrite**: unless ``--trainer.default_root_dir`` is given,
  each run writes into a fresh ``<root>/<timestamp>-<name>[-N]`` (``name``: the config's file
  name), holding ``config.yaml``, ``metrics.csv`` (CSVLogger) and ``checkpoints/``. The run
  directory is chosen in :meth:`PreimageCLI.before_instantiate_classes` from the parsed config
  and reaches the loggers as their ``save_dir`` and the modules as ``trainer.default_root_dir``;
  the reproducing command reaches them through the ``export`` callback's constructor.
  A run that fails before its first checkpoint leaves nothing behind. Resuming from a run's
  checkpoint (``--ckpt_path <run>/checkpoints/last.ckpt``) continues in that run directory
  (``config-resumed.yaml``; the earlier ``metrics.csv`` kept as ``metrics-1.csv``).
- **Interruptions** (Ctrl-C, SIGTERM): the run's state is kept as ``checkpoints/interrupted.ckpt``
  (:mod:`preimage.train.fit.callbacks`) and the command says, on one line with exit status 130,
  how to resume from it; interrupted before its first step, the run leaves nothing.
- **DDP** (``--trainer.strategy ddp --trainer.devices N``): Lightning starts processes 1…N−1
  by running the same command again; they write into the run directory of process 0 (handed
  to them in ``$PREIMAGE_RUN_DIR``), never claim or remove one, and only process 0 writes the
  config, metrics, checkpoints and the exported model. Strategies that start their processes
  with multiprocessing (``ddp_spawn``, ``ddp_fork``, ``ddp_notebook``) are refused in one line:
  the export and the messages would stay in the workers. Under a launcher that starts every
  process itself (``torchrun``, SLURM), give all of them the same ``--trainer.default_root_dir``.
- **Progress bars on stderr**, so that stdout carries only the run directory.
- **W&B offline by default**: ``trainer.logger: {class_path: preimage.train.fit.app.WandbLogger}``
  logs offline into the run directory unless the user's W&B settings say otherwise.
- **Only our lines on stderr**: the libraries' deprecation notes to their own callers
  (Lightning's, jsonargparse's, torch's ``LeafSpec``) are filtered while the CLI runs.
- **One-line errors**: a bad option, a bad config file, a checkpoint of another kind of model
  or a :class:`PreimageError` raised while building the objects becomes one
  :class:`PreimageError` (the command line prints it on one line and exits with status 2).

The objects are returned (``cli.model``, ``cli.datamodule``, ``cli.trainer``) with
``cli.run_dir``.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from lightning.pytorch import Callback
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger

from preimage.representations.errors import PreimageError

_SAVE_DIR_LOGGERS = ("CSVLogger", "WandbLogger", "TensorBoardLogger")
#: how process 0 of a DDP run hands its run directory to the processes Lightning starts
RUN_DIR_ENV = "PREIMAGE_RUN_DIR"


def _ddp_child_dir() -> str | None:
    """The run directory of process 0 when this process is one that Lightning's DDP launcher
    started (local rank > 0, run directory handed down), else None."""
    if os.environ.get("LOCAL_RANK", "0") in ("", "0"):
        return None
    return os.environ.get(RUN_DIR_ENV) or None


class WandbLogger(_LightningWandbLogger):
    """Lightning's W&B logger, offline unless the user's W&B settings say otherwise (``offline=None``),
    writing into the run directory (the CLI sets ``save_dir`` to it unless one is given)."""

    def __init__(self, project: str = "preimage", offline: bool | None = None, save_dir: str | None = None,
                 **kwargs: Any) -> None:
        from preimage.train.output.tracking import _wandb_mode

        if offline is None:
            offline = _wandb_mode() != "online"
        save_dir = save_dir or "."
        super().__init__(project=project, offline=offline, save_dir=save_dir, **kwargs)
        self._preimage_dir = save_dir

    @property
    def experiment(self):  # type: ignore[override]
        Path(self._preimage_dir).mkdir(parents=True, exist_ok=True)
        return super().experiment


def read_checkpoint(path: str, check: Callable[[dict, str], None] | None = None) -> dict:
    """Load a Lightning checkpoint with ``weights_only=True``; one clear error if it is not one
    (``check(ckpt, name)`` may refuse checkpoints of another kind of model by raising PreimageError;
    ``name`` is how its message names the file: ``--ckpt_path PATH``)."""
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
        check(ckpt, f"--ckpt_path {path}")
    return ckpt


class PreimageCLI(LightningCLI):
    """LightningCLI with the project's callbacks, run directory and checkpoint check (module
    docstring). ``root``: parent of run directories; ``default_name``: the run's name when no
    ``--config`` file is given; ``check_checkpoint``: refuses a ``--ckpt_path`` of another kind."""

    def __init__(self, *args: Any, root: str | Path = "runs", default_name: str = "run",
                 check_checkpoint: Callable[[dict, str], None] | None = None,
                 built: list["PreimageCLI"] | None = None, **kwargs: Any) -> None:
        self.root, self.default_name, self.check_checkpoint = Path(root), default_name, check_checkpoint
        self.run_dir: Path | None = None
        self.user_dir = False
        if built is not None:  # the caller's handle, for clean-up when the constructor fails
            built.append(self)
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.monitor": "val/loss", "checkpoint.mode": "min",
                             "checkpoint.save_last": True, "checkpoint.filename": "best"})
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({"early_stopping.monitor": "val/loss", "early_stopping.mode": "min",
                             "early_stopping.patience": 5})

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        sub = self.config.get("subcommand")
        path = self.config[sub].get("ckpt_path") if sub else None
        if path and str(path) not in ("last", "best", "hpc", "registry"):
            read_checkpoint(str(path), self.check_checkpoint)  # before Lightning reads its hyper-parameters

    def before_instantiate_classes(self) -> None:
        sub = self.config.get("subcommand")
        cfg = self.config[sub] if sub else self.config
        trainer = cfg["trainer"]
        self.user_dir = trainer.get("default_root_dir") is not None
        ckpt = cfg.get("ckpt_path")
        resumed = _run_of(ckpt) if ckpt else None
        shared = _ddp_child_dir()
        if resumed is not None:  # resuming: continue in the run directory that wrote the checkpoint
            self.save_config_kwargs = {**self.save_config_kwargs, "config_filename": "config-resumed.yaml",
                                       "overwrite": True}  # in every DDP process: the config saver's collectives match
        if shared is not None:  # a DDP process Lightning started for process 0: its directory, never removed here
            trainer["default_root_dir"], self.user_dir = shared, True
        elif resumed is not None and not self.user_dir:
            trainer["default_root_dir"] = str(resumed)
            self.user_dir = True  # it holds the earlier run's files: never removed
            _keep_metrics(resumed)
        elif not self.user_dir:
            configs = [c for c in (cfg.get("config") or []) if c is not None]
            name = Path(str(configs[-1])).stem if configs else self.default_name
            from preimage.train.output.run_dir import claim_dir

            trainer["default_root_dir"] = str(claim_dir(self.root, name))  # atomic: concurrent fits differ
        run_dir = str(trainer["default_root_dir"])
        self.run_dir = Path(run_dir)
        if shared is None:
            os.environ[RUN_DIR_ENV] = run_dir  # for the processes a DDP launcher starts (removed after the run)
        from preimage.train.fit.callbacks import StderrProgressBar, has_progress_bar

        if trainer.get("enable_progress_bar") is not False and not has_progress_bar(trainer.get("callbacks")) \
                and not has_progress_bar(self.trainer_defaults.get("callbacks")):
            self.trainer_defaults["callbacks"] = [*self.trainer_defaults.get("callbacks", []), StderrProgressBar()]
        logger = trainer.get("logger")
        if logger is None or logger is True:
            from jsonargparse import Namespace

            trainer["logger"] = Namespace(class_path="lightning.pytorch.loggers.CSVLogger",
                                          init_args=Namespace(save_dir=run_dir, name="", version=""))
        else:
            for spec in logger if isinstance(logger, list) else [logger]:
                args = getattr(spec, "init_args", None)
                if args is not None and str(spec.class_path).rsplit(".", 1)[-1] in _SAVE_DIR_LOGGERS \
                        and args.get("save_dir") in (None, ".", ""):
                    args["save_dir"] = run_dir

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher

        if isinstance(getattr(self.trainer.strategy, "launcher", None), _MultiProcessingLauncher):
            sub = self.config.get("subcommand")
            name = (self.config[sub] if sub else self.config)["trainer"].get("strategy")
            name = name if isinstance(name, str) else type(self.trainer.strategy).__name__
            raise PreimageError(f"--trainer.strategy {name} starts its processes with multiprocessing, which the fit "
                                "commands do not support; use --trainer.strategy ddp")


def _keep_metrics(run: Path) -> None:
    """Lightning's CSVLogger deletes a ``metrics.csv`` it finds: a resumed run first moves the
    earlier one to ``metrics-1.csv`` (``-2``, … after further resumes)."""
    csv = run / "metrics.csv"
    if csv.is_file():
        n = 1
        while (run / f"metrics-{n}.csv").exists():
            n += 1
        csv.rename(run / f"metrics-{n}.csv")


def _run_of(ckpt: Any) -> Path | None:
    """The run directory that wrote checkpoint ``ckpt`` (``<run>/checkpoints/x.ckpt``), if any."""
    path = Path(str(ckpt))
    if path.is_file() and path.parent.name == "checkpoints" and (path.parent.parent / "config.yaml").is_file():
        return path.parent.parent
    return None


def run_lightning_cli(model_class: type, datamodule_class: type | None, args: Sequence[str], *,
                      root: str | Path = "runs", prog: str | None = None,
                      check_checkpoint: Callable[[dict, str], None] | None = None,
                      export: Callback | None = None, trainer_defaults: dict[str, Any] | None = None,
                      **cli_kwargs: Any) -> PreimageCLI:
    """Run :class:`PreimageCLI` over ``model_class`` / ``datamodule_class`` with ``args`` (see the
    module docstring); ``export`` is a callback added to every run (it writes the trained model
    and records the reproducing command it was built with); ``cli_kwargs`` go to LightningCLI."""
    from jsonargparse import ArgumentError

    help_only = any(a in ("-h", "--help", "--print_config") or a.startswith("--print_config=") for a in args)
    from preimage.train.fit.callbacks import InterruptCheckpoint

    defaults: dict[str, Any] = dict(trainer_defaults or {})
    defaults["callbacks"] = [*([export] if export is not None else []), InterruptCheckpoint()]
    # Lightning's start-up notes (accelerators, tips) would break the one-line error contract
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cli_kwargs.setdefault("parser_kwargs", {"exit_on_error": False, "allow_abbrev": False,  # a typo is an error
                                            **({"prog": prog} if prog else {})})
    cli_kwargs.setdefault("save_config_kwargs", {"overwrite": False})
    built: list[PreimageCLI] = []
    missing_parents = [p for p in [Path(root), *Path(root).parents] if not p.exists()]
    handed_down = os.environ.get(RUN_DIR_ENV)
    try:
        with warnings.catch_warnings():
            _quiet_library_warnings()
            cli = PreimageCLI(model_class, datamodule_class, args=list(args), trainer_defaults=defaults, root=root,
                              default_name=model_class.__name__.lower(), check_checkpoint=check_checkpoint,
                              built=built, **cli_kwargs)
    except ArgumentError as e:
        _clean(built[0] if built else None, missing_parents)
        raise PreimageError(_one_line(e, getattr(built[0], "parser", None) if built else None)) from None
    except BaseException as e:
        stop = _interruption(built[0] if built else None, e)
        _clean(built[0] if built else None, missing_parents)
        if stop is not None:
            raise stop from None
        inner = _preimage_cause(e)
        if inner is not None:
            raise inner from None
        raise
    finally:  # this run's directory is not the next one's
        if handed_down is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = handed_down
    if help_only:
        cli.run_dir = None
    return cli


def _quiet_library_warnings() -> None:
    """Filters for the fit run (inside ``warnings.catch_warnings``): the libraries' notes to their
    own callers (deprecations inside Lightning and jsonargparse, torch's ``LeafSpec`` one met by
    Lightning's pytree code) are not the user's to act on, so stderr holds only our lines and
    the progress bar. Lightning's other warnings (about the user's data or settings) still show."""
    import importlib

    warnings.filterwarnings("ignore", message=".*args parameter is intended.*")  # args given and sys.argv too
    for module, name in (("jsonargparse._deprecated", "JsonargparseDeprecationWarning"),
                         ("lightning.fabric.utilities.rank_zero", "LightningDeprecationWarning")):
        try:
            category = getattr(importlib.import_module(module), name, None)
        except ImportError:  # a library version without it
            continue
        if isinstance(category, type) and issubclass(category, Warning):
            warnings.filterwarnings("ignore", category=category)
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(lightning|jsonargparse|torch|torchmetrics)(\.|$)")


def _interruption(cli: PreimageCLI | None, e: BaseException) -> KeyboardInterrupt | None:
    """Lightning ends an interrupted fit (Ctrl-C, SIGTERM) with ``sys.exit(1)`` after its
    ``on_exception`` hooks: turn that into the command line's interruption (one line, exit 130),
    saying where the interrupted run's checkpoint is and how to resume from it."""
    from preimage.representations.errors import Interrupted
    from preimage.train.fit.callbacks import InterruptCheckpoint

    trainer = getattr(cli, "trainer", None)
    if not isinstance(e, SystemExit) or trainer is None or not trainer.interrupted:
        return None
    saved = next((c.saved for c in trainer.callbacks if isinstance(c, InterruptCheckpoint) and c.saved), None)
    if saved is None:
        return KeyboardInterrupt()  # before the first step: the run directory is removed
    return Interrupted(f"kept the run at step {trainer.global_step} in {saved}; resume it with the same command "
                       f"and --ckpt_path {saved}")


def _preimage_cause(e: BaseException) -> PreimageError | None:
    """The PreimageError behind ``e`` (jsonargparse may wrap errors raised in constructors)."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, PreimageError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def option_names(parser: Any) -> list[str]:
    """Every ``--option`` a (jsonargparse / argparse) parser and its subcommands know."""
    names: list[str] = []
    for action in getattr(parser, "_actions", []):
        names += [s for s in action.option_strings if s.startswith("--")]
        for sub in (getattr(action, "choices", None) or {}).values() if hasattr(action, "_name_parser_map") else []:
            names += option_names(sub)
    return names


def _one_line(e: BaseException, parser: Any = None) -> str:
    """jsonargparse's (multi-line) message in one line, with did-you-mean for an unknown option."""
    import difflib
    import re

    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else type(e).__name__
    for ln in lines[1:]:  # jsonargparse puts the reason on a later line
        if len(text) > 200:
            break
        text += " " + ln
    hint = ""
    unknown = re.search(r"(?:unrecognized arguments|Key|key)[: ]+['\"]?(--?[\w.]+|[\w.]+)", text)
    if parser is not None and unknown:
        key = unknown.group(1)
        key = key if key.startswith("--") else f"--{key}"
        close = difflib.get_close_matches(key, option_names(parser), n=1, cutoff=0.7)
        hint = f" (did you mean {close[0]}?)" if close and close[0] != key else ""
    return text[:400] + hint + " (see --help)"


def _clean(cli: PreimageCLI | None, missing_parents: list[Path]) -> None:
    """Remove a run directory that a failed run created (unless it holds a checkpoint) and the
    parent folders it created, if empty."""
    run_dir = getattr(cli, "run_dir", None)
    if run_dir is not None and not cli.user_dir and run_dir.exists() and not any(run_dir.rglob("*.ckpt")):
        shutil.rmtree(run_dir, ignore_errors=True)
    from preimage.train.output.run_dir import remove_created

    remove_created(missing_parents)
