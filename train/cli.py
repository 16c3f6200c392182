"""``preimage``: the command line. Each subcommand lives in ``train/commands/<name>.py``.

Bad input (a :class:`PreimageError`, a missing file, a bad option) is printed as one
line on stderr with exit status 2; no traceback. Ctrl-C and SIGTERM, at start-up or
during a run, print one line and exit 130 after the run directory is cleaned up.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import NoReturn, Sequence

# name → module; only subcommands that exist are listed.
COMMANDS: dict[str, str] = {
    "layers": "preimage.train.commands.layers",
    "invert": "preimage.train.commands.invert",
    "prior": "preimage.train.commands.prior",
    "inverter": "preimage.train.commands.inverter",
    "compare": "preimage.train.commands.compare",
    "stats": "preimage.train.commands.stats",
    "hoggle": "preimage.train.commands.hoggle",
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


def main(argv: Sequence[str] | None = None) -> int:
    prog = f"preimage {_command(argv)}".strip()
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        return _main(argv, prog)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing was written", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None, prog: str) -> int:
    from preimage.representations.errors import PreimageError

    args = build_parser().parse_args(argv)
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
