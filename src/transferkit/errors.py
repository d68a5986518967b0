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
