"""Gridded guidance of an observing-system experiment: a gappy gridded field's observed cells.

An OSE suite may name a gridded field in ``[observations.guidance]`` (a cloudy
satellite SST product, a sparse gridded product, any CF file): its observed
(finite) cells join the point super-observations as guidance, never as truth.
The table holds a dataset source's parameters (as a ``[[datasets]]`` table;
``name`` defaults to ``"netcdf"``) and two keys of its own:

- ``split``: the split whose time steps are guidance, or ``"all"`` (the
  default) for every time step of the source's splits;
- ``levels``: the OSE grid depths (m) the guidance's levels stand for, one per
  level (a surface SST product given as the 10 m level: ``levels = [10.0]``);
  by default each guidance level must be a level of the OSE grid (within 0.5 m).

The guidance must be on the OSE dataset's horizontal grid (regrid it with the
source's own ``grid`` parameter). Each month of the OSE takes the mean of the
guidance time steps in that calendar month; cells off the OSE grid's ocean are
dropped.

**Independence.** Withheld values never reach guidance: the gridded field is
read from its own files, never from the observation table. A gridded product
may however have ingested the withheld platforms themselves (an objective
analysis of Argo would hand a withheld float's values straight back). So in
each scored month, no gridded guidance is kept in any cell a withheld point of
that month is scored from: the 2 × 2 cells around it used by the bilinear
interpolation (and the cell that holds it), at every level
(:func:`reconbench.benchmark.ose.scoring_cells`). Those dropped cells are counted. The guidance's
influence on cells further away remains: use a product that did not ingest the
withheld platforms (satellite SST for an Argo OSE, not an Argo-based analysis).
Where a super-observation and gridded guidance share a cell, the
super-observation is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reconbench.datasets.build import make_source
from reconbench.datasets.grid import Grid
from reconbench.datasets.source import SPLITS
from reconbench.datasets.times import describe_times
from reconbench.errors import ConfigError, InputError

OWN_KEYS = ("split", "levels")
LEVEL_TOLERANCE_M = 0.5


def parse_guidance(raw, origin: str) -> dict:
    """The ``[observations.guidance]`` table, checked; ``name`` and ``split`` filled in."""
    if not isinstance(raw, dict) or "paths" not in raw:
        raise ConfigError(f"{origin}: [observations.guidance] must be a table of a dataset "
                          f"source's parameters with 'paths' (a gridded field), got {raw!r}")
    config = {"name": "netcdf", "split": "all", **raw}
    if config["split"] not in ("all", *SPLITS):
        raise ConfigError(f"{origin}: [observations.guidance] split must be 'all', 'train', "
                          f"'val' or 'test', got {config['split']!r}")
    levels = config.get("levels")
    if levels is not None and (not isinstance(levels, list) or not levels
                               or not all(isinstance(x, int | float) for x in levels)):
        raise ConfigError(f"{origin}: [observations.guidance] levels must be a list of depths "
                          f"in m, got {levels!r}")
    return config


@dataclass
class GriddedGuidance:
    """A gridded field's observed cells on an OSE grid, by month.

    ``months`` (n,) datetime64[ns] month starts, ascending; ``values`` (n, depth,
    lat, lon) float32 °C on the OSE grid, NaN where the field was not observed,
    off the ocean, and on grid levels the guidance does not cover; ``label`` names
    the field's files for messages.
    """

    label: str
    months: np.ndarray
    values: np.ndarray

    def span(self) -> str:
        return describe_times(self.months)

    def for_months(self, months: np.ndarray) -> np.ndarray:
        """(m, depth, lat, lon) guidance of the month starts ``months`` (m,); all NaN for a
        month the field does not have."""
        out = np.full((len(months), *self.values.shape[1:]), np.nan, np.float32)
        where = np.searchsorted(self.months, months)
        found = (where < self.months.size) & (
            self.months[np.minimum(where, self.months.size - 1)] == months)
        out[found] = self.values[where[found]]
        return out

    def check_span(self, times: np.ndarray, files: list[str]) -> None:
        """An :class:`InputError` naming the observation files, their time range and this
        field's span when any observation time ``times`` (n,) falls outside the span."""
        first = np.datetime64(np.min(times), "M")
        last = np.datetime64(np.max(times), "M")
        if first < self.months[0].astype("datetime64[M]") or (
                last > self.months[-1].astype("datetime64[M]")):
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3
                                            else "")
            raise InputError(f"observations {shown} run from {np.datetime64(np.min(times), 'D')} "
                             f"to {np.datetime64(np.max(times), 'D')}, outside the span of the "
                             f"gridded guidance {self.label} ({self.span()}); expected "
                             f"observation times within it: name guidance that covers them or "
                             f"observations inside its span")


