"""The ``preimage`` command line: ``main`` (signals, one-line errors, exit codes) in
:mod:`.main`, one module per command (``HELP``, ``add_arguments(parser)``, ``run(args)``).

May import every other subpackage of ``train``; nothing imports ``cli`` but the entry point."""

from preimage.train.cli.main import main

__all__ = ["main"]
