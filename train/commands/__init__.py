"""One module per CLI subcommand: ``HELP`` (one line), ``add_arguments(parser)``, ``run(args) -> int``."""


def move_overrides(args, attrs: tuple[str, ...], empty=None) -> None:
    """argparse hands ``key=value`` words after a multi-valued option (``--image a b k=v``)
    to that option: move every word with '=' that is not an existing file to
    ``args.overrides``; an option left empty becomes ``empty``."""
    from pathlib import Path

    for attr in attrs:
        values = getattr(args, attr)
        if values is None:
            continue
        keep = [v for v in values if "=" not in v or Path(v).exists()]
        args.overrides = [v for v in values if v not in keep] + list(args.overrides)
        setattr(args, attr, keep or empty)
