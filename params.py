"""Checking the keyword parameters of a registered class before it is built.

The parameters of methods, dataset sources and mask kinds are keyword arguments
of their ``__init__`` (scikit-learn's convention). :func:`check_params` checks a
dict of them against that signature: every name must be accepted (a misspelt
one gets a "did you mean"), and every value must fit the parameter's type hint
(``bool``, ``int``, ``float``, ``str``, ``None``, unions such as ``float | None``,
``Literal[...]``, ``list[...]``, ``tuple[...]``, ``dict``, ``Path`` or a class).
A parameter without a hint is not type-checked; a class may declare hints for
those in a ``param_types`` dict (name -> hint), which override the signature's.
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import os
import types
import typing
from pathlib import PurePath

import numpy as np

from reconbench.errors import InputError


def did_you_mean(name: str, known) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known`` to ``name``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def accepted_params(cls: type) -> list[str]:
    """The keyword parameters of ``cls.__init__``, in order."""
    return [p.name for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def param_hints(cls: type) -> dict[str, object]:
    """Type hints of ``cls.__init__``'s parameters, with ``cls.param_types`` on top.

    Raises ``NameError`` / ``TypeError`` if a hint cannot be evaluated (a bug in the
    class, which the registry tests catch for every registered class).
    """
    hints = typing.get_type_hints(cls.__init__)
    hints.pop("return", None)
    hints.update(getattr(cls, "param_types", {}))
    return hints


def check_params(cls: type, params: dict, what: str) -> None:
    """Raise :class:`InputError` (one line) if ``params`` does not fit ``cls.__init__``.

    ``what`` names the thing being built in the message, e.g. "method 'oi'".
    """
    accepted = accepted_params(cls)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        hints = "".join(did_you_mean(name, accepted) for name in unknown)
        raise InputError(f"unknown parameter(s) {', '.join(unknown)} for {what}; "
                         f"accepted: {', '.join(accepted) or 'none'}{hints}")
    hints = param_hints(cls)
    for name, value in params.items():
        if name in hints and not fits(value, hints[name]):
            raise InputError(f"parameter {name} of {what} must be {describe(hints[name])}, "
                             f"got {value!r}")


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def fits(value, hint) -> bool:
    """Whether ``value`` (as read from TOML or given in Python) fits the type hint ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if hint is bool:
        return _is_bool(value)
    if hint is int:
        return isinstance(value, (int, np.integer)) and not _is_bool(value)
    if hint is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not _is_bool(value)
    if hint is str:
        return isinstance(value, str)
    if hint in (PurePath, os.PathLike) or (inspect.isclass(hint) and issubclass(hint, PurePath)):
        return isinstance(value, (str, PurePath))
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(fits, value, args))
        return not args or all(fits(item, args[0]) for item in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if inspect.isclass(hint):
        return isinstance(value, hint)
    return True  # a hint this checker does not understand is not checked


_NAMES = {bool: "a boolean (true or false)", int: "an integer", float: "a number",
          str: "a string", type(None): "none"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


def describe(hint) -> str:
    """What a value of type ``hint`` is, in words, e.g. "a number or none"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is None or hint in _NAMES:
        return _NAMES.get(hint, "none")
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin in (list, tuple, collections.abc.Sequence):
        if args and args[0] in _PLURALS and not (origin is tuple and args[-1] is not Ellipsis):
            return f"a list of {_PLURALS[args[0]]}"
        return "a list"
    if origin is dict or hint is dict:
        return "a table"
    if inspect.isclass(hint) and issubclass(hint, PurePath):
        return "a path"
    return f"a {getattr(hint, '__name__', hint)}"
