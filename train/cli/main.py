"""``preimage``: the command line. Each subcommand lives in ``train/cli/<name>.py``.

Bad input (a :class:`PreimageError`, a missing file, a bad option) is printed as one
line on stderr with exit status 2; no traceback. Ctrl-C and SIGTERM, at start-up or
during a run, print one line and exit 130: after the run directory is cleaned up, or, where
the work done is kept to go on from (a fit's checkpoint, a comparison's ``.partial``
directory; :class:`~preimage.representations.errors.Interrupted`), saying what was kept and
how to resume.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import NoReturn, Sequence

# name → module; only subcommands that exist are listed.
COMMANDS: dict[str, str] = {
    "layers": "preimage.train.cli.layers",
    "invert": "preimage.train.cli.invert",
    "prior": "preimage.train.cli.prior",
    "inverter": "preimage.train.cli.inverter",
    "compare": "preimage.train.cli.compare",
    "stats": "preimage.train.cli.stats",
    "hoggle": "preimage.train.cli.hoggle",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (its default prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="preimage", description="Understand image representations by inverting them.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _sigterm(signum, frame) -> NoReturn:
    raise KeyboardInterrupt  # SIGTERM runs the same clean-up as Ctrl-C


def _command(argv: Sequence[str] | None) -> str:
    args = list(sys.argv[1:] if argv is None else argv)
    return next((a for a in args if a in COMMANDS), "")


class _Deferred:
    """A signal handler that only remembers: start-up imports compiled extensions (torch,
    torchvision), and a KeyboardInterrupt raised inside Python code that one of them calls
    can abort the interpreter (pybind11 turns it into a C++ exception thrown where none
    may be). So while the command starts, Ctrl-C and SIGTERM are held and acted on once
    the imports are done."""

    def __init__(self) -> None:
        self.received: int | None = None

    def __call__(self, signum, frame) -> None:
        self.received = signum


def _install(handlers: dict[int, object]) -> dict[int, object]:
    """Set the handlers; returns the previous ones ({} where this is not the main thread)."""
    previous = {}
    try:
        for sig, handler in handlers.items():
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        _install(previous)
        return {}
    return previous


def main(argv: Sequence[str] | None = None) -> int:
    prog = f"preimage {_command(argv)}".strip()
    deferred = _Deferred()
    previous = _install({signal.SIGINT: deferred, signal.SIGTERM: deferred})
    try:
        return _main(argv, prog, deferred, previous)
    except KeyboardInterrupt as e:  # Interrupted says what was kept and how to go on
        from preimage.representations.errors import Interrupted

        print(f"{prog}: interrupted; {e if isinstance(e, Interrupted) else 'nothing was written'}", file=sys.stderr)
        return 130
    finally:
        _install(previous)


def _main(argv: Sequence[str] | None, prog: str, deferred: _Deferred, previous: dict[int, object]) -> int:
    from preimage.representations.errors import PreimageError

    parser = build_parser()  # imports every command and, with them, torch
    from preimage.inversion import keep_freed_memory

    keep_freed_memory()  # this process is ours: freed tensors' memory is reused, not page-faulted anew
    if previous:  # from here on, an interrupt raises at once and the command cleans up
        sigint = previous[signal.SIGINT]
        _install({signal.SIGINT: sigint, signal.SIGTERM: _sigterm})
        if deferred.received == signal.SIGTERM or (deferred.received == signal.SIGINT and callable(sigint)):
            raise KeyboardInterrupt
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except PreimageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a missing file, a full disk, a folder where a file was expected
        what = f": {e.filename}" if e.filename else ""
        print(f"{prog}: error: {e.strerror or e}{what}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
