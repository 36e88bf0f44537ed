"""``kriging``: ordinary kriging of anomalies per level, with PyKrige as the engine.

Each (time, level) is kriged on its own: the anomaly from the train monthly
climatology at the guidance points, in geographic coordinates (great-circle
distance in degrees), with a moving window of the ``n_closest_points`` nearest
observations per target:

    x(t) = x_b(t) + sum_o w_o (y_o - x_b(o)),   sum_o w_o = 1,
    [Gamma_oo 1; 1^T 0] [w; mu] = [gamma_ot; 1],

with gamma the variogram (``variogram_model``, parameters psill, range in
degrees, nugget). PyKrige builds dense all-pairs matrices when it is set up
(O(N^2) memory), so the method never gives it many points at once: the
variogram is fitted on at most ``max_fit_points`` points, and the kriging runs
tile by tile (``tile`` x ``tile`` grid cells), each with only the observations
that are among the nearest ``n_closest_points`` of one of the tile's cells. The
result equals PyKrige's own moving window over all observations.
"""

from __future__ import annotations

import numpy as np
from pykrige.ok import OrdinaryKriging
from scipy.spatial import cKDTree

from reconbench.datasets.grid import unit_vectors
from reconbench.errors import InputError
from reconbench.methods.base import Method
from reconbench.methods.climatology import Climatology
from reconbench.methods.registry import register_method

MODELS = ("spherical", "exponential", "gaussian")
MIN_FIT_POINTS = 20  # fewer points than this: the level keeps the default / train variogram
DEFAULT_RANGE_DEG = 10.0  # default variogram range; psill = the level's variance, nugget 10 %


def fit_variogram(lon, lat, values, model: str, nlags: int) -> dict:
    """PyKrige's least-squares fit of ``model`` to one set of points.

    ``lon``, ``lat`` (n,) in degrees, ``values`` (n,) in °C. Returns
    {"psill", "range", "nugget"} (°C², degrees, °C²).
    """
    ok = OrdinaryKriging(lon, lat, values, variogram_model=model, nlags=nlags,
                         coordinates_type="geographic")
    psill, range_, nugget = ok.variogram_model_parameters
    return {"psill": float(psill), "range": float(range_), "nugget": float(nugget)}


def default_variogram(values: np.ndarray) -> dict:
    """The documented fallback variogram for ``values`` (n,) in °C."""
    var = float(np.var(values)) if values.size > 1 else 1.0
    var = max(var, 1e-6)
    return {"psill": 0.9 * var, "range": DEFAULT_RANGE_DEG, "nugget": 0.1 * var}


