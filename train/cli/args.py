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


#: The largest input side ``layers`` and ``stats`` accept: shapes and receptive fields of
#: larger inputs follow from the same strides, and their maps would need gigabytes.
MAX_SIDE = 4096


def check_side(size: int, phi, taps, option: str = "--size") -> None:
    """One clear error if ``size`` is outside [the smallest input every tap needs, MAX_SIDE]."""
    from preimage.representations.errors import PreimageError

    if size > MAX_SIDE:
        raise PreimageError(f"{option} {size} is too large: give at most {MAX_SIDE} pixels (shapes and receptive "
                            "fields of larger inputs follow from the same strides)")
    need = {t: phi.min_input_size(t) for t in taps}
    layer = max(need, key=need.get)
    if size < need[layer]:
        raise PreimageError(f"{option} {size} is too small for layer {layer} of {phi.name}: "
                            f"give at least {need[layer]} pixels")


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (``--devices 0`` is one line, exit 2)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed, give an integer ≥ 1")
    return value
