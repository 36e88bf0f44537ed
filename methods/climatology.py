"""``climatology``: the train-split monthly mean, ignoring the observations."""

from __future__ import annotations

import numpy as np
import xarray as xr

from reconbench.datasets.source import monthly_climatology
from reconbench.methods.base import Method
from reconbench.methods.registry import register_method


@register_method("climatology")
class Climatology(Method):
    """Reconstruct every month as the mean of that calendar month over the train split.

    A reference: it shows what is known before any observation. Ocean cells with
    no training value for a month take that cell's mean over all months.
    """

    def fit(self, train, grid):
        super().fit(train, grid)
        clim = monthly_climatology(train).values  # (12, depth, lat, lon)
        known = np.isfinite(clim)
        overall = np.where(known, clim, 0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)
        self.climatology_ = np.where(np.isfinite(clim), clim, overall).astype(np.float32)
        return self

    def reconstruct(self, obs: xr.DataArray) -> xr.DataArray:
        months = obs["time"].dt.month.values
        return obs.copy(data=self.climatology_[months - 1])
