"""Background-error covariance models and their fit to training anomalies.

Shared by the optimal-interpolation baseline (:mod:`reconbench.methods.oi`). The
covariance between the anomalies at two points i and j is

    B_ij = a_i a_j rho_h(r_ij) rho_v(|z_i - z_j| / L_z),
    r_ij = sqrt((dx_ij / L_x)^2 + (dy_ij / L_y)^2),

where ``a`` is the background-error standard deviation (°C), ``dx`` the
zonal and ``dy`` the meridional part of the distance between the points (km),
``z`` depth (m) and ``rho`` a correlation model (:data:`CORRELATIONS`); see
:func:`scaled_distance` for how the anisotropy is made positive definite.
Distances are chord (straight-line) distances on the sphere of radius
:data:`EARTH_RADIUS_KM`: they equal great-circle distances to within 1 % below
1500 km and keep both models positive definite on the sphere (a Gaussian of
great-circle distance is not). The observation error is white with variance
``nugget * s^2``, where ``s^2`` is the total anomaly variance at the point, so
``a^2 = (1 - nugget) s^2``.

On gappy training data (NaN at cells not observed at some times) every moment
is taken over the values available: s^2 over the times a cell was observed, the
semivariogram of a pair over the times both were observed (pairs never observed
together are left out), the vertical correlation over co-located pairs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, minimize_scalar
from scipy.spatial import cKDTree

from reconbench.datasets.grid import unit_vectors
from reconbench.errors import InputError

EARTH_RADIUS_KM = 6371.0

#: Correlation models rho(r) of a scaled distance r >= 0 (r = distance / length scale).
CORRELATIONS = {
    "gaussian": lambda r: np.exp(-0.5 * r * r),
    "exponential": lambda r: np.exp(-r),
}

#: Used for a level with too few ocean cells to fit (see :func:`fit_level`).
DEFAULT_LENGTH_KM = 300.0
DEFAULT_NUGGET = 0.1
MIN_FIT_CELLS = 50


def correlation(model: str, r: np.ndarray) -> np.ndarray:
    """rho(r) of model ``model`` ("gaussian" or "exponential")."""
    try:
        return CORRELATIONS[model](r)
    except KeyError:
        raise InputError(f"unknown covariance model {model!r}; expected one of "
                         f"{', '.join(CORRELATIONS)}") from None


def scaled_distance(dot, sinlat_i, sinlat_j, length_x, length_y):
    """The scaled horizontal distance r_ij, broadcasting over leading axes.

    ``dot`` is the dot product of the points' unit vectors (x, y, z), ``sinlat``
    their z (sine of latitude); length scales in km. The Earth's axis is
    stretched: r^2 = R^2 ((dx^2 + dy^2) / L_x^2 + dz^2 / L_y^2), a Euclidean
    distance after a linear map, so every correlation model stays positive
    definite. L_x is the zonal scale everywhere; L_y the meridional scale at
    the equator, tending to L_x towards the poles (anisotropy where Reynolds and
    Smith need it, in the tropics). Written in place: it runs on (targets, k, k)
    arrays.
    """
    r2 = np.multiply(dot, -2.0 * (EARTH_RADIUS_KM / length_x) ** 2)
    r2 += 2.0 * (EARTH_RADIUS_KM / length_x) ** 2
    if length_x != length_y:
        dz2 = np.subtract(sinlat_i, sinlat_j)
        dz2 *= dz2
        dz2 *= EARTH_RADIUS_KM ** 2 * (1.0 / length_y ** 2 - 1.0 / length_x ** 2)
        r2 += dz2
    return np.sqrt(np.maximum(r2, 0.0, out=r2), out=r2)


@dataclass
class LevelCovariance:
    """Fitted covariance parameters of one depth level.

    ``variance`` is the mean total anomaly variance (°C²), ``nugget`` the
    observation-error fraction of it, ``length_x`` / ``length_y`` the zonal and
    meridional length scales (km); ``source`` is "fit" or "default".
    """

    variance: float
    nugget: float
    length_x: float
    length_y: float
    source: str

    def as_dict(self) -> dict:
        return {"variance": round(self.variance, 6), "nugget": round(self.nugget, 6),
                "length_x_km": round(self.length_x, 2), "length_y_km": round(self.length_y, 2),
                "source": self.source}


def sample_pairs(points: np.ndarray, rng: np.random.Generator, n_pairs: int,
                 max_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs (i, j), i != j, of points closer than ``max_km`` (chord).

    ``points`` is (n, 3) unit vectors. Returns two (<= n_pairs,) index arrays.
    """
    tree = cKDTree(points)
    centres = rng.choice(len(points), size=min(len(points), 400), replace=False)
    balls = tree.query_ball_point(points[centres], r=max_km / EARTH_RADIUS_KM)
    i = np.concatenate([np.full(len(b), c) for c, b in zip(centres, balls, strict=True)])
    j = np.concatenate([np.asarray(b, dtype=int) for b in balls])
    keep = np.flatnonzero(i != j)
    keep = rng.choice(keep, size=min(n_pairs, keep.size), replace=False)
    return i[keep], j[keep]


