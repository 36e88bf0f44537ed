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

from reconbench.methods.base import Method
from reconbench.registry import Registry

ENTRY_POINT_GROUP = "reconbench.methods"
METHODS = Registry("method", "methods", Method, package="reconbench.methods",
                   skip=("base", "registry"), entry_point_group=ENTRY_POINT_GROUP)

#: Class decorator registering a :class:`Method` subclass under a name.
register_method = METHODS.register
#: Names of all registered methods.
method_names = METHODS.names
#: The class registered under a name; :class:`InputError` if there is none.
method_class = METHODS.get
#: Instantiate a method by name with keyword parameters, checking their names and types.
make_method = METHODS.make