@register_method("kriging")
class Kriging(Method):
    """Ordinary kriging per level of anomalies from the train monthly climatology.

    Parameters
    ----------
    variogram_model : "spherical", "exponential" or "gaussian" (PyKrige's forms).
    fit_on : "train" fits one variogram per level on train anomalies (the
        median of the fits of ``fit_months`` months); "obs" fits one per time and
        level on the guidance points, falling back to the train fit below
        ``MIN_FIT_POINTS`` points.
    variogram_parameters : {"psill", "range", "nugget"} for every level; None fits.
    n_closest_points : observations per target (moving window).
    backend : PyKrige's moving-window backend, "C" or "loop".
    max_fit_points : points given to a variogram fit at most (random subsample).
    fit_months : train months (evenly spaced) fitted per level.
    nlags : lag bins of the experimental variogram.
    tile : side of the tiles, in grid cells, kriged with one PyKrige object.
    seed : seeds the subsampling.
    """

    def __init__(self, variogram_model: str = "exponential", fit_on: str = "train",
                 variogram_parameters=None, n_closest_points: int = 32, backend: str = "C",
                 max_fit_points: int = 800, fit_months: int = 4, nlags: int = 20,
                 tile: int = 16, seed: int = 0):
        self.variogram_model = variogram_model
        self.fit_on = fit_on
        self.variogram_parameters = variogram_parameters
        self.n_closest_points = n_closest_points
        self.backend = backend
        self.max_fit_points = max_fit_points
        self.fit_months = fit_months
        self.nlags = nlags
        self.tile = tile
        self.seed = seed

    def fit(self, train, grid):
        super().fit(train, grid)
        if self.variogram_model not in MODELS:
            raise InputError(f"kriging variogram_model must be one of {MODELS}, got "
                             f"{self.variogram_model!r}")
        if self.fit_on not in ("train", "obs"):
            raise InputError(f"kriging fit_on must be 'train' or 'obs', got {self.fit_on!r}")
        self.background_ = Climatology().fit(train, grid).climatology_
        self.lat2_, self.lon2_ = np.meshgrid(grid.lat, grid.lon, indexing="ij")
        self.u2_ = unit_vectors(self.lat2_, self.lon2_)
        self.rng_ = np.random.default_rng(self.seed)
        self.subsampled_fits_ = 0
        self.obs_fits_, self.obs_fallbacks_ = 0, 0
        months = train["time"].dt.month.values
        use = np.unique(np.linspace(0, len(months) - 1, min(len(months), self.fit_months))
                        .round().astype(int))
        values = train.values[use]
        self.levels_ = []
        for k in range(grid.depth.size):
            ocean = grid.ocean[k]
            anomalies = values[:, k][:, ocean] - self.background_[months[use] - 1, k][:, ocean]
            if self.variogram_parameters is not None:
                self.levels_.append(dict(self.variogram_parameters, source="set"))
            elif ocean.sum() < MIN_FIT_POINTS:
                self.levels_.append(dict(default_variogram(anomalies.ravel()), source="default"))
            else:
                fits = [self._fit(self.lon2_[ocean], self.lat2_[ocean], a) for a in anomalies]
                self.levels_.append({key: float(np.median([f[key] for f in fits]))
                                     for key in fits[0]} | {"source": "fit"})
        return self

    def _fit(self, lon, lat, values) -> dict:
        """Variogram fit on at most ``max_fit_points`` of the points (n,)."""
        if np.ptp(values) == 0:  # a constant field has no variogram to fit
            return default_variogram(values)
        if values.size > self.max_fit_points:
            keep = self.rng_.choice(values.size, size=self.max_fit_points, replace=False)
            lon, lat, values = lon[keep], lat[keep], values[keep]
            self.subsampled_fits_ += 1
        return fit_variogram(lon, lat, values, self.variogram_model, self.nlags)

    def fitted_params(self) -> dict:
        return {"levels": [{k: (round(v, 6) if isinstance(v, float) else v)
                            for k, v in level.items()} for level in self.levels_],
                "max_fit_points": self.max_fit_points,
                "subsampled_fits": self.subsampled_fits_,
                "obs_fits": self.obs_fits_, "obs_fallbacks_to_train": self.obs_fallbacks_}

    def reconstruct(self, obs):
        ocean = self.grid_.ocean
        values = obs.values.astype(np.float64)
        out = self.background_[obs["time"].dt.month.values - 1].astype(np.float64)
        self.obs_fits_, self.obs_fallbacks_ = 0, 0  # counts of this reconstruction
        self.rng_ = np.random.default_rng(self.seed)
        for t in range(values.shape[0]):
            for k in range(values.shape[1]):
                seen = np.isfinite(values[t, k]) & ocean[k]
                if not seen.any():  # no observation: the climatology stands
                    continue
                anomaly = values[t, k][seen] - out[t, k][seen]
                params = self._variogram(k, seen, anomaly)
                out[t, k][ocean[k]] += self._krige(seen, anomaly, ocean[k], params)
        return obs.copy(data=np.where(ocean, out, np.nan).astype(np.float32))

    def _variogram(self, k: int, seen: np.ndarray, anomaly: np.ndarray) -> dict:
        """The variogram parameters for level ``k`` given its guidance points."""
        if self.fit_on == "obs" and self.variogram_parameters is None:
            if anomaly.size >= MIN_FIT_POINTS:
                self.obs_fits_ += 1
                return self._fit(self.lon2_[seen], self.lat2_[seen], anomaly)
            self.obs_fallbacks_ += 1
        return {key: self.levels_[k][key] for key in ("psill", "range", "nugget")}

    def _krige(self, seen, anomaly, targets, params) -> np.ndarray:
        """Kriged anomaly at the True cells of ``targets`` (lat, lon), tile by tile."""
        if anomaly.size < 2:  # one point: ordinary kriging returns its value everywhere
            return np.full(int(targets.sum()), anomaly[0])
        n_closest = min(self.n_closest_points, anomaly.size)
        tree = cKDTree(self.u2_[seen])
        lon_o, lat_o = self.lon2_[seen], self.lat2_[seen]
        result = np.zeros(targets.shape)
        n_lat, n_lon = targets.shape
        for i0 in range(0, n_lat, self.tile):
            for j0 in range(0, n_lon, self.tile):
                block = (slice(i0, i0 + self.tile), slice(j0, j0 + self.tile))
                cells = targets[block]
                if not cells.any():
                    continue
                _, idx = tree.query(self.u2_[block][cells], k=n_closest)
                near = np.unique(idx)
                ok = OrdinaryKriging(lon_o[near], lat_o[near], anomaly[near],
                                     variogram_model=self.variogram_model,
                                     variogram_parameters=params,
                                     coordinates_type="geographic")
                estimate, _ = ok.execute("points", self.lon2_[block][cells],
                                         self.lat2_[block][cells],
                                         n_closest_points=min(n_closest, near.size),
                                         backend=self.backend)
                result[block][cells] = np.asarray(estimate)
        return result[targets]
