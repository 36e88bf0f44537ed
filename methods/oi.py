"""``oi``: optimal interpolation (the BLUE) of anomalies from the train climatology.

For every target cell t the analysis uses nearby observations o (local OI):

    x_a(t) = x_b(t) + B_to (B_oo + R)^-1 (y_o - x_b(o)),
    sigma_a^2(t) = B_tt - B_to (B_oo + R)^-1 B_ot,

with x_b the train monthly climatology, B the background-error covariance of
:mod:`reconbench.methods.covariance` and R = diag(nugget * s^2) the observation
error. All parameters are fitted on the train split per level and can be fixed
in ``__init__``.

Target cells are grouped into patches (blocks of ``patch`` grid cells). The
observations o of a patch are the union of the ``n_neighbours`` nearest ones
of each of its cells, so every cell sees at least its own nearest
observations, and one LU factorisation of B_oo + R per patch serves all its
cells: the weights (B_oo + R)^-1 (y_o - x_b(o)) are solved once, and each cell
costs one row of B_to. The linear algebra is batched over chunks of patches
(numpy's stacked solves); no matrix of all observations is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
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
)
from reconbench.methods.registry import register_method

MAX_FIT_MONTHS = 120  # train months (evenly spaced) used to fit the covariance
DEFAULT_VERTICAL_M = 100.0  # vertical length scale when it cannot be fitted
PATCH_SIDE = 0.75  # side of a patch, in units of the typical n_neighbours-th neighbour distance
PATCH_NEIGHBOURS = 1.25  # observations per patch, in units of n_neighbours


@dataclass
class Points:
    """Points of a local OI in the scaled space of the covariance.

    ``coords`` (n, 3 or 4): the first three columns are the unit vector stretched
    by (R / L_x, R / L_x, R / L_y), so that their Euclidean distance is the scaled
    horizontal distance r of :func:`~reconbench.methods.covariance.scaled_distance`;
    the fourth, where the covariance has a vertical factor, is depth / L_z. ``sd`` (n,) is the
    background-error sd in °C and ``noise`` (n,) the observation-error variance
    in °C².
    """

    coords: np.ndarray
    sd: np.ndarray
    noise: np.ndarray

    def take(self, index) -> Points:
        return Points(self.coords[index], self.sd[index], self.noise[index])


def scaled_coords(u: np.ndarray, depth: np.ndarray, lengths) -> np.ndarray:
    """:attr:`Points.coords` of unit vectors ``u`` (n, 3) at ``depth`` (n,) m.

    ``lengths`` is (L_x km, L_y km, L_z m); L_z = inf drops the vertical factor
    (for points that all lie on one level) and the fourth column.
    """
    stretch = EARTH_RADIUS_KM / np.array([lengths[0], lengths[0], lengths[1]])
    if not np.isfinite(lengths[2]):
        return u * stretch
    return np.column_stack([u * stretch, depth / lengths[2]])


def covariance(a: np.ndarray, sd_a: np.ndarray, b: np.ndarray, sd_b: np.ndarray,
               model: str) -> np.ndarray:
    """B between stacks of points, (c, p) x (c, m) -> (c, p, m), °C², float32.

    ``a`` (c, p, d) and ``b`` (c, m, d) are :attr:`Points.coords` (best centred
    on each stack: the squared distances are summed in float32),
    ``sd_a`` (c, p) and ``sd_b`` (c, m) the background-error sd in °C. B =
    sd_a sd_b rho(r) rho(|dz| / L_z) is one exponential: for the gaussian model
    exp(-(r^2 + dz^2 / L_z^2) / 2), for the exponential one exp(-r - |dz| / L_z).
    """
    a, b = a.astype(np.float32), b.astype(np.float32)
    columns = 3 if model == "exponential" else a.shape[-1]  # exponential: r alone here
    out = np.zeros((a.shape[0], a.shape[1], b.shape[1]), dtype=np.float32)
    for c in range(columns):  # differences, not a Gram matrix: exact at zero distance
        step = a[:, :, None, c] - b[:, None, :, c]
        step *= step
        out += step
    if model == "exponential":
        np.sqrt(out, out=out)
        if a.shape[-1] == 4:
            out += np.abs(a[:, :, None, 3] - b[:, None, :, 3])
        out *= -1.0
    else:
        out *= -0.5
    np.exp(out, out=out)
    out *= sd_a[:, :, None].astype(np.float32)
    out *= sd_b[:, None, :].astype(np.float32)
    return out


def patches_of(coords: np.ndarray, size: float, max_members: int = 64) -> np.ndarray:
    """Group points into patches: cubes of side ``size`` in their scaled coordinates.

    ``coords`` is (n, 4). A cube with more than ``max_members`` points is cut
    into consecutive runs of at most that many. Returns (n_patches, p) indices
    into the points, padded with -1, the patches sorted by their number of
    members (so that chunks of consecutive patches pad little).
    """
    cube = np.floor(coords / size).astype(np.int64)
    cube -= cube.min(axis=0)
    key = np.zeros(len(coords), dtype=np.int64)
    for column in cube.T:
        key = key * (int(column.max()) + 1) + column
    order = np.argsort(key, kind="stable")
    _, start, count = np.unique(key[order], return_index=True, return_counts=True)
    rank = np.arange(order.size) - np.repeat(start, count)
    patch = np.repeat(np.arange(start.size), count) * (-(-count.max() // max_members)) + \
        rank // max_members  # cubes cut into runs
    _, patch, count = np.unique(patch, return_inverse=True, return_counts=True)
    rank = rank % max_members
    by_size = np.argsort(count, kind="stable")
    slot = np.empty_like(by_size)
    slot[by_size] = np.arange(by_size.size)
    out = np.full((count.size, int(count.max())), -1)
    out[slot[patch], rank] = order
    return out


def local_oi(obs: Points, innovation: np.ndarray, targets: Points, model: str,
             n_neighbours: int, with_variance: bool = False,
             max_entries: int = 2 ** 21) -> tuple[np.ndarray, np.ndarray | None]:
    """Analysis increment and (optionally) error variance at ``targets``.

    ``innovation`` is y - x_b at the observations (n_obs,), °C. Targets are
    grouped into patches (:func:`patches_of`): cubes of side PATCH_SIDE times
    rho_k, the median distance from a target to its ``n_neighbours``-th nearest
    observation. Every target of a patch is analysed with the
    PATCH_NEIGHBOURS * ``n_neighbours`` observations nearest to the patch's
    centre, so one LU factorisation of B_oo + R serves the patch. Returns the
    increment (n_targets,) in °C and the analysis-error variance (n_targets,)
    in °C² (None unless ``with_variance``). Chunks of patches hold about
    ``max_entries`` covariance entries at a time.
    """
    tree = cKDTree(obs.coords)
    k = min(n_neighbours, len(innovation))
    sample = np.linspace(0, len(targets.sd) - 1, min(len(targets.sd), 1000)).astype(int)
    radius = np.median(np.atleast_2d(tree.query(targets.coords[sample], k=[k])[0])[:, -1])
    patches = patches_of(targets.coords, max(radius, 1e-6) * PATCH_SIDE)
    size = (patches >= 0).sum(axis=1)  # ascending
    real = patches >= 0
    centre = np.einsum("np,npd->nd", real, targets.coords[np.where(real, patches, 0)]) / \
        size[:, None]
    m = min(int(round(PATCH_NEIGHBOURS * n_neighbours)), len(innovation))
    near = tree.query(centre, k=[m] if m == 1 else m)[1].reshape(len(patches), m)
    increment = np.empty(len(targets.sd))
    variance = np.empty(len(targets.sd)) if with_variance else None
    chunk = max(1, max_entries // (m * (m + patches.shape[1])))
    for start in range(0, len(patches), chunk):
        part = slice(start, start + chunk)
        members = patches[part, :size[part].max()]
        real = members >= 0
        members = np.where(real, members, members[:, :1])  # padding: the first member
        nb = obs.take(near[part])
        tgt = targets.take(members)
        at = centre[part, None, :]
        b_oo = covariance(nb.coords - at, nb.sd, nb.coords - at, nb.sd, model).astype(float)
        diag = np.arange(m)
        b_oo[:, diag, diag] += nb.noise
        b_to = covariance(tgt.coords - at, tgt.sd, nb.coords - at, nb.sd, model)  # (c, p, m)
        rhs = innovation[near[part]][:, :, None]
        if with_variance:
            rhs = np.concatenate([rhs, b_to.transpose(0, 2, 1)], axis=2)
        x = np.linalg.solve(b_oo, rhs)  # (c, m, 1 [+ p])
        inc = np.matmul(b_to, x[:, :, :1])[..., 0]
        increment[members[real]] = inc[real]
        if with_variance:
            var = tgt.sd ** 2 - np.einsum("cpm,cmp->cp", b_to, x[:, :, 1:])
            variance[members[real]] = np.maximum(var[real], 0.0)
    return increment, variance


@register_method("oi")
class OptimalInterpolation(Method):
    """Local optimal interpolation of anomalies from the train monthly climatology.

    :meth:`reconstruct_distribution` also returns the analysis-error variance.

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
    seed : seeds the sampling of point pairs for the fit.
    """

    uncertainty = "variance"

    #: Values ``reconbench tune`` tries by default: observations per cell, horizontal
    #: length scale (None: fitted on the train split; else km) and nugget (None:
    #: fitted; else a fraction of the anomaly variance).
    search_space = {"n_neighbours": [16, 32, 64], "length_scale": [None, 300.0, 600.0, 1200.0],
                    "nugget": [None, 0.01, 0.05]}

    #: Read by reconstruct alone (a fit serves every value; see Method.predict_params).
    predict_params = ("n_neighbours",)

    def __init__(self, model: str = "exponential", length_scale=None, nugget=None,
                 variance=None, anisotropic: bool = True, vertical: bool = True,
                 vertical_scale=None, n_neighbours: int = 32,
                 seed: int = 0):
        self.model = model
        self.length_scale = length_scale
        self.nugget = nugget
        self.variance = variance
        self.anisotropic = anisotropic
        self.vertical = vertical
        self.vertical_scale = vertical_scale
        self.n_neighbours = n_neighbours
        self.seed = seed

    def fit(self, train, grid):
        super().fit(train, grid)
        correlation(self.model, 0.0)  # checks the model name
        self.background_ = Climatology().fit(train, grid).climatology_
        months = train["time"].dt.month.values
        use = np.unique(np.linspace(0, len(months) - 1, min(len(months), MAX_FIT_MONTHS))
                        .round().astype(int))
        lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
        levels, total_var, z_levels = fit_covariances(
            self._fit_anomalies(train, use), lat2, lon2, grid.ocean, self.model, self.anisotropic,
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
        self.targets_ = [self._points(group, lengths) for group, lengths in self.groups_]
        return self

    def _fit_anomalies(self, train, use: np.ndarray, levels_per_read: int = 6):
        """Yield each level's (time, lat, lon) train anomaly (°C, float64) of the months
        ``use``, reading ``levels_per_read`` levels at a time: only the months used are
        read, and memory holds one group of levels, not the whole (time, depth) block
        (a lazily read split, such as the regridded cache, reads only that group)."""
        months = train["time"].dt.month.values[use]
        for top in range(0, train.sizes["depth"], levels_per_read):
            values = train.isel(time=use, depth=slice(top, top + levels_per_read)).values
            for j in range(values.shape[1]):
                yield values[:, j] - self.background_[months - 1, top + j]

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

    def _points(self, cells: np.ndarray, lengths) -> Points:
        """:class:`Points` of the True cells of a (depth, lat, lon) mask, scaled by
        ``lengths`` (L_x km, L_y km, L_z m)."""
        k, i, j = np.nonzero(cells)
        return Points(scaled_coords(self.u2_[i, j], self.grid_.depth[k], lengths),
                      self.sd_[k, i, j], self.noise_[k, i, j])

    def _analyse(self, obs, with_variance: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Analysis (time, depth, lat, lon) in °C and, if asked, its error variance
        in °C² (NaN off the ocean)."""
        ocean = self.grid_.ocean
        values = obs.values.astype(np.float64)
        out = self.background_[obs["time"].dt.month.values - 1].astype(np.float64)
        variance = np.full(out.shape, np.nan) if with_variance else None
        for t in range(values.shape[0]):
            seen = np.isfinite(values[t]) & ocean
            for (group, lengths), targets in zip(self.groups_, self.targets_, strict=True):
                if not (seen & group).any():  # no observation: the background stands
                    if with_variance:
                        variance[t][group] = self.sd_[group] ** 2
                    continue
                innovation = values[t][seen & group] - out[t][seen & group]
                increment, var = local_oi(self._points(seen & group, lengths), innovation,
                                          targets, self.model, self.n_neighbours,
                                          with_variance)
                out[t][group] += increment
                if with_variance:
                    variance[t][group] = var
        return np.where(ocean, out, np.nan), variance

    def reconstruct(self, obs):
        mean, _ = self._analyse(obs, with_variance=False)
        return obs.copy(data=mean.astype(np.float32))

    def reconstruct_distribution(self, obs):
        """The analysis and its error variance, diag(B - B H^T (H B H^T + R)^-1 H B)
        per cell (°C², with the same local neighbour sets as the analysis)."""
        mean, variance = self._analyse(obs, with_variance=True)
        return xr.Dataset({"mean": obs.copy(data=mean.astype(np.float32)),
                           "variance": obs.copy(data=variance.astype(np.float32))})
