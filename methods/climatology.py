"""``climatology``: the train-split monthly mean, ignoring the observations."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from reconbench.datasets.source import monthly_climatology
from reconbench.errors import InputError
from reconbench.methods.base import Method
from reconbench.methods.registry import register_method


@register_method("climatology")
class Climatology(Method):
    """Reconstruct every month as the mean of that calendar month over the train split.

    A reference: it shows what is known before any observation. On gappy training
    data each mean is over the values available (NaN gaps left out). Ocean cells
    with no training value for a month take that cell's mean over all months;
    cells never observed take the mean of their level in that month.
    """

    def fit(self, train, grid):
        super().fit(train, grid)
        clim = monthly_climatology(train).values  # (12, depth, lat, lon)
        known = np.isfinite(clim)
        overall = np.where(known, clim, 0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)
        clim = np.where(known, clim, np.where(known.any(axis=0), overall, np.nan))
        clim = np.where(grid.ocean, clim, np.nan)
        with warnings.catch_warnings():  # a month or level without any value: NaN, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            level_mean = np.nanmean(clim, axis=(2, 3), keepdims=True)  # (12, depth, 1, 1)
            level_mean = np.where(np.isfinite(level_mean), level_mean,
                                  np.nanmean(level_mean, axis=0, keepdims=True))
        empty = np.flatnonzero(~np.isfinite(level_mean[0, :, 0, 0]) & grid.ocean.any(axis=(1, 2)))
        if empty.size:
            raise InputError(f"the training data has no value at level {grid.depth[empty[0]]:g} m; "
                             f"climatology needs at least one observed value per level")
        clim = np.where(np.isfinite(clim), clim, level_mean)
        self.climatology_ = np.where(grid.ocean, clim, 0.0).astype(np.float32)  # land: 0
        return self

    def reconstruct(self, obs: xr.DataArray) -> xr.DataArray:
        months = obs["time"].dt.month.values
        return obs.copy(data=self.climatology_[months - 1])
