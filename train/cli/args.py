"""Argument helpers shared by the commands."""


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


def lightning_args(args: list[str], kind: str) -> list[str]:
    """The ``fit`` commands' words in LightningCLI's form: ``key=value`` (the override syntax
    of every other command) becomes ``--key value``, and ``--config NAME`` that is not a file
    becomes the preset ``configs/<kind>/NAME.yaml`` (did-you-mean otherwise)."""
    import re

    from preimage.train.config.presets import resolve_preset

    out: list[str] = []
    for i, a in enumerate(args):
        prev = out[-1] if out else ""
        takes_value = prev.startswith("-") and "=" not in prev
        if not a.startswith("-") and not takes_value and re.match(r"^[A-Za-z_][\w.]*=", a):
            key, value = a.split("=", 1)
            out += [f"--{key}", value]
        elif a.startswith("--config=") or (prev in ("--config", "-c") and not a.startswith("-")):
            name = a.split("=", 1)[1] if a.startswith("--config=") else a
            path = name if name.lstrip().startswith(("{", "[")) else str(resolve_preset(kind, name))
            out += ["--config", path] if a.startswith("--config=") else [path]
        else:
            out.append(a)
    return out
