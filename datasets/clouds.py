"""Cloud-shaped sets of columns: smooth Gaussian random fields and their lowest share.

Shared by the ``clouds`` mask kind (:mod:`reconbench.datasets.observed`, which
draws guidance under a fresh field per sample) and the gaps imposed on a
complete source (:mod:`reconbench.datasets.gaps`, whose clouds persist and
drift from month to month). A field here is white noise smoothed by a Gaussian
of ``scale_deg`` degrees (the standard deviation of the kernel), periodic in
longitude; its ``n`` lowest values over the surface ocean are the *clear*
columns, so clear and cloudy areas are blobs of about that size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from reconbench.datasets.grid import Grid


def grid_spacing(grid: Grid | None) -> float:
    """The grid's latitude spacing in degrees (1 without a grid or with one latitude)."""
    if grid is None or grid.lat.size < 2:
        return 1.0
    return float(np.median(np.diff(grid.lat)))


def smooth(noise: np.ndarray, scale_deg: float, spacing_deg: float) -> np.ndarray:
    """``noise`` (..., lat, lon) smoothed over ``scale_deg`` degrees on a grid of
    ``spacing_deg``: a Gaussian filter of sigma = scale / spacing cells in lat and
    lon (periodic in longitude, edge values repeated at the poles), not across the
    leading axes."""
    sigma = scale_deg / spacing_deg
    sigmas = (0.0,) * (noise.ndim - 2) + (sigma, sigma)
    modes = ("nearest",) * (noise.ndim - 1) + ("wrap",)
    return ndimage.gaussian_filter(noise, sigma=sigmas, mode=modes)


def lowest(field: np.ndarray, surface: np.ndarray, n: int) -> np.ndarray:
    """Bool (lat, lon): the ``n`` cells of ``surface`` (lat, lon) where ``field`` is lowest."""
    order = np.argsort(np.where(surface, field, np.inf), axis=None, kind="stable")[:n]
    chosen = np.zeros(surface.size, bool)
    chosen[order] = True
    return chosen.reshape(surface.shape) & surface
