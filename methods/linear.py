"""``linear``: Delaunay linear interpolation per level, nearest fill outside the hull."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import LinearNDInterpolator
from scipy.spatial import QhullError

from reconbench.datasets.grid import unit_vectors
from reconbench.methods.base import Method, map_levels
from reconbench.methods.nearest import nearest_fill
from reconbench.methods.registry import register_method


@register_method("linear")
class Linear(Method):
    """Piecewise-linear interpolation on a Delaunay triangulation of each level's points.

    The triangulation is made in the (longitude, latitude) plane; points within
    ``wrap_degrees`` of the dateline are copied 360° east and west so the field is
    continuous across it. Cells outside the convex hull (polar caps, far from any
    point) take the great-circle nearest guidance value.
    """

    needs_training = False

    def __init__(self, wrap_degrees: float = 60.0):
        self.wrap_degrees = wrap_degrees

    def fit(self, train, grid):
        super().fit(train, grid)
        lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
        self.lat2_, self.lon2_ = lat2, lon2
        self.points_ = unit_vectors(lat2, lon2)
        return self

    def _fill(self, values: np.ndarray) -> np.ndarray:
        known = np.isfinite(values)
        lon, lat, val = self.lon2_[known], self.lat2_[known], values[known]
        east, west = lon < self.wrap_degrees, lon > 360.0 - self.wrap_degrees
        xy = np.concatenate([np.column_stack([lon, lat]),
                             np.column_stack([lon[east] + 360.0, lat[east]]),
                             np.column_stack([lon[west] - 360.0, lat[west]])])
        z = np.concatenate([val, val[east], val[west]])
        out = values.copy()
        if len(z) >= 3:
            try:
                interp = LinearNDInterpolator(xy, z)
                out[~known] = interp(self.lon2_[~known], self.lat2_[~known])
            except QhullError:  # degenerate (e.g. collinear) points: nearest fill alone
                pass
        return nearest_fill(out, self.points_) if np.isnan(out).any() else out

    def reconstruct(self, obs):
        return map_levels(obs, lambda values, k: self._fill(values))
