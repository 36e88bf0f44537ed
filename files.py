"""Temporary files for atomic writes: created beside their target, renamed over it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_beside(path: Path, prefix: str | None = None) -> Path:
    """A new empty file in ``path``'s folder to write and then ``os.replace`` onto ``path``.

    Unlike a bare :func:`tempfile.mkstemp` (mode 0600), the file gets the mode a
    normal ``open(path, "w")`` would (0666 less the umask), so results, caches and
    priors stay readable by the people the folder is shared with.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.",
                                suffix=".tmp")
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)
