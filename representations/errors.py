"""The one exception type for bad input: its message is a single sentence naming the
problem and the fix. The CLI prints it on one line and exits non-zero."""


class PreimageError(ValueError):
    """Bad input to preimage (unknown layer, missing weights, unreadable image, ...)."""


class Interrupted(KeyboardInterrupt):
    """An interruption (Ctrl-C, SIGTERM) after which something was kept on purpose: the message
    says what and how to go on (e.g. "kept runs/x/checkpoints/interrupted.ckpt; resume with ...").
    The CLI prints it on one line and exits with status 130, like any interruption."""
