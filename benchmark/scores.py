"""Probabilistic scores: how well a method's stated uncertainty matches its error.

Only methods with :attr:`~reconbench.methods.base.Method.uncertainty` get these
scores; a deterministic method gets no rows at all (never zeros). The forecast of
one cell is a :class:`Distribution`: its ``mean`` (the reconstruction) and either
a Gaussian ``variance`` or equally likely ``members``.

Every score is computed on the *evaluation* points (ocean cells a method did not
see) with the averaging conventions of :mod:`reconbench.benchmark.metrics`: per
level, a mean over the level's points of one sample; over all levels
(``depth`` = NaN), the same mean over the points of all levels pooled. With y the
truth, μ the mean, e = μ − y, M members x_1..x_M, σ² the variance (°C²):

==================  ===========================================================
metric              per point, then averaged over the point set as above
==================  ===========================================================
``crps`` (°C)       ensembles: the fair (unbiased in M) estimator
                    mean_i |x_i − y| − Σ_i Σ_j |x_i − x_j| / (2 M (M − 1));
                    Gaussian: the closed form σ [z (2Φ(z) − 1) + 2φ(z) − 1/√π],
                    z = (y − μ) / σ (both from scoringrules)
``spread`` (°C)     √(mean σ²); ensembles: σ² = the members' variance (ddof 1)
``spread_skill``    √(mean σ² · k) / √(mean e²): 1 when the stated spread matches
                    the error of the mean; k = (M + 1) / M for ensembles (the
                    mean of M members of a calibrated ensemble misses the truth by
                    σ² (1 + 1/M) on average; Fortin et al. 2014), 1 for Gaussians
``coverage_50``,    share of points inside the central 50 % / 90 % interval of the
``coverage_90``     forecast distribution, i.e. with |u − 1/2| ≤ 0.25 / 0.45 for the
                    PIT u below (nominal: 0.5 / 0.9)
``rank_KK``         ensembles: share of points where K members are below the truth
                    (K = 0..M; ties split at random): the rank histogram, flat at
                    1 / (M + 1) when calibrated
``pit_KK``          Gaussian: share of points with u = Φ(z) in the K-th of
                    :data:`PIT_BINS` equal bins: the PIT histogram, flat when
                    calibrated
==================  ===========================================================

For an ensemble, u is the randomised PIT (K + V) / (M + 1), V uniform on [0, 1)
(over the tied ranks too), so that u is uniform exactly when the truth is
exchangeable with the members and the interval coverages are nominal for a
calibrated ensemble of any size. Ties and V are drawn from a fixed seed, so the
rows are reproducible. Rows are per sample; reports average over samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scoringrules
import xarray as xr
from scipy.special import ndtr

from reconbench.errors import ReconbenchError

#: Number of equal bins of the PIT histogram.
PIT_BINS = 10
#: Central intervals whose coverage is scored (nominal probabilities).
INTERVALS = (0.5, 0.9)
#: Seed of the random tie-breaking of ensemble ranks.
RANK_SEED = 0


@dataclass(frozen=True)
class Distribution:
    """A method's forecast of a batch: arrays in °C (variance in °C²).

    ``mean``: (time, depth, lat, lon); ``variance``: the same shape or None;
    ``members``: (member, time, depth, lat, lon) or None. Exactly one of the two
    is set.
    """

    mean: np.ndarray
    variance: np.ndarray | None = None
    members: np.ndarray | None = None

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, label: str, kind: str) -> Distribution:
        """The distribution a method returned, checked against its ``uncertainty`` kind."""
        needed = {"variance": "variance", "ensemble": "members"}[kind]
        if "mean" not in ds or needed not in ds:
            raise ReconbenchError(f"method {label!r} has uncertainty {kind!r} but its "
                                  f"reconstruct_distribution returned variables "
                                  f"{sorted(ds.data_vars)}; expected 'mean' and {needed!r}")
        mean = ds["mean"].values.astype(np.float64)
        if kind == "variance":
            return cls(mean, variance=ds["variance"].values.astype(np.float64))
        members = ds["members"].transpose("member", *ds["mean"].dims).values
        return cls(mean, members=members.astype(np.float64))

    @property
    def n_members(self) -> int:
        return 0 if self.members is None else self.members.shape[0]

    def check(self, points: np.ndarray, label: str) -> None:
        """A clear error when the uncertainty is not finite (or negative) on ``points``."""
        spread = self.variance if self.members is None else self.members
        if spread.shape[-4:] != self.mean.shape:
            raise ReconbenchError(f"method {label!r} returned uncertainty of shape "
                                  f"{spread.shape}; expected {self.mean.shape} per member")
        values = self.variance[points] if self.members is None else self.members[:, points]
        if not np.isfinite(values).all() or (self.variance is not None and (values < 0).any()):
            raise ReconbenchError(f"method {label!r} returned NaN, infinite or negative "
                                  f"uncertainty over the evaluation points")
        if self.members is not None and self.n_members < 2:
            raise ReconbenchError(f"method {label!r} returned {self.n_members} member; "
                                  f"ensemble scores need at least 2")


class PointwiseQuantities:
    """Per-point quantities on the evaluation points of one batch (1-D arrays, one value
    per point), computed once and shared by the scores: ``crps``, ``variance`` (σ², for
    ensembles times (M + 1) / M), ``sq_error``, ``pit`` and, for ensembles, ``rank``."""

    def __init__(self, dist: Distribution, truth: np.ndarray, points: np.ndarray):
        truth = np.asarray(truth, dtype=np.float64)[points]
        mean = dist.mean[points]
        self.sq_error = (mean - truth) ** 2
        rng = np.random.default_rng(RANK_SEED)
        if dist.members is None:
            sigma = np.sqrt(dist.variance[points])
            safe = np.where(sigma > 0, sigma, 1.0)
            crps = scoringrules.crps_normal(truth, mean, safe)
            # a zero variance is a point mass: CRPS = |e| and the PIT a step at the mean
            self.crps = np.where(sigma > 0, crps, np.sqrt(self.sq_error))
            self.pit = np.where(sigma > 0, ndtr((truth - mean) / safe),
                                np.where(truth > mean, 1.0, 0.0))
            self.variance = sigma ** 2
            self.rank = None
        else:
            members = dist.members[:, points].T  # (point, member)
            m = members.shape[-1]
            self.crps = scoringrules.crps_ensemble(truth, members, estimator="fair")
            below = (members < truth[..., None]).sum(axis=-1)
            tied = (members == truth[..., None]).sum(axis=-1)
            position = below + rng.random(truth.shape) * (tied + 1)  # uniform over ties
            self.rank = np.minimum(np.floor(position), m).astype(np.int64)
            self.pit = position / (m + 1)
            self.variance = members.var(axis=-1, ddof=1) * (m + 1) / m
        self.n_members = dist.n_members


class ProbabilisticScore:
    """A score from point-set means of pointwise quantities.

    ``quantities(q)`` gives named per-point arrays; ``finish(means)`` turns their
    means over a point set (arrays of any shape) into ``{metric: values}``.
    """

    units = ""

    def applies(self, q: PointwiseQuantities) -> bool:
        return True

    def quantities(self, q: PointwiseQuantities) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def finish(self, means: dict[str, np.ndarray], q: PointwiseQuantities
               ) -> dict[str, np.ndarray]:
        raise NotImplementedError


class CRPS(ProbabilisticScore):
    units = "degC"

    def quantities(self, q):
        return {"crps": q.crps}

    def finish(self, means, q):
        return {"crps": means["crps"]}


class SpreadSkill(ProbabilisticScore):
    """``spread`` (°C) and ``spread_skill`` (see the module docstring)."""

    def quantities(self, q):
        return {"variance": q.variance, "sq_error": q.sq_error}

    def finish(self, means, q):
        with np.errstate(invalid="ignore", divide="ignore"):
            skill = np.sqrt(means["sq_error"])
            ratio = np.where(skill > 0, np.sqrt(means["variance"]) / skill, np.nan)
        m = q.n_members
        spread = means["variance"] * ((m / (m + 1)) if m else 1.0)  # back to the members' own
        return {"spread": np.sqrt(spread), "spread_skill": ratio}


class Coverage(ProbabilisticScore):
    """Share of points inside the central intervals of :data:`INTERVALS`."""

    def quantities(self, q):
        return {f"coverage_{100 * a:.0f}": (np.abs(q.pit - 0.5) <= a / 2).astype(np.float64)
                for a in INTERVALS}

    def finish(self, means, q):
        return dict(means)


class RankHistogram(ProbabilisticScore):
    """Ensembles: share of points of each rank 0..M (metrics ``rank_00``...)."""

    def applies(self, q):
        return q.rank is not None

    def quantities(self, q):
        return {f"rank_{k:02d}": (q.rank == k).astype(np.float64)
                for k in range(q.n_members + 1)}

    def finish(self, means, q):
        return dict(means)


class PITHistogram(ProbabilisticScore):
    """Gaussian methods: share of points in each of :data:`PIT_BINS` PIT bins."""

    def applies(self, q):
        return q.rank is None

    def quantities(self, q):
        k = np.minimum(np.floor(q.pit * PIT_BINS), PIT_BINS - 1)
        return {f"pit_{b:02d}": (k == b).astype(np.float64) for b in range(PIT_BINS)}

    def finish(self, means, q):
        return dict(means)


SCORES: tuple[ProbabilisticScore, ...] = (CRPS(), SpreadSkill(), Coverage(), RankHistogram(),
                                          PITHistogram())


def histogram_metrics(rows: pd.DataFrame, prefix: str) -> list[str]:
    """The histogram metric names (``rank_`` or ``pit_``) present in ``rows``, in bin order."""
    names = rows["metric"].unique()
    return sorted(n for n in names if isinstance(n, str) and n.startswith(prefix)
                  and n[len(prefix):].isdigit())


def probabilistic_score(truth: np.ndarray, dist: Distribution, points: np.ndarray,
                        depth: np.ndarray) -> pd.DataFrame:
    """Tidy probabilistic scores of one batch on the evaluation ``points``.

    Parameters
    ----------
    truth : (time, depth, lat, lon) °C.
    dist : the method's :class:`Distribution` of the same batch.
    points : (time, depth, lat, lon) bool, the evaluation points.
    depth : (depth,) level depths in metres.

    Returns
    -------
    DataFrame with columns ``sample``, ``depth`` (NaN for all levels pooled),
    ``point_set`` (= "evaluation"), ``metric``, ``value``, like
    :func:`reconbench.benchmark.metrics.score`.
    """
    q = PointwiseQuantities(dist, truth, points)
    n_time, n_depth = points.shape[:2]
    t_index, k_index = np.nonzero(points)[:2]
    group = t_index * n_depth + k_index  # the (sample, level) of every point

    def level_sums(values: np.ndarray) -> np.ndarray:  # (time, depth)
        return np.bincount(group, values, minlength=n_time * n_depth).reshape(n_time, n_depth)

    n = level_sums(np.ones(group.size))
    n_pooled = n.sum(axis=1)
    frames = []
    for score_ in SCORES:
        if not score_.applies(q):
            continue
        per_level, pooled = {}, {}
        for name, values in score_.quantities(q).items():
            sums = level_sums(values)
            with np.errstate(invalid="ignore", divide="ignore"):
                per_level[name] = np.where(n > 0, sums / np.where(n > 0, n, 1), np.nan)
                pooled[name] = np.where(n_pooled > 0, sums.sum(axis=1) /
                                        np.where(n_pooled > 0, n_pooled, 1), np.nan)
        level_values, pooled_values = score_.finish(per_level, q), score_.finish(pooled, q)
        for metric, values in level_values.items():
            table = np.concatenate([values, pooled_values[metric][:, None]], axis=1)
            frames.append(pd.DataFrame({
                "sample": np.repeat(np.arange(n_time), n_depth + 1),
                "depth": np.tile(np.append(depth, np.nan), n_time),
                "point_set": "evaluation", "metric": metric, "value": table.ravel()}))
    return pd.concat(frames, ignore_index=True)
