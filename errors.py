"""Errors that mean "the user asked for something wrong", shown as one line.

The CLI prints these as ``reconbench: error: <message>`` with no traceback;
every other exception is a bug and keeps its traceback.
"""

import inspect


class ReconbenchError(Exception):
    """Base class of the errors the CLI reports as one clear line."""


class InputError(ReconbenchError, ValueError):
    """Bad input: a file, variable, parameter or setting that is not what is expected."""


class ConfigError(InputError):
    """A malformed suite file or an unknown name in it."""


def check_keywords(cls: type, params: dict, what: str) -> None:
    """Raise :class:`InputError` if ``params`` has a name ``cls.__init__`` does not take.

    ``what`` names the thing being built in the message, e.g. "method 'oi'".
    """
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InputError(f"unknown parameter(s) {', '.join(unknown)} for {what}; "
                         f"accepted: {', '.join(accepted) or 'none'}")
