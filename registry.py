"""A registry of named classes: how methods, dataset sources and mask kinds are found.

One :class:`Registry` per kind of thing. Classes register under a name with the
:meth:`Registry.register` decorator; on the first lookup the registry imports
every module of its package (so a module dropped into that folder is found
without other edits) and loads the classes or modules of its entry-point group
(so external packages plug in). The package's base modules import nothing of
their implementations, so the registry is what ties them together, without an
import circle.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points

from reconbench.errors import InputError
from reconbench.params import check_params, did_you_mean


class Registry:
    """Classes of one kind (subclasses of ``base``) by name.

    ``kind`` names one of them in messages ("method", "dataset", "mask kind") and
    ``known`` the list of names ("methods", "datasets", "kinds"). ``package`` is
    the dotted package whose modules (but those named in ``skip``) are imported
    on first lookup; ``entry_point_group`` (optional) the entry-point group whose
    objects are loaded then: a module that registers classes on import, or a
    ``base`` subclass, registered under the entry point's name.
    """

    def __init__(self, kind: str, known: str, base: type, package: str,
                 skip: tuple[str, ...] = (), entry_point_group: str | None = None):
        self.kind, self.known, self.base = kind, known, base
        self.package, self.skip, self.entry_point_group = package, skip, entry_point_group
        self._classes: dict[str, type] = {}
        self._discovered = False

    def register(self, name: str):
        """Class decorator registering a ``base`` subclass under ``name`` (its ``name``)."""

        def decorate(cls):
            if not (inspect.isclass(cls) and issubclass(cls, self.base)):
                raise TypeError(f"{cls!r} registered as {self.kind} {name!r} is not a "
                                f"{self.base.__name__} subclass")
            cls.name = name
            self._classes[name] = cls
            return cls

        return decorate

    def _discover(self) -> None:
        """Import the package's modules and load the entry points, once."""
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__):
            if info.name not in self.skip:
                importlib.import_module(f"{self.package}.{info.name}")
        if self.entry_point_group:
            for ep in entry_points(group=self.entry_point_group):
                obj = ep.load()
                if (inspect.isclass(obj) and issubclass(obj, self.base)
                        and obj.name not in self._classes):
                    self.register(ep.name)(obj)

    def names(self) -> list[str]:
        """Names of all registered classes, sorted."""
        self._discover()
        return sorted(self._classes)

    def get(self, name: str) -> type:
        """The class registered as ``name``; :class:`InputError` (with a "did you mean")
        if there is none."""
        self._discover()
        try:
            return self._classes[name]
        except (KeyError, TypeError):
            raise InputError(f"unknown {self.kind} {name!r}; known {self.known}: "
                             f"{', '.join(self.names())}{did_you_mean(name, self.names())}"
                             ) from None

    def check(self, name: str, params: dict) -> type:
        """The class ``name``, once ``params`` fit its ``__init__`` (names and type hints)."""
        cls = self.get(name)
        check_params(cls, params, f"{self.kind} {name!r}")
        return cls

    def make(self, name: str, **params):
        """An instance of the class ``name`` built from checked keyword parameters."""
        return self.check(name, params)(**params)
