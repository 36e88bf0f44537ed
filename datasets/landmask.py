"""Surface land/ocean masks for regular grids, derived once and cached on disk.

The masks come from the ``global-land-mask`` package (a 30" global land array).
Importing that package costs about 1.6 GB of memory, so it is imported only inside
:func:`_compute_surface_ocean`, which runs once per grid; the result is cached as a
small ``.npy`` file under :func:`cache_dir` and every later call reads that file.
Processes that must never pay for the import (Dask workers) call
:func:`forbid_derivation`; a mask missing from their cache is then an error.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from reconbench.errors import InputError
from reconbench.files import temporary_beside

#: Sub-points per cell along each axis used to estimate a cell's land fraction.
SAMPLES_PER_AXIS = 5

#: Bump when the way masks are derived changes, so stale cache files are not reused.
MASK_VERSION = 1

_derivation_allowed = True


def forbid_derivation() -> None:
    """Make a land mask missing from the cache an error in this process (see the module doc)."""
    global _derivation_allowed
    _derivation_allowed = False


def cache_dir() -> Path:
    """The reconbench cache folder, created if needed.

    ``$RECONBENCH_CACHE`` when set, else ``~/.cache/reconbench``.
    """
    path = Path(os.environ.get("RECONBENCH_CACHE") or Path.home() / ".cache" / "reconbench")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` as ``.npy`` through a temporary file and a rename.

    A reader never sees a half-written file, and an interrupted write leaves no file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_beside(path, prefix=path.stem)
    try:
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def surface_ocean(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Surface ocean mask of a regular grid: (n_lat, n_lon) bool, True where ocean.

    ``lat`` (n_lat,) and ``lon`` (n_lon,) are evenly spaced cell centres in degrees
    north and east (any longitude convention). A cell is ocean when less than half
    of its ``SAMPLES_PER_AXIS**2`` sub-points fall on land. Cached on disk by axes.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    path = cache_dir() / "landmask" / f"ocean-{_axes_key(lat, lon)}.npy"
    if path.exists():
        return np.load(path)
    ocean = _compute_surface_ocean(lat, lon)
    save_npy_atomic(path, ocean)
    return ocean


def _axes_key(lat: np.ndarray, lon: np.ndarray) -> str:
    """A short hash of the axes and the derivation settings."""
    h = hashlib.sha256(f"v{MASK_VERSION}-s{SAMPLES_PER_AXIS}".encode())
    h.update(lat.tobytes())
    h.update(lon.tobytes())
    return h.hexdigest()[:16]


def _compute_surface_ocean(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Land fraction by sub-sampling each cell; see :func:`surface_ocean`."""
    if not _derivation_allowed:
        raise InputError(f"the land mask of a {lat.size} x {lon.size} grid is not in the cache "
                         f"{str(cache_dir())!r} and this process may not derive it (a Dask "
                         f"worker: the client derives land masks and sends them to workers)")
    from global_land_mask import globe  # ~1.6 GB: only imported here

    offsets = (np.arange(SAMPLES_PER_AXIS) + 0.5) / SAMPLES_PER_AXIS - 0.5
    dlat = abs(lat[1] - lat[0]) if lat.size > 1 else 1.0
    dlon = abs(lon[1] - lon[0]) if lon.size > 1 else 1.0
    sub_lat = np.clip((lat[:, None] + dlat * offsets).ravel(), -89.999, 89.999)
    sub_lon = (lon[:, None] + dlon * offsets).ravel()
    sub_lon = (sub_lon + 180.0) % 360.0 - 180.0
    lat2, lon2 = np.meshgrid(sub_lat, sub_lon, indexing="ij")
    land = globe.is_land(lat2, lon2).reshape(lat.size, SAMPLES_PER_AXIS, lon.size,
                                             SAMPLES_PER_AXIS)
    return land.mean(axis=(1, 3)) < 0.5
