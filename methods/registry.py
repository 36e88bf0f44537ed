"""The registry of reconstruction methods and how methods are found.

Three ways in, all ending in :func:`register_method`:

1. built-in and user modules dropped into the ``methods/`` folder are imported
   on first use (any module that is not ``base`` or ``registry``);
2. external packages declare an entry point in the group ``reconbench.methods``
   whose object is a module that registers methods on import, or a
   :class:`~reconbench.methods.base.Method` subclass (registered under the
   entry point's name);
3. code can call :func:`register_method` directly.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points

from reconbench.errors import InputError, check_keywords
from reconbench.methods.base import Method

ENTRY_POINT_GROUP = "reconbench.methods"
_METHODS: dict[str, type[Method]] = {}
_discovered = False


def register_method(name: str):
    """Class decorator registering a :class:`Method` subclass under ``name``."""

    def decorate(cls):
        if not (inspect.isclass(cls) and issubclass(cls, Method)):
            raise TypeError(f"{cls!r} registered as method {name!r} is not a Method subclass")
        cls.name = name
        _METHODS[name] = cls
        return cls

    return decorate


def _discover() -> None:
    """Import the modules of ``methods/`` and load the entry points, once."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("reconbench.methods")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in ("base", "registry"):
            importlib.import_module(f"reconbench.methods.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if inspect.isclass(obj) and issubclass(obj, Method) and obj.name not in _METHODS:
            register_method(ep.name)(obj)


def method_names() -> list[str]:
    """Names of all registered methods."""
    _discover()
    return sorted(_METHODS)


def method_class(name: str) -> type[Method]:
    """The class registered as ``name``; :class:`InputError` if there is none."""
    _discover()
    try:
        return _METHODS[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; known methods: "
                         f"{', '.join(sorted(_METHODS))}") from None


def make_method(name: str, **params) -> Method:
    """Instantiate method ``name`` with keyword parameters, checking their names."""
    cls = method_class(name)
    check_keywords(cls, params, f"method {name!r}")
    return cls(**params)