def load_guidance(config: dict, grid: Grid) -> GriddedGuidance:
    """The gridded guidance of ``config`` (see :func:`parse_guidance`) on the OSE ``grid``."""
    params = {k: v for k, v in config.items() if k not in ("name", *OWN_KEYS)}
    source = make_source(config["name"], **params)
    label = repr(str(config["paths"]))
    what = f"gridded guidance {label}"
    g = source.grid
    if (g.lat.shape != grid.lat.shape or g.lon.shape != grid.lon.shape
            or not np.allclose(g.lat, grid.lat) or not np.allclose(g.lon, grid.lon)):
        raise InputError(f"{what} is on a {g.lat.size} x {g.lon.size} grid (lat {g.lat[0]:g}.."
                         f"{g.lat[-1]:g}, lon {g.lon[0]:g}..{g.lon[-1]:g}); expected the OSE "
                         f"dataset's {grid.lat.size} x {grid.lon.size} grid (lat "
                         f"{grid.lat[0]:g}..{grid.lat[-1]:g}, lon {grid.lon[0]:g}.."
                         f"{grid.lon[-1]:g}): set the guidance's grid parameter to match")
    targets = _target_levels(config.get("levels"), g.depth, grid.depth, what)
    splits = SPLITS if config["split"] == "all" else (config["split"],)
    fields = [source.split(s) for s in splits if source.split_times(s).size]
    if not fields:
        raise InputError(f"{what} has no time step in its {' or '.join(splits)} split; "
                         f"expected a field with time steps")
    data = np.concatenate([np.asarray(f.values, np.float64) for f in fields])
    months = np.concatenate([f["time"].values for f in fields]).astype("datetime64[M]")
    keys = np.unique(months)
    values = np.full((keys.size, *grid.shape), np.nan, np.float32)
    for t, month in enumerate(keys):
        with np.errstate(invalid="ignore"):
            # mean of the month's time steps where any is finite
            steps = data[months == month]
            count = np.isfinite(steps).sum(axis=0)
            mean = np.where(count > 0, np.nansum(steps, axis=0) / np.maximum(count, 1), np.nan)
        values[t, targets] = mean
    values[:, ~grid.ocean] = np.nan
    return GriddedGuidance(label, keys.astype("datetime64[ns]"), values)


def _target_levels(levels, source_depth: np.ndarray, depth: np.ndarray, what: str) -> np.ndarray:
    """Index of the OSE grid level each guidance level stands for."""
    given = source_depth if levels is None else np.asarray(levels, np.float64)
    if given.size != source_depth.size:
        raise InputError(f"{what}: levels {list(levels)} give {given.size} depths for its "
                         f"{source_depth.size} levels; expected one depth per level")
    index = np.abs(given[:, None] - depth[None]).argmin(axis=1)
    off = np.abs(depth[index] - given) > LEVEL_TOLERANCE_M
    if off.any():
        raise InputError(f"{what}: level(s) at {', '.join(f'{d:g}' for d in given[off])} m "
                         f"are not levels of the OSE grid ({', '.join(f'{d:g}' for d in depth)}"
                         f" m); expected its levels, or set levels = [...] to say which grid "
                         f"depths they stand for")
    if np.unique(index).size != index.size:
        raise InputError(f"{what}: two of its levels stand for the same OSE grid level; "
                         f"expected one level of guidance per grid level")
    return index
