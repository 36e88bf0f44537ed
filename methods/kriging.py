"""``kriging``: kriging of anomalies with PyKrige as the engine.

The anomaly from the train monthly climatology at the guidance points is
kriged with a moving window of the ``n_closest_points`` nearest observations
per target:

    x(t) = x_b(t) + sum_o w_o (y_o - x_b(o)),   sum_o w_o = 1,
    [Gamma_oo 1; 1^T 0] [w; mu] = [gamma_ot; 1],

with gamma the variogram (``variogram_model``, parameters psill, range in
degrees, nugget). Three variants (``variant``):

- "ordinary" (default): PyKrige's ``OrdinaryKriging`` per (time, level), in
  geographic coordinates (great-circle distance in degrees).
- "universal": PyKrige's ``UniversalKriging`` per (time, level) with a drift
  linear in the coordinates ("regional_linear"): the weights also satisfy
  sum_o w_o x_o = x_t and sum_o w_o y_o = y_t. PyKrige's UK has no geographic
  mode, so each tile uses a local equirectangular projection about its centre
  (lat_c, lon_c), in degrees of arc: x = wrap(lon - lon_c) cos(lat_c),
  y = lat - lat_c, with the longitude wrapped to [-180, 180) (the seam is
  handled); distances are great-circle ones near the tile's centre only. PyKrige's
  UK has no moving window either: each tile is kriged with all observations of
  its window at once.
- "ordinary3d": ordinary kriging per time over all levels, on anomalies
  divided by each level's train anomaly RMS (``level_scale``), in the tile's
  local projection with z = depth (m) * ``depth_scale`` (degrees of arc per
  metre), so one isotropic 3-D variogram in degrees serves. The moving window
  is PyKrige's ``OrdinaryKriging3D`` one (same windows, same system, same
  variogram functions) with the per-target systems solved together by numpy
  (:func:`krige_windows`), not in PyKrige's per-target Python loop.

PyKrige builds dense all-pairs matrices when it is set up (O(N^2) memory), so
the method never gives it many points at once: the variogram is fitted on at
most ``max_fit_points`` points, and the kriging runs tile by tile (``tile`` x
``tile`` grid cells, of one level), each with only the observations that are
among the nearest ``n_closest_points`` of one of the tile's cells. For the
ordinary variant the result equals PyKrige's own moving window over all
observations. The kriging variance (PyKrige's ``ss``) comes out of
:meth:`Kriging.reconstruct_distribution`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from pykrige.ok import OrdinaryKriging
from pykrige.uk import UniversalKriging
from scipy.spatial import cKDTree

from reconbench.datasets.grid import unit_vectors
from reconbench.errors import InputError
from reconbench.methods.base import Method
from reconbench.methods.climatology import Climatology
from reconbench.methods.covariance import fit_vertical_scale
from reconbench.methods.registry import register_method

MODELS = ("spherical", "exponential", "gaussian")
VARIANTS = ("ordinary", "universal", "ordinary3d")
DEFAULT_VERTICAL_M = 100.0  # vertical e-folding scale (m) when it cannot be fitted
DEG_PER_RADIAN = 180.0 / np.pi
MIN_FIT_POINTS = 20  # fewer points than this: the level keeps the default / train variogram
#: PyKrige's variogram model functions, f([psill, range, nugget], distance).
VARIOGRAMS = OrdinaryKriging.variogram_dict
KRIGING_EPS = 1e-10  # PyKrige's distance below which a point is a datum
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


def local_xy(lat, lon, lat_c: float, lon_c: float) -> tuple[np.ndarray, np.ndarray]:
    """Local equirectangular coordinates (degrees of arc) about (``lat_c``, ``lon_c``).

    x = wrap(lon - lon_c) cos(lat_c), y = lat - lat_c, with the longitude
    difference wrapped to [-180, 180). Inputs in degrees, any matching shapes.
    """
    dlon = (np.asarray(lon) - lon_c + 180.0) % 360.0 - 180.0
    return dlon * np.cos(np.deg2rad(lat_c)), np.asarray(lat) - lat_c


def krige_windows(data: np.ndarray, values: np.ndarray, points: np.ndarray, n_closest: int,
                  variogram, params) -> tuple[np.ndarray, np.ndarray]:
    """Ordinary kriging of ``points`` (p, d), each with a moving window of its
    ``n_closest`` nearest ``data`` points (n, d) of ``values`` (n,); the systems
    are solved together (numpy's stacked solves).

    ``variogram(params, distance)`` is one of PyKrige's model functions and
    ``params`` its [psill, range, nugget]. It is PyKrige's ``OrdinaryKriging3D``
    moving window (``execute(..., n_closest_points=n_closest, backend="loop")``)
    without its per-point Python loop: coordinates centred on the data's
    mid-range, the window from a k-d tree over them, the system
    [Gamma 1; 1^T 0] [w; mu] = [gamma; 1] with gamma(0) = 0 on Gamma's diagonal
    and at a point within 1e-10 of a datum (an exact interpolator). Returns the
    estimates (p,) and the kriging variances sigma^2 = w . gamma + mu (p,).
    """
    centre = (data.max(axis=0) + data.min(axis=0)) / 2.0
    data, points = data - centre, points - centre
    k = min(n_closest, len(values))
    distance, idx = cKDTree(data[:, ::-1]).query(points[:, ::-1], k=k)  # PyKrige's (z, y, x)
    distance, idx = distance.reshape(len(points), k), idx.reshape(len(points), k)
    window = data[idx]  # (p, k, d)
    pair = np.zeros((len(points), k, k))
    for column in window.transpose(2, 0, 1):  # squared distances, one coordinate at a time
        step = column[:, :, None] - column[:, None, :]
        step *= step
        pair += step
    np.sqrt(pair, out=pair)
    a = np.ones((len(points), k + 1, k + 1))
    a[:, :k, :k] = -variogram(params, pair)
    diag = np.arange(k + 1)
    a[:, diag, diag] = 0.0
    b = np.ones((len(points), k + 1))
    b[:, :k] = np.where(np.abs(distance) <= KRIGING_EPS, 0.0, -variogram(params, distance))
    x = np.linalg.solve(a, b[:, :, None])[..., 0]
    return np.sum(x[:, :k] * values[idx], axis=1), -np.sum(x * b, axis=1)


def default_variogram(values: np.ndarray) -> dict:
    """The documented fallback variogram for ``values`` (n,) in °C."""
    var = float(np.var(values)) if values.size > 1 else 1.0
    var = max(var, 1e-6)
    return {"psill": 0.9 * var, "range": DEFAULT_RANGE_DEG, "nugget": 0.1 * var}


@register_method("kriging")
class Kriging(Method):
    """Kriging of anomalies from the train monthly climatology (see the module);
    :meth:`reconstruct_distribution` also returns the kriging variance.

    Parameters
    ----------
    variant : "ordinary" (per level, geographic), "universal" (per level, with a
        linear drift, local projection) or "ordinary3d" (all levels at once).
    variogram_model : "spherical", "exponential" or "gaussian" (PyKrige's forms).
    fit_on : "train" fits one variogram per level on train anomalies (the
        median of the fits of ``fit_months`` months); "obs" fits one per time and
        level on the guidance points, falling back to the train fit below
        ``MIN_FIT_POINTS`` points (2-D variants only).
    variogram_parameters : {"psill", "range", "nugget"} for every level (°C²,
        degrees, °C²; for "ordinary3d" the 3-D variogram of the scaled
        anomalies, psill and nugget as fractions of the level variance); None fits.
    depth_scale : "ordinary3d": degrees of arc per metre of depth; None fits
        it from the train split (range / (3 L_z), see ``fit``).
    n_closest_points : observations per target (moving window).
    backend : PyKrige's moving-window backend for "ordinary", "C" or "loop".
    max_fit_points : points given to a variogram fit at most (random subsample).
    fit_months : train months (evenly spaced) fitted per level.
    nlags : lag bins of the experimental variogram.
    tile : side of the tiles, in grid cells, kriged with one PyKrige object.
    seed : seeds the subsampling.
    """

    uncertainty = "variance"

    #: Values ``reconbench tune`` tries by default: the variogram model and the
    #: observations per target.
    search_space = {"variogram_model": ["exponential", "spherical", "gaussian"],
                    "n_closest_points": [16, 32, 64]}

    #: Read by reconstruct alone (a fit serves every value; see Method.predict_params).
    predict_params = ("n_closest_points", "backend", "tile")

    def __init__(self, variogram_model: str = "exponential", fit_on: str = "train",
                 variogram_parameters=None, n_closest_points: int = 32, backend: str = "C",
                 max_fit_points: int = 800, fit_months: int = 4, nlags: int = 20,
                 tile: int = 16, seed: int = 0, variant: str = "ordinary", depth_scale=None):
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
        self.variant = variant
        self.depth_scale = depth_scale

    def fit(self, train, grid):
        """Fit the variograms on ``train`` (time, depth, lat, lon) in °C.

        Per level: the median of PyKrige's fits on ``fit_months`` months of
        anomalies; on gappy training data each month's fit uses the cells
        observed that month, and a month with fewer than ``MIN_FIT_POINTS`` of
        them is left out. "ordinary3d" also records ``level_scale`` (°C, the RMS of
        those anomalies per level), the 3-D variogram of the scaled anomalies
        (median range in degrees; median psill and nugget over level variance)
        and ``depth_scale``: unless set, the horizontal range over the practical
        range 3 L_z of the vertical correlation exp(-|dz| / L_z), with L_z (m)
        fitted on co-located scaled anomalies of levels up to 3 apart (as in
        ``oi``), so that both ranges match in the scaled space.
        """
        super().fit(train, grid)
        if self.variant not in VARIANTS:
            raise InputError(f"kriging variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.variogram_model not in MODELS:
            raise InputError(f"kriging variogram_model must be one of {MODELS}, got "
                             f"{self.variogram_model!r}")
        if self.fit_on not in ("train", "obs"):
            raise InputError(f"kriging fit_on must be 'train' or 'obs', got {self.fit_on!r}")
        if self.variant == "ordinary3d" and self.fit_on != "train":
            raise InputError("kriging fit_on must be 'train' for variant 'ordinary3d', got "
                             f"{self.fit_on!r}")
        if self.depth_scale is not None and not (
                isinstance(self.depth_scale, (int, float)) and self.depth_scale > 0):
            raise InputError(f"kriging depth_scale must be None or a positive number "
                             f"(degrees per metre), got {self.depth_scale!r}")
        self.background_ = Climatology().fit(train, grid).climatology_
        self.lat2_, self.lon2_ = np.meshgrid(grid.lat, grid.lon, indexing="ij")
        self.u2_ = unit_vectors(self.lat2_, self.lon2_)
        self.rng_ = np.random.default_rng(self.seed)
        self.obs_fits_, self.obs_fallbacks_, self.obs_subsampled_ = 0, 0, 0
        self.drift_fallbacks_ = 0
        months = train["time"].dt.month.values
        use = np.unique(np.linspace(0, len(months) - 1, min(len(months), self.fit_months))
                        .round().astype(int))
        values = train.isel(time=use).values  # only these months are read
        self.levels_, self.train_subsampled_ = [], 0
        anomaly_levels = []
        for k in range(grid.depth.size):
            ocean = grid.ocean[k]
            anomalies = values[:, k][:, ocean] - self.background_[months[use] - 1, k][:, ocean]
            anomaly_levels.append(anomalies)
            usable = [a for a in anomalies if np.isfinite(a).sum() >= MIN_FIT_POINTS]
            if self.variogram_parameters is not None:
                self.levels_.append(dict(self.variogram_parameters, source="set"))
            elif not usable:
                known = anomalies[np.isfinite(anomalies)]
                self.levels_.append(dict(default_variogram(known), source="default"))
            else:
                fits = [self._fit(self.lon2_[ocean][np.isfinite(a)],
                                  self.lat2_[ocean][np.isfinite(a)], a[np.isfinite(a)])
                        for a in usable]
                self.train_subsampled_ += sum(subsampled for _, subsampled in fits)
                self.levels_.append({key: float(np.median([f[key] for f, _ in fits]))
                                     for key in fits[0][0]} | {"source": "fit"})
        if self.variant == "ordinary3d":
            self._fit_3d(anomaly_levels)
        return self

    def _fit_3d(self, anomaly_levels: list[np.ndarray]) -> None:
        """Level scales, the 3-D variogram and the depth scale (see :meth:`fit`)."""
        grid = self.grid_
        scale = np.array([np.sqrt(np.nanmean(a ** 2)) if np.isfinite(a).any() else 1.0
                          for a in anomaly_levels])
        self.level_scale_ = np.maximum(scale, 1e-6)
        if self.variogram_parameters is not None:
            self.variogram3d_ = dict(self.variogram_parameters)
        else:
            fitted = [k for k, level in enumerate(self.levels_) if level["source"] == "fit"]
            fitted = fitted or list(range(len(self.levels_)))
            var = self.level_scale_[fitted] ** 2
            self.variogram3d_ = {
                "psill": float(np.median([self.levels_[k]["psill"] for k in fitted] / var)),
                "range": float(np.median([self.levels_[k]["range"] for k in fitted])),
                "nugget": float(np.median([self.levels_[k]["nugget"] for k in fitted] / var))}
        self.vertical_scale_m_ = None
        if self.depth_scale is not None:
            self.depth_scale_ = float(self.depth_scale)
            return
        z_levels, nuggets = [], []
        for k, anomalies in enumerate(anomaly_levels):
            z = np.full((anomalies.shape[0], grid.ocean[k].size), np.nan)
            z[:, grid.ocean[k].ravel()] = anomalies / self.level_scale_[k]
            z_levels.append(z)
            level = self.levels_[k]
            sill = level["psill"] + level["nugget"]
            nuggets.append(level["nugget"] / sill if sill > 0 else 0.0)
        length = fit_vertical_scale(z_levels, grid.depth, np.array(nuggets), "exponential")
        self.vertical_scale_m_ = float(length) if np.isfinite(length) else DEFAULT_VERTICAL_M
        self.depth_scale_ = self.variogram3d_["range"] / (3.0 * self.vertical_scale_m_)

    def _fit(self, lon, lat, values) -> tuple[dict, bool]:
        """Variogram fit on at most ``max_fit_points`` of the points (n,); also
        whether the points were subsampled."""
        if np.ptp(values) == 0:  # a constant field has no variogram to fit
            return default_variogram(values), False
        subsampled = values.size > self.max_fit_points
        if subsampled:
            keep = self.rng_.choice(values.size, size=self.max_fit_points, replace=False)
            lon, lat, values = lon[keep], lat[keep], values[keep]
        return fit_variogram(lon, lat, values, self.variogram_model, self.nlags), subsampled

    def fitted_params(self) -> dict:
        """What ``fit`` fitted, and counts of the last ``reconstruct``.

        ``subsampled_fits`` counts the train fits (of ``fit``) that saw a
        subsample; ``obs_fits``, ``obs_subsampled_fits``,
        ``obs_fallbacks_to_train`` and ``drift_fallbacks`` count the last
        reconstruction only.
        """
        def rounded(level):
            return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in level.items()}

        record = {"variant": self.variant, "levels": [rounded(level) for level in self.levels_],
                  "max_fit_points": self.max_fit_points,
                  "subsampled_fits": self.train_subsampled_,
                  "obs_fits": self.obs_fits_, "obs_subsampled_fits": self.obs_subsampled_,
                  "obs_fallbacks_to_train": self.obs_fallbacks_}
        if self.variant == "universal":
            record["drift_fallbacks"] = self.drift_fallbacks_
        if self.variant == "ordinary3d":
            record.update(variogram3d=rounded(self.variogram3d_),
                          depth_scale=round(self.depth_scale_, 9),
                          vertical_scale_m=self.vertical_scale_m_,
                          level_scale=[round(float(s), 6) for s in self.level_scale_])
        return record

    def _reconstruct(self, obs) -> tuple[np.ndarray, np.ndarray]:
        """The kriged field (time, depth, lat, lon) in °C and its kriging variance
        in °C² (NaN off the ocean). Where a level (2-D variants) or a time
        ("ordinary3d") has no observation, the climatology stands and the
        variance is the variogram's sill (psill + nugget, times the level's
        scale squared for "ordinary3d")."""
        ocean = self.grid_.ocean
        values = obs.values.astype(np.float64)
        out = self.background_[obs["time"].dt.month.values - 1].astype(np.float64)
        variance = np.full(out.shape, np.nan)
        # counts of this reconstruction
        self.obs_fits_, self.obs_fallbacks_, self.obs_subsampled_ = 0, 0, 0
        self.drift_fallbacks_ = 0
        self.rng_ = np.random.default_rng(self.seed)
        if self.variant == "ordinary3d":  # each cell's level scale, (depth, lat, lon) in °C
            scale = np.broadcast_to(self.level_scale_[:, None, None], ocean.shape)
            sill = self.variogram3d_["psill"] + self.variogram3d_["nugget"]
        for t in range(values.shape[0]):
            if self.variant == "ordinary3d":
                seen = np.isfinite(values[t]) & ocean
                if not seen.any():  # no observation: the climatology stands
                    variance[t][ocean] = sill * scale[ocean] ** 2
                    continue
                z = (values[t][seen] - out[t][seen]) / scale[seen]
                estimate, sigma2 = self._krige3d(seen, z, ocean)
                out[t][ocean] += estimate * scale[ocean]
                variance[t][ocean] = sigma2 * scale[ocean] ** 2
                continue
            for k in range(values.shape[1]):
                seen = np.isfinite(values[t, k]) & ocean[k]
                if not seen.any():  # no observation: the climatology stands
                    variance[t, k][ocean[k]] = self.levels_[k]["psill"] + self.levels_[k]["nugget"]
                    continue
                anomaly = values[t, k][seen] - out[t, k][seen]
                params = self._variogram(k, seen, anomaly)
                estimate, sigma2 = self._krige(seen, anomaly, ocean[k], params)
                out[t, k][ocean[k]] += estimate
                variance[t, k][ocean[k]] = sigma2
        return np.where(ocean, out, np.nan), variance

    def reconstruct(self, obs):
        mean, _ = self._reconstruct(obs)
        return obs.copy(data=mean.astype(np.float32))

    def reconstruct_distribution(self, obs):
        """The kriged field and its kriging variance (°C²): PyKrige's ``ss`` for
        the 2-D variants, the same sigma^2 from :func:`krige_windows` for
        "ordinary3d" (times the level's scale squared)."""
        mean, variance = self._reconstruct(obs)
        return xr.Dataset({"mean": obs.copy(data=mean.astype(np.float32)),
                           "variance": obs.copy(data=np.maximum(variance, 0.0)
                                                .astype(np.float32))})

    def _variogram(self, k: int, seen: np.ndarray, anomaly: np.ndarray) -> dict:
        """The variogram parameters for level ``k`` given its guidance points."""
        if self.fit_on == "obs" and self.variogram_parameters is None:
            if anomaly.size >= MIN_FIT_POINTS:
                self.obs_fits_ += 1
                params, subsampled = self._fit(self.lon2_[seen], self.lat2_[seen], anomaly)
                self.obs_subsampled_ += subsampled
                return params
            self.obs_fallbacks_ += 1
        return {key: self.levels_[k][key] for key in ("psill", "range", "nugget")}

    def _tiles(self, targets: np.ndarray):
        """(block, cells, lat_c, lon_c) for the tiles of ``targets`` (lat, lon) with a
        True cell: the block's slices, its True cells and its centre in degrees."""
        n_lat, n_lon = targets.shape
        for i0 in range(0, n_lat, self.tile):
            for j0 in range(0, n_lon, self.tile):
                block = (slice(i0, i0 + self.tile), slice(j0, j0 + self.tile))
                cells = targets[block]
                if cells.any():
                    lat_c = float(np.mean(self.grid_.lat[block[0]]))
                    lon_c = float(np.mean(self.grid_.lon[block[1]]))
                    yield block, cells, lat_c, lon_c

    def _krige(self, seen, anomaly, targets, params) -> tuple[np.ndarray, np.ndarray]:
        """Kriged anomaly (°C) and kriging variance (°C²) at the True cells of
        ``targets`` (lat, lon), tile by tile."""
        if anomaly.size < 2:  # one point: its value everywhere, variance 2 gamma(d)
            angle = np.arccos(np.clip(self.u2_[targets] @ self.u2_[seen][0], -1.0, 1.0))
            gamma = VARIOGRAMS[self.variogram_model](
                [params["psill"], params["range"], params["nugget"]], angle * DEG_PER_RADIAN)
            return np.full(int(targets.sum()), anomaly[0]), np.where(angle > 0, 2 * gamma, 0.0)
        n_closest = min(self.n_closest_points, anomaly.size)
        tree = cKDTree(self.u2_[seen])
        lon_o, lat_o = self.lon2_[seen], self.lat2_[seen]
        result, sigma2 = np.zeros(targets.shape), np.zeros(targets.shape)
        for block, cells, lat_c, lon_c in self._tiles(targets):
            _, idx = tree.query(self.u2_[block][cells], k=n_closest)
            near = np.unique(idx)
            lat_t, lon_t = self.lat2_[block][cells], self.lon2_[block][cells]
            x, y = local_xy(lat_o[near], lon_o[near], lat_c, lon_c)
            if self.variant == "universal" and np.linalg.matrix_rank(
                    np.column_stack([np.ones(near.size), x, y])) == 3:
                uk = UniversalKriging(x, y, anomaly[near], variogram_model=self.variogram_model,
                                      variogram_parameters=params,
                                      drift_terms=["regional_linear"])
                estimate, ss = uk.execute("points", *local_xy(lat_t, lon_t, lat_c, lon_c))
            else:  # ordinary, or a window that cannot fit a plane: ordinary kriging
                if self.variant == "universal":
                    self.drift_fallbacks_ += 1
                ok = OrdinaryKriging(lon_o[near], lat_o[near], anomaly[near],
                                     variogram_model=self.variogram_model,
                                     variogram_parameters=params,
                                     coordinates_type="geographic")
                estimate, ss = ok.execute("points", lon_t, lat_t,
                                          n_closest_points=min(n_closest, near.size),
                                          backend=self.backend)
            result[block][cells] = np.asarray(estimate)
            sigma2[block][cells] = np.asarray(ss)
        return result[targets], sigma2[targets]

    def _krige3d(self, seen: np.ndarray, z: np.ndarray,
                 targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kriged scaled anomaly and its kriging variance at the True cells of
        ``targets`` (depth, lat, lon).

        ``seen`` (depth, lat, lon) marks the observations, ``z`` (n,) their scaled
        anomalies. Tiles are ``tile`` x ``tile`` cells of one level. A tile's
        candidates are the ``n_closest_points`` nearest observations of each of
        its cells in the space of (unit vector in degrees of arc, depth *
        depth_scale); in the tile's local projection each target is kriged with
        its ``n_closest_points`` nearest candidates (:func:`krige_windows`).
        """
        n_closest = min(self.n_closest_points, z.size)
        depth = self.grid_.depth * self.depth_scale_  # degrees of arc
        level_o, i_o, j_o = np.nonzero(seen)
        tree = cKDTree(np.column_stack([self.u2_[i_o, j_o] * DEG_PER_RADIAN, depth[level_o]]))
        lat_o, lon_o, depth_o = self.lat2_[i_o, j_o], self.lon2_[i_o, j_o], depth[level_o]
        params = [self.variogram3d_[key] for key in ("psill", "range", "nugget")]
        variogram = VARIOGRAMS[self.variogram_model]
        result, sigma2 = np.zeros(targets.shape), np.zeros(targets.shape)
        for k in range(targets.shape[0]):
            for block, cells, lat_c, lon_c in self._tiles(targets[k]):
                u_t = self.u2_[block][cells] * DEG_PER_RADIAN
                _, idx = tree.query(np.column_stack([u_t, np.full(len(u_t), depth[k])]),
                                    k=n_closest)
                near = np.unique(idx)
                data = np.column_stack([*local_xy(lat_o[near], lon_o[near], lat_c, lon_c),
                                        depth_o[near]])
                x_t, y_t = local_xy(self.lat2_[block][cells], self.lon2_[block][cells],
                                    lat_c, lon_c)
                points = np.column_stack([x_t, y_t, np.full(x_t.size, depth[k])])
                estimate, ss = krige_windows(data, z[near], points, n_closest, variogram,
                                             params)
                result[k][block][cells] = estimate
                sigma2[k][block][cells] = ss
        return result[targets], sigma2[targets]
