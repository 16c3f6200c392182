"""One module per CLI subcommand: ``HELP`` (one line), ``add_arguments(parser)``, ``run(args) -> int``."""
