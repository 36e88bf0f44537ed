"""Observation masks: which ocean cells a method may see.

A :class:`MaskSpec` is a kind, a missing rate and a seed. ``spec.build(grid, n)``
returns the guidance mask, a bool array (time, depth, lat, lon) that is True at
the guidance (observed) points. The draw for sample ``i`` depends only on
(kind, missing rate, seed, i), so the same spec gives every method the same mask,
and a longer batch extends a shorter one.

Missing rate ``r`` is the fraction of ocean cells NOT observed, in [0, 1). For a
gappy truth (a source whose fields are NaN at ocean cells not observed at that
time) every kind draws among the cells where the truth exists at the sample's
time (``observed`` of :meth:`MaskSpec.build_with_report`), and ``r`` is relative
to them: the share of the grid's ocean that a method sees is then
(1 - r) times the truth's own coverage.

Kinds:

- ``random`` (the ReconMOST paper's): for every sample and independently for
  every depth level, exactly ``round((1 - r) * n_ocean)`` of that level's ocean
  cells are drawn without replacement.
- ``profiles`` (Argo-like): whole columns observed from the surface down to a
  random maximum depth; columns are added until ``(1 - r)`` of all ocean cells
  of the sample (all levels together) are observed.

A level with ocean but no guidance point after the draw gets one guidance point
drawn at random among its ocean cells (the *empty-level fallback*); the number
of levels this happened to is returned by :meth:`MaskSpec.build_with_report`
and recorded in the results. More kinds (``positions``, ``clouds``) plug in by
subclassing :class:`MaskKind` with :func:`register_mask_kind`; the kinds from
real observing systems, ``positions`` and ``clouds``, live in
:mod:`reconbench.datasets.observed`. A kind's parameters (e.g. the Argo index
of ``positions``) are keyword arguments of its class, given as
``MaskSpec.params``; :meth:`MaskKind.draw` also receives the grid and the
sample's time stamp, which position-based kinds need.
"""

from __future__ import annotations

import abc
import zlib
from dataclasses import dataclass, field

import numpy as np

from reconbench.datasets.grid import Grid
from reconbench.errors import InputError
from reconbench.registry import Registry


class MaskKind(abc.ABC):
    """How guidance points are drawn for one sample."""

    name: str = ""

    @abc.abstractmethod
    def draw(self, ocean: np.ndarray, missing_rate: float, rng: np.random.Generator,
             depth: np.ndarray, grid: Grid | None = None, time=None) -> np.ndarray:
        """Guidance mask (depth, lat, lon) bool for one sample.

        ``ocean`` is the (depth, lat, lon) mask of the cells that may be drawn: the
        grid's ocean mask, or for a gappy truth the ocean cells observed at the
        sample's time; ``depth`` is the grid's level depths in metres; ``grid`` is
        the whole grid and ``time`` the sample's time stamp (datetime64), or None
        when the caller has none.
        """


MASK_KINDS = Registry("mask kind", "kinds", MaskKind, package="reconbench.datasets")

#: Class decorator registering a :class:`MaskKind` under a name.
register_mask_kind = MASK_KINDS.register
#: Names of the registered mask kinds.
mask_kind_names = MASK_KINDS.names


@register_mask_kind("random")
class RandomPoints(MaskKind):
    """Independent uniform draw of (1 - r) of each level's ocean cells."""

    def draw(self, ocean, missing_rate, rng, depth, grid=None, time=None):
        guidance = np.zeros_like(ocean)
        for k in range(ocean.shape[0]):
            cells = np.flatnonzero(ocean[k])
            n_obs = int(round((1.0 - missing_rate) * cells.size))
            chosen = rng.choice(cells, size=n_obs, replace=False)
            guidance[k].flat[chosen] = True
        return guidance


