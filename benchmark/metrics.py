"""Scores of a reconstruction against the truth, per depth level and aggregated.

Every score is computed on a *point set* of each sample:

- ``evaluation``: ocean cells that were not guidance points (the held-out cells);
- ``guidance``: the guidance points the method saw;
- ``ocean``: every ocean cell.

For a gappy truth (NaN at ocean cells not observed at that time) ``observed``
marks where the truth exists: ``ocean`` is then the observed ocean cells,
``guidance`` the guidance points among them and ``evaluation`` the observed
cells that were withheld; a cell where the truth is missing is never scored.
Beside the scores, ``coverage`` is the size of each point set over the number
of the grid's ocean cells (per level, and pooled over levels): for ``guidance``
it is the fraction of the ocean a method saw, for ``ocean`` the truth's own
coverage (1 for a complete truth).

How each score is averaged (``e = reconstruction - truth`` in °C, ``S`` the point
set of one level of one sample, ``S*`` its union over levels, ``w`` = cos(lat)):

=============  ==============================  ====================================
metric         per level                       all levels (``depth`` = NaN)
=============  ==============================  ====================================
``mse``        sum_S e² / |S|   (°C²)          sum_S* e² / |S*|  (points pooled)
``rmse``       sqrt(mse)        (°C)           sqrt of the pooled mse
``mae``        sum_S |e| / |S|  (°C)           pooled over S*
``bias``       sum_S e / |S|    (°C)           pooled over S*
``mse_area``   sum_S w e² / sum_S w  (°C²)     pooled over S* with the same weights
``mse_paper``  sum_S e² / (H W)  (°C²)         mean of the per-level values
=============  ==============================  ====================================

``mse_paper`` is the ReconMOST paper's number: the squared errors outside ``S``
are zero-filled and the sum is divided by all H x W cells of the level, land
included, so it is smaller than ``mse`` by the level's fraction of points. For
it a fourth point set ``total`` = r * evaluation + (1 - r) * guidance is also
reported, r being the missing rate (the paper's 0.925 * recon + 0.075 * guide).
A score over an empty point set is NaN. Rows are per sample; reports average
over samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

POINT_SETS = ("evaluation", "guidance", "ocean")


@dataclass(frozen=True)
class Sums:
    """Per-(sample, level) sums of one point set: arrays (time, depth), float64."""

    n: np.ndarray  # number of points
    sq: np.ndarray  # sum of e²
    abs: np.ndarray  # sum of |e|
    err: np.ndarray  # sum of e
    w: np.ndarray  # sum of w
    wsq: np.ndarray  # sum of w e²
    n_cells: int  # H * W of a level

    @classmethod
    def of(cls, error: np.ndarray, points: np.ndarray, weights: np.ndarray) -> Sums:
        """Sums of ``error`` (time, depth, lat, lon) over ``points`` (same shape, bool)."""
        e = np.where(points, error, 0.0).astype(np.float64)
        w = np.where(points, weights, 0.0)
        return cls(n=points.sum(axis=(2, 3)).astype(np.float64), sq=(e * e).sum(axis=(2, 3)),
                   abs=np.abs(e).sum(axis=(2, 3)), err=e.sum(axis=(2, 3)),
                   w=w.sum(axis=(2, 3)), wsq=(w * e * e).sum(axis=(2, 3)),
                   n_cells=error.shape[2] * error.shape[3])

    def pooled(self) -> Sums:
        """The same sums over all levels together: arrays (time, 1)."""
        return Sums(**{k: v.sum(axis=1, keepdims=True) for k, v in self.__dict__.items()
                       if k != "n_cells"}, n_cells=self.n_cells)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


class Metric:
    """A score computed from :class:`Sums`; subclasses define ``name`` and ``units``."""

    name = ""
    units = ""

    def per_level(self, s: Sums) -> np.ndarray:
        """(time, depth) scores."""
        raise NotImplementedError

    def all_levels(self, s: Sums) -> np.ndarray:
        """(time,) scores over all levels (points pooled unless stated otherwise)."""
        return self.per_level(s.pooled())[:, 0]


class MSE(Metric):
    name, units = "mse", "degC2"

    def per_level(self, s):
        return _ratio(s.sq, s.n)


class RMSE(Metric):
    name, units = "rmse", "degC"

    def per_level(self, s):
        return np.sqrt(_ratio(s.sq, s.n))


class MAE(Metric):
    name, units = "mae", "degC"

    def per_level(self, s):
        return _ratio(s.abs, s.n)


class Bias(Metric):
    name, units = "bias", "degC"

    def per_level(self, s):
        return _ratio(s.err, s.n)


class AreaWeightedMSE(Metric):
    name, units = "mse_area", "degC2"

    def per_level(self, s):
        return _ratio(s.wsq, s.w)


class PaperMSE(Metric):
    """The ReconMOST paper's MSE: sum over the points divided by all H x W cells."""

    name, units = "mse_paper", "degC2"

    def per_level(self, s):
        return s.sq / s.n_cells

    def all_levels(self, s):
        return self.per_level(s).mean(axis=1)


