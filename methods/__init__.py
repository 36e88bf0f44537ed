"""Reconstruction methods: one module per method, found by the registry.

To add a method, drop a module into this folder that defines a
:class:`~reconbench.methods.base.Method` subclass decorated with
:func:`~reconbench.methods.registry.register_method`.
"""

from reconbench.methods.base import Method
from reconbench.methods.registry import make_method, method_names, register_method

__all__ = ["Method", "make_method", "method_names", "register_method"]
