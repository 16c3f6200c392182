"""Errors raised by the engine (both are :class:`PreimageError`: one line, exit 2 in the CLI)."""

from preimage.representations.errors import PreimageError


class DivergenceError(PreimageError):
    """The energy became NaN or infinite; the message names the step and the term."""

    def __init__(self, step: int, term: str, value: float) -> None:
        self.step, self.term, self.value = step, term, value
        super().__init__(
            f"inversion diverged at step {step}: term {term!r} became {value}; "
            "lower the learning rate or raise the prior weights"
        )
