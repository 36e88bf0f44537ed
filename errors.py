"""Errors that mean "the user asked for something wrong", shown as one line.

The CLI prints these as ``reconbench: error: <message>`` with no traceback;
every other exception is a bug and keeps its traceback.
"""


class ReconbenchError(Exception):
    """Base class of the errors the CLI reports as one clear line."""


class InputError(ReconbenchError, ValueError):
    """Bad input: a file, variable, parameter or setting that is not what is expected."""


class ConfigError(InputError):
    """A malformed suite file or an unknown name in it."""
