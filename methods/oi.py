"""``oi``: optimal interpolation (the BLUE) of anomalies from the train climatology.

For every target cell t the analysis uses its ``n_neighbours`` nearest
observations o (local OI):

    x_a(t) = x_b(t) + B_to (B_oo + R)^-1 (y_o - x_b(o)),
    sigma_a^2(t) = B_tt - B_to (B_oo + R)^-1 B_ot,

with x_b the train monthly climatology, B the background-error covariance of
:mod:`reconbench.methods.covariance` and R = diag(nugget * s^2) the observation
error. All parameters are fitted on the train split per level and can be fixed
in ``__init__``. The linear algebra is batched over targets: one Cholesky
factorisation and one triangular solve per chunk of targets, never a matrix of
all observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from reconbench.datasets.grid import unit_vectors
from reconbench.methods.base import Method
from reconbench.methods.climatology import Climatology
from reconbench.methods.covariance import (
    EARTH_RADIUS_KM,
    LevelCovariance,
    correlation,
    fit_covariances,
    fit_vertical_scale,
    scaled_distance,
)
from reconbench.methods.registry import register_method

MAX_FIT_MONTHS = 120  # train months (evenly spaced) used to fit the covariance
DEFAULT_VERTICAL_M = 100.0  # vertical length scale when it cannot be fitted


@dataclass
class Points:
    """Points of a local OI: unit vectors (n, 3), sine of latitude (n,),
    depth (n,) in m, background-error sd ``sd`` (n,) in °C and observation-error
    variance ``noise`` (n,) in °C² (zero for targets)."""

    u: np.ndarray
    sinlat: np.ndarray
    depth: np.ndarray
    sd: np.ndarray
    noise: np.ndarray

    def take(self, index) -> Points:
        return Points(self.u[index], self.sinlat[index], self.depth[index], self.sd[index],
                      self.noise[index])


def covariance(p: Points, q: Points, dot: np.ndarray, lengths, model: str) -> np.ndarray:
    """B between gathered point arrays ``p`` and ``q`` (broadcasting), °C².

    ``dot`` is the dot product of their unit vectors; ``lengths`` is
    (L_x km, L_y km, L_z m); L_z = inf drops the vertical factor (for points
    that all lie on one level).
    """
    length_x, length_y, length_z = lengths
    rho = correlation(model, scaled_distance(dot, p.sinlat, q.sinlat, length_x, length_y))
    if np.isfinite(length_z):
        rho *= correlation(model, np.abs(p.depth - q.depth) / length_z)
    rho *= p.sd
    rho *= q.sd
    return rho


def _cholesky(a: np.ndarray) -> np.ndarray:
    """Batched lower Cholesky factor of (n, k, k) SPD matrices, with a tiny jitter."""
    scale = np.einsum("nii->n", a)[:, None, None] / a.shape[-1]
    eye = np.eye(a.shape[-1])
    try:
        return np.linalg.cholesky(a + 1e-9 * scale * eye)
    except np.linalg.LinAlgError:  # not quite positive definite (anisotropy): regularise
        return np.linalg.cholesky(a + 1e-4 * scale * eye)


def local_oi(obs: Points, innovation: np.ndarray, targets: Points, lengths, model: str,
             n_neighbours: int, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Analysis increment and error variance at ``targets`` (each (n_targets,)).

    ``innovation`` is y - x_b at the observations (n_obs,), °C. Neighbours are the
    nearest observations in the scaled distance of the covariance. Targets are
    processed ``chunk`` at a time, so memory is O(chunk * n_neighbours^2).
    """
    k = min(n_neighbours, len(innovation))
    tree = cKDTree(_tree_coords(obs, lengths))
    increment, variance = np.empty(len(targets.u)), np.empty(len(targets.u))
    for start in range(0, len(targets.u), chunk):
        part = slice(start, start + chunk)
        tgt = targets.take(part)
        _, idx = tree.query(_tree_coords(tgt, lengths), k=k)
        idx = idx.reshape(len(tgt.u), k)
        nb = obs.take(idx)  # fields (n, k, ...)
        b_oo = covariance(nb.take((slice(None), slice(None), None)),
                          nb.take((slice(None), None, slice(None))),
                          nb.u @ nb.u.transpose(0, 2, 1), lengths, model)
        b_oo[:, np.arange(k), np.arange(k)] += nb.noise
        tgt_b = tgt.take((slice(None), None))
        b_to = covariance(tgt_b, nb, np.einsum("nd,nkd->nk", tgt.u, nb.u), lengths, model)
        rhs = np.stack([b_to, innovation[idx]], axis=-1)  # (n, k, 2)
        y = np.linalg.solve(_cholesky(b_oo), rhs)  # = L^-1 rhs, vectorised over targets
        increment[part] = np.sum(y[..., 0] * y[..., 1], axis=-1)
        variance[part] = tgt.sd ** 2 - np.sum(y[..., 0] ** 2, axis=-1)
    return increment, np.maximum(variance, 0.0)