METRICS: tuple[Metric, ...] = (MSE(), RMSE(), MAE(), Bias(), AreaWeightedMSE(), PaperMSE())


def score(truth: np.ndarray, reconstruction: np.ndarray, guidance: np.ndarray,
          ocean: np.ndarray, depth: np.ndarray, lat: np.ndarray,
          missing_rate: float, observed: np.ndarray | None = None) -> pd.DataFrame:
    """Tidy scores of a batch of reconstructions.

    Parameters
    ----------
    truth, reconstruction : (time, depth, lat, lon) arrays in °C.
    guidance : (time, depth, lat, lon) bool, True at guidance points.
    ocean : (depth, lat, lon) bool ocean mask of the grid.
    depth : (depth,) level depths in metres; lat : (lat,) degrees north.
    missing_rate : the nominal missing rate r, used for the paper's ``total``.
    observed : (time, depth, lat, lon) bool, True where the truth exists (a gappy
        truth); None: everywhere (a complete truth).

    Returns
    -------
    DataFrame with columns ``sample`` (index in the batch), ``depth`` (metres,
    NaN for all levels), ``point_set``, ``metric``, ``value``; plus rows with
    metric ``n_points`` giving the size of each point set and ``coverage`` that
    size over the grid's number of ocean cells.
    """
    error = np.asarray(reconstruction, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    ocean_b = np.broadcast_to(ocean, error.shape)
    if observed is not None:
        ocean_b = ocean_b & np.asarray(observed, dtype=bool)
    guidance = np.asarray(guidance, dtype=bool) & ocean_b
    sets = {"evaluation": ocean_b & ~guidance, "guidance": guidance, "ocean": ocean_b}
    weights = np.broadcast_to(np.cos(np.deg2rad(lat))[:, None], error.shape[2:])
    n_time, n_depth = error.shape[:2]
    n_ocean = np.asarray(ocean).sum(axis=(1, 2))  # (depth,) the grid's ocean cells per level
    frames = []

    def rows(point_set: str, metric: str, per_level: np.ndarray, all_levels: np.ndarray):
        values = np.concatenate([per_level, all_levels[:, None]], axis=1)  # (time, depth + 1)
        frames.append(pd.DataFrame({
            "sample": np.repeat(np.arange(n_time), n_depth + 1),
            "depth": np.tile(np.append(depth, np.nan), n_time),
            "point_set": point_set, "metric": metric, "value": values.ravel()}))

    paper = {}
    for point_set, points in sets.items():
        sums = Sums.of(error, points, weights)
        rows(point_set, "n_points", sums.n, sums.pooled().n[:, 0])
        rows(point_set, "coverage", sums.n / np.maximum(n_ocean, 1),
             sums.pooled().n[:, 0] / max(n_ocean.sum(), 1))
        for metric in METRICS:
            per_level, all_levels = metric.per_level(sums), metric.all_levels(sums)
            rows(point_set, metric.name, per_level, all_levels)
            if metric.name == "mse_paper":
                paper[point_set] = (per_level, all_levels)
    r = missing_rate
    rows("total", "mse_paper",
         r * paper["evaluation"][0] + (1 - r) * paper["guidance"][0],
         r * paper["evaluation"][1] + (1 - r) * paper["guidance"][1])
    return pd.concat(frames, ignore_index=True)
