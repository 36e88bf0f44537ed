"""``nearest``: each cell takes the value of the nearest guidance point of its level."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from reconbench.datasets.grid import unit_vectors
from reconbench.methods.base import Method, map_levels
from reconbench.methods.registry import register_method


def nearest_fill(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Fill NaNs of a (lat, lon) level from its nearest finite cell (great-circle).

    ``points`` is the (lat, lon, 3) array of the cells' unit vectors.
    """
    known = np.isfinite(values)
    tree = cKDTree(points[known])
    _, idx = tree.query(points[~known])
    out = values.copy()
    out[~known] = values[known][idx]
    return out


@register_method("nearest")
class Nearest(Method):
    """Nearest-neighbour interpolation per level and time, in great-circle distance."""

    needs_training = False

    def fit(self, train, grid):
        super().fit(train, grid)
        lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
        self.points_ = unit_vectors(lat2, lon2)
        return self

    def reconstruct(self, obs):
        return map_levels(obs, lambda values, k: nearest_fill(values, self.points_))
