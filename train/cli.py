"""``preimage``: the command line. Each subcommand lives in ``train/commands/<name>.py``.

Bad input (a :class:`PreimageError`, a missing file) is printed as one line on stderr
with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# name → module; only subcommands that exist are listed.
COMMANDS: dict[str, str] = {
    "layers": "preimage.train.commands.layers",
    "invert": "preimage.train.commands.invert",
    "hoggle": "preimage.train.commands.hoggle",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="preimage",
        description="Understand image representations by inverting them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from preimage.representations.errors import PreimageError

    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except PreimageError as e:
        print(f"preimage {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"preimage {args.command}: error: {e.strerror}: {e.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"preimage {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