def _tree_coords(p: Points, lengths) -> np.ndarray:
    """(n, 4) coordinates whose Euclidean distance is the scaled 3-D distance."""
    stretch = EARTH_RADIUS_KM / np.array([lengths[0], lengths[0], lengths[1]])
    vertical = p.depth / lengths[2] if np.isfinite(lengths[2]) else np.zeros_like(p.depth)
    return np.column_stack([p.u * stretch, vertical])


@register_method("oi")
class OptimalInterpolation(Method):
    """Local optimal interpolation of anomalies from the train monthly climatology.

    Parameters (None = fitted on the train split, per level)
    ----------
    model : "gaussian" or "exponential" correlation (of distance / length scale).
    length_scale : horizontal length scale(s) in km: a number, or [zonal, meridional].
    nugget : observation-error variance as a fraction of the total anomaly variance.
    variance : total anomaly variance s² in °C², one number for every cell; None
        uses each cell's train anomaly variance (a map).
    anisotropic : fit separate zonal and meridional length scales.
    vertical : 3-D OI: levels inform each other through rho(|dz| / vertical_scale);
        the horizontal scales are then the median of the levels' fits. False
        analyses each level on its own with its own scales.
    vertical_scale : vertical length scale in m (3-D only).
    n_neighbours : observations used per target cell.
    return_variance : keep the analysis-error variance (°C², same shape as the
        reconstruction) of the last :meth:`reconstruct` as ``analysis_variance_``.
    seed : seeds the sampling of point pairs for the fit.
    """

    #: Values ``reconbench tune`` tries by default: observations per cell, horizontal
    #: length scale (None: fitted on the train split; else km) and nugget (None:
    #: fitted; else a fraction of the anomaly variance).
    search_space = {"n_neighbours": [16, 32, 64], "length_scale": [None, 300.0, 600.0, 1200.0],
                    "nugget": [None, 0.01, 0.05]}

    def __init__(self, model: str = "exponential", length_scale=None, nugget=None,
                 variance=None, anisotropic: bool = True, vertical: bool = True,
                 vertical_scale=None, n_neighbours: int = 32, return_variance: bool = False,
                 seed: int = 0):
        self.model = model
        self.length_scale = length_scale
        self.nugget = nugget
        self.variance = variance
        self.anisotropic = anisotropic
        self.vertical = vertical
        self.vertical_scale = vertical_scale
        self.n_neighbours = n_neighbours
        self.return_variance = return_variance
        self.seed = seed

    def fit(self, train, grid):
        super().fit(train, grid)
        correlation(self.model, 0.0)  # checks the model name
        self.background_ = Climatology().fit(train, grid).climatology_
        months = train["time"].dt.month.values
        use = np.unique(np.linspace(0, len(months) - 1, min(len(months), MAX_FIT_MONTHS))
                        .round().astype(int))
        values = train.values[use]
        anomalies = [values[:, k] - self.background_[months[use] - 1, k]
                     for k in range(grid.depth.size)]
        lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
        levels, total_var, z_levels = fit_covariances(
            anomalies, lat2, lon2, grid.ocean, self.model, self.anisotropic,
            np.random.default_rng(self.seed))
        self.levels_ = [self._override(level) for level in levels]
        if self.variance is not None:
            total_var = np.where(grid.ocean, float(self.variance), np.nan)
        nugget = np.array([level.nugget for level in self.levels_])[:, None, None]
        self.sd_ = np.sqrt((1.0 - nugget) * total_var)
        self.noise_ = nugget * total_var
        self.u2_ = unit_vectors(lat2, lon2)
        ocean = grid.ocean
        # the groups of cells analysed together, with their (L_x, L_y, L_z)
        self.groups_ = [(ocean & (np.arange(ocean.shape[0]) == k)[:, None, None],
                         (lv.length_x, lv.length_y, np.inf)) for k, lv in enumerate(self.levels_)]
        self.vertical_scale_ = None
        if self.vertical and grid.depth.size > 1:
            self.vertical_scale_ = (float(self.vertical_scale) if self.vertical_scale is not None
                                    else fit_vertical_scale(z_levels, grid.depth,
                                                            nugget.ravel(), self.model))
            if not np.isfinite(self.vertical_scale_):
                self.vertical_scale_ = DEFAULT_VERTICAL_M
            self.groups_ = [(ocean, (float(np.median([lv.length_x for lv in self.levels_])),
                                     float(np.median([lv.length_y for lv in self.levels_])),
                                     self.vertical_scale_))]
        return self

    def _override(self, level: LevelCovariance) -> LevelCovariance:
        """Replace fitted values by the ones fixed in ``__init__``."""
        if self.nugget is not None:
            level.nugget, level.source = float(self.nugget), "set"
        if self.length_scale is not None:
            lx, ly = np.broadcast_to(np.asarray(self.length_scale, dtype=float), (2,))
            level.length_x, level.length_y, level.source = float(lx), float(ly), "set"
        if self.variance is not None:
            level.variance = float(self.variance)
        return level

    def fitted_params(self) -> dict:
        out = {"levels": [level.as_dict() for level in self.levels_]}
        if self.vertical_scale_ is not None:
            lx, ly, lz = self.groups_[0][1]
            out.update(horizontal_scale_km=[round(lx, 2), round(ly, 2)],
                       vertical_scale_m=round(lz, 2))
        return out

    def _points(self, cells: np.ndarray) -> Points:
        """:class:`Points` of the True cells of a (depth, lat, lon) mask."""
        k, i, j = np.nonzero(cells)
        return Points(self.u2_[i, j], self.u2_[i, j, 2], self.grid_.depth[k],
                      self.sd_[k, i, j], self.noise_[k, i, j])

    def reconstruct(self, obs):
        ocean = self.grid_.ocean
        values = obs.values.astype(np.float64)
        out = self.background_[obs["time"].dt.month.values - 1].astype(np.float64)
        variance = np.zeros_like(out)
        for t in range(values.shape[0]):
            seen = np.isfinite(values[t]) & ocean
            for group, lengths in self.groups_:
                if not (seen & group).any():  # no observation: the background stands
                    variance[t][group] = self.sd_[group] ** 2
                    continue
                innovation = values[t][seen & group] - out[t][seen & group]
                increment, var = local_oi(self._points(seen & group), innovation,
                                          self._points(group), lengths, self.model,
                                          self.n_neighbours)
                out[t][group] += increment
                variance[t][group] = var
        if self.return_variance:
            self.analysis_variance_ = obs.copy(data=np.where(ocean, variance, np.nan))
        return obs.copy(data=np.where(ocean, out, np.nan).astype(np.float32))
