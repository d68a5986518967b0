"""User-facing errors.

A `TransferkitError` carries one line that names what is wrong (file, row, column, field) and
what to do about it. The CLI prints that line and exits non-zero, without a traceback unless
`--debug` is given. Anything else that escapes is a bug and keeps its traceback.
"""


class TransferkitError(Exception):
    """An error caused by the user's input or environment, explained in one line."""

    exit_code = 2


class DataError(TransferkitError):
    """Bad or unusable data: a file, a row, a column."""


class ModelSourceError(TransferkitError):
    """A model that cannot be found, pulled, verified or loaded."""


class ConfigError(TransferkitError):
    """An unknown or invalid setting."""


class OfflineError(ModelSourceError):
    """A network access was needed while offline mode is on."""


class DiskFullError(TransferkitError):
    """A write ran out of space; what was on disk before is intact."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that every cleanup on the way out runs (exit 143)."""


class Interrupted(TransferkitError):
    """Ctrl-C (SIGINT, exit 130) or SIGTERM (exit 143) stopped a command; the message says how to go on."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code
