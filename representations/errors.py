"""The one exception type for bad input: its message is a single sentence naming the
problem and the fix. The CLI prints it on one line and exits non-zero."""


class PreimageError(ValueError):
    """Bad input to preimage (unknown layer, missing weights, unreadable image, ...)."""