def fit_level(z: np.ndarray, lat: np.ndarray, lon: np.ndarray, model: str,
              anisotropic: bool, rng: np.random.Generator, n_pairs: int = 20000,
              max_km: float = 3000.0) -> tuple[float, float, float]:
    """Fit (nugget, length_x, length_y) to standardised anomalies of one level.

    ``z`` is (time, n) anomalies divided by their standard deviation at each
    cell, at cells of latitudes / longitudes ``lat``, ``lon`` (n,) in degrees, NaN
    where not observed. The empirical semivariogram of pairs, gamma_ij = mean_t
    (z_i - z_j)^2 / 2 over the times both are observed, is fitted by least
    squares with nugget + (1 - nugget)(1 - rho(r_ij)).
    """
    u = unit_vectors(lat, lon)
    i, j = sample_pairs(u, rng, n_pairs, max_km)
    gamma = 0.5 * np.nanmean((z[:, i] - z[:, j]) ** 2, axis=0)  # NaN: never observed together
    together = np.isfinite(gamma)
    i, j, gamma = i[together], j[together], gamma[together]
    sinlat, dot = u[:, 2], np.sum(u[i] * u[j], axis=-1)

    def residual(p):
        nugget, lx = p[0], np.exp(p[1])
        ly = np.exp(p[2]) if anisotropic else lx
        r = scaled_distance(dot, sinlat[i], sinlat[j], lx, ly)
        return nugget + (1.0 - nugget) * (1.0 - correlation(model, r)) - gamma

    start = [0.1, np.log(500.0), np.log(500.0)]
    bounds = ([0.0, np.log(10.0), np.log(10.0)], [0.95, np.log(2e4), np.log(2e4)])
    fit = least_squares(residual, start, bounds=bounds)
    nugget, lx = float(fit.x[0]), float(np.exp(fit.x[1]))
    return nugget, lx, float(np.exp(fit.x[2])) if anisotropic else lx


def fit_vertical_scale(z_levels: list[np.ndarray], depth: np.ndarray, nuggets: np.ndarray,
                       model: str, max_level_gap: int = 3) -> float:
    """Fit the vertical length scale L_z (m) from co-located standardised anomalies.

    ``z_levels[k]`` is (time, cells) with NaN off level k's ocean (same cells on
    every level). The correlation of levels k, l at the same place is modelled
    as sqrt((1 - nugget_k)(1 - nugget_l)) rho(|z_k - z_l| / L_z), for level
    pairs at most ``max_level_gap`` apart. Returns NaN with fewer than 2 levels.
    """
    gaps, corr, scale = [], [], []
    for k in range(len(depth)):
        for m in range(k + 1, min(k + 1 + max_level_gap, len(depth))):
            prod = z_levels[k] * z_levels[m]
            if np.isfinite(prod).sum() < 10:
                continue
            gaps.append(depth[m] - depth[k])
            corr.append(np.nanmean(prod))
            scale.append(np.sqrt((1 - nuggets[k]) * (1 - nuggets[m])))
    if not gaps:
        return float("nan")
    gaps, corr, scale = map(np.asarray, (gaps, corr, scale))

    def loss(log_l):
        return np.sum((scale * correlation(model, gaps / np.exp(log_l)) - corr) ** 2)

    return float(np.exp(minimize_scalar(loss, bounds=(np.log(1.0), np.log(1e5)),
                                        method="bounded").x))


def fit_covariances(anomaly_levels, lat2, lon2, ocean, model, anisotropic, rng):
    """Per-level :class:`LevelCovariance` and per-cell total variance.

    ``anomaly_levels`` yields, level by level (a list or a generator that reads one
    group of levels at a time), the (time, lat, lon) train anomaly of level k in °C
    (NaN off the ocean and, for gappy data, where not observed); a cell never
    observed takes its level's mean variance. ``lat2``, ``lon2`` (lat, lon) cell
    coordinates in degrees;
    ``ocean`` the (depth, lat, lon) mask. Returns the list of level covariances,
    the (depth, lat, lon) total variance s² (°C², NaN off the ocean) and the
    standardised anomalies per level (for :func:`fit_vertical_scale`).
    """
    levels, variance, z_levels = [], np.full(ocean.shape, np.nan), []
    for k, anom in enumerate(anomaly_levels):
        var_k = np.full(ocean[k].shape, np.nan)
        with warnings.catch_warnings():  # a cell never observed: NaN, filled below
            warnings.simplefilter("ignore", RuntimeWarning)
            var_k[ocean[k]] = np.maximum(np.nanmean(anom[:, ocean[k]] ** 2, axis=0), 1e-6)
        seen = np.isfinite(var_k)
        mean_var = float(var_k[seen].mean()) if seen.any() else 1.0
        var_k[ocean[k] & ~seen] = mean_var
        variance[k] = var_k
        z = anom / np.sqrt(var_k)
        z_levels.append(z.reshape(len(z), -1).astype(np.float32))
        if seen.sum() < MIN_FIT_CELLS:
            levels.append(LevelCovariance(mean_var, DEFAULT_NUGGET, DEFAULT_LENGTH_KM,
                                          DEFAULT_LENGTH_KM, "default"))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            nugget, lx, ly = fit_level(z[:, ocean[k]], lat2[ocean[k]], lon2[ocean[k]], model,
                                       anisotropic, rng)
        levels.append(LevelCovariance(mean_var, nugget, lx, ly, "fit"))
    return levels, variance, z_levels