@register_mask_kind("profiles")
class Profiles(MaskKind):
    """Argo-like vertical profiles from the surface to a random maximum depth.

    Each profile's maximum depth is the full column with probability
    ``full_depth_fraction``; otherwise it is uniform in metres between the first
    level and the column's deepest ocean level. Profiles are added in random
    order until the observed cells reach (1 - r) of all ocean cells.
    """

    full_depth_fraction = 0.7

    def draw(self, ocean, missing_rate, rng, depth, grid=None, time=None):
        guidance = np.zeros_like(ocean)
        target = int(round((1.0 - missing_rate) * ocean.sum()))
        if target == 0:
            return guidance
        n_wet = ocean.sum(axis=0)  # (lat, lon) number of wet levels in each column
        columns = rng.permutation(np.flatnonzero(n_wet > 0))
        full = rng.random(columns.size) < self.full_depth_fraction
        bottom = depth[n_wet.flat[columns] - 1]
        max_depth = np.where(full, bottom, rng.uniform(depth[0], bottom))
        n_levels = np.searchsorted(depth, max_depth, side="right")  # levels <= max_depth
        n_levels = np.minimum(n_levels, n_wet.flat[columns])
        n_take = int(np.searchsorted(np.cumsum(n_levels), target)) + 1
        lat_idx, lon_idx = np.unravel_index(columns[:n_take], n_wet.shape)
        for i, j, n in zip(lat_idx, lon_idx, n_levels[:n_take], strict=True):
            guidance[:n, i, j] = True
        return guidance & ocean


def check_missing_rate(missing_rate, what: str = "missing rate") -> float:
    """Return ``missing_rate`` as a float, or raise if it is not in [0, 1)."""
    try:
        rate = float(missing_rate)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number in [0, 1), got {missing_rate!r}") from None
    if not 0.0 <= rate < 1.0:
        raise InputError(f"{what} must be in [0, 1) (a fraction of ocean cells, 0.925 = 92.5 % "
                         f"missing), got {missing_rate!r}")
    return rate


@dataclass(frozen=True)
class MaskSpec:
    """A mask kind, a missing rate in [0, 1), a seed and the kind's parameters."""

    kind: str
    missing_rate: float
    seed: int = 0
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        MASK_KINDS.get(self.kind)
        object.__setattr__(self, "missing_rate", check_missing_rate(self.missing_rate))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise InputError(f"mask seed must be an integer, got {self.seed!r}")

    def rng(self, sample: int) -> np.random.Generator:
        """The generator for sample ``sample``: a function of (kind, rate, seed, sample)."""
        kind_code = zlib.crc32(self.kind.encode())
        rate_code = int(round(self.missing_rate * 1_000_000))
        return np.random.default_rng([int(self.seed), kind_code, rate_code, int(sample)])

    def make_kind(self) -> MaskKind:
        """The kind's instance built from :attr:`params`, with a clear error on bad ones."""
        return MASK_KINDS.make(self.kind, **self.params)

    def build_with_report(self, grid: Grid, n_samples: int, times=None,
                          observed: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Guidance mask (n_samples, depth, lat, lon) bool and the fallback count.

        ``times`` (n_samples,) are the samples' time stamps (needed by kinds that
        follow real observations). ``observed`` (n_samples, depth, lat, lon) bool
        marks where a gappy truth exists; guidance is drawn among those ocean
        cells only (None: every ocean cell). The count is the number of (sample,
        level) pairs that had drawable cells but no guidance point and received
        one random guidance point.
        """
        kind = self.make_kind()
        masks = np.zeros((n_samples, *grid.shape), dtype=bool)
        n_fallback = 0
        for i in range(n_samples):
            rng = self.rng(i)
            time = None if times is None else times[i]
            drawable = grid.ocean if observed is None else grid.ocean & observed[i]
            masks[i] = kind.draw(drawable, self.missing_rate, rng, grid.depth, grid=grid,
                                 time=time) & drawable
            empty = drawable.any(axis=(1, 2)) & ~masks[i].any(axis=(1, 2))
            for k in np.flatnonzero(empty):
                masks[i, k].flat[rng.choice(np.flatnonzero(drawable[k]))] = True
                n_fallback += 1
        return masks, n_fallback

    def build(self, grid: Grid, n_samples: int, times=None,
              observed: np.ndarray | None = None) -> np.ndarray:
        """Guidance mask (n_samples, depth, lat, lon) bool; see :meth:`build_with_report`."""
        return self.build_with_report(grid, n_samples, times, observed)[0]
