"""Point observations brought to a grid: super-observations per cell, level and month.

Two steps (:func:`superobs`):

1. **Each profile to the grid's levels** (:func:`profiles_on_levels`): a
   profile's values are interpolated linearly in depth to the grid levels that
   lie inside the depths it sampled, ``[shallowest, deepest]``; no level outside
   that range gets a value (no extrapolation). The error of an interpolated
   value, with weights ``w`` and ``1 - w`` on the two bracketing points of
   errors ``s1`` and ``s2``, is ``sqrt(w² s1² + (1 - w)² s2²)``.
2. **Super-observations**: the profile values falling in one grid cell (the
   cell whose edges, midway between cell centres, enclose the profile's
   position), one level and one calendar month are combined into

   - ``mean`` = Σ x_i / n (°C),
   - ``count`` = n (profiles),
   - ``std`` = sqrt(Σ (x_i - mean)² / n) (°C, population standard deviation, 0
     for one profile): the spread inside the cell, a measure of representation
     error,
   - ``error_variance`` = Σ s_i² / n² (°C²): the variance of the mean of n
     independent measurements of errors s_i.

Profile values at a level where the cell is land (or below the sea floor) are
dropped and counted; profiles outside the grid (beyond the outermost cell
edges; never in longitude for a global grid, where longitude wraps) are dropped
and counted. :meth:`SuperObservations.report` says so in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from reconbench.datasets.grid import Grid
from reconbench.datasets.points import ObservationTable
from reconbench.errors import InputError


def profiles_on_levels(table: ObservationTable, levels: np.ndarray) -> pd.DataFrame:
    """Each profile interpolated to the ``levels`` (m) inside its sampled depth range.

    Returns one row per (profile, level) with columns ``profile``, ``level``
    (index into ``levels``), ``value`` (°C), ``error`` (°C), ``time``, ``lat``,
    ``lon``, ``platform``.
    """
    levels = np.asarray(levels, dtype=np.float64)
    d = table.data
    if d.empty:
        return pd.DataFrame(columns=["profile", "level", "value", "error", "time", "lat",
                                     "lon", "platform"])
    profile = d["profile"].to_numpy()
    starts = np.flatnonzero(np.r_[True, profile[1:] != profile[:-1]])
    ends = np.r_[starts[1:], profile.size]
    depth, value, error = (d[c].to_numpy(np.float64) for c in ("depth", "value", "error"))
    out_p, out_k, out_v, out_e = [], [], [], []
    for s, e in zip(starts, ends, strict=True):
        z = depth[s:e]
        inside = np.flatnonzero((levels >= z[0]) & (levels <= z[-1]))
        if inside.size == 0:
            continue
        target = levels[inside]
        upper = np.clip(np.searchsorted(z, target, side="left"), 1, max(z.size - 1, 1))
        if z.size == 1:  # one sample: only a level exactly at its depth
            out_p.append(np.full(inside.size, s))
            out_k.append(inside)
            out_v.append(np.full(inside.size, value[s]))
            out_e.append(np.full(inside.size, error[s]))
            continue
        lower = upper - 1
        w = (z[upper] - target) / (z[upper] - z[lower])  # weight of the lower point
        out_p.append(np.full(inside.size, s))
        out_k.append(inside)
        out_v.append(w * value[s + lower] + (1 - w) * value[s + upper])
        out_e.append(np.hypot(w * error[s + lower], (1 - w) * error[s + upper]))
    if not out_p:
        first = np.empty(0, dtype=np.int64)
        rows = first
        levels_idx = first
        values = errors = np.empty(0)
    else:
        rows = np.concatenate(out_p)
        levels_idx = np.concatenate(out_k)
        values, errors = np.concatenate(out_v), np.concatenate(out_e)
    return pd.DataFrame({"profile": profile[rows], "level": levels_idx, "value": values,
                         "error": errors, "time": d["time"].to_numpy()[rows],
                         "lat": d["lat"].to_numpy()[rows], "lon": d["lon"].to_numpy()[rows],
                         "platform": d["platform"].to_numpy()[rows]})


def cell_index(grid: Grid, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray]:
    """Grid cell (i_lat, j_lon) of each position, and a bool array True where the position
    lies outside the grid (its indices are then meaningless)."""
    lat, lon = np.asarray(lat, np.float64), np.mod(np.asarray(lon, np.float64), 360.0)
    lat_edges = _edges(grid.lat)
    i = np.searchsorted(lat_edges, lat, side="right") - 1
    outside = (lat < lat_edges[0]) | (lat > lat_edges[-1])
    if is_global(grid):
        # distance in longitude to each centre, wrapped: nearest centre is the cell
        centres = np.r_[grid.lon - 360.0, grid.lon, grid.lon + 360.0]
        edges = _edges(centres)
        j = (np.searchsorted(edges, lon, side="right") - 1) % grid.lon.size
    else:
        lon_edges = _edges(grid.lon)
        j = np.searchsorted(lon_edges, lon, side="right") - 1
        outside |= (lon < lon_edges[0]) | (lon > lon_edges[-1])
    i = np.clip(i, 0, grid.lat.size - 1)
    j = np.clip(j, 0, grid.lon.size - 1)
    return i, j, outside


def is_global(grid: Grid) -> bool:
    """True when the grid's longitudes go round the globe (spacing times count = 360°)."""
    if grid.lon.size < 2:
        return False
    spacing = np.diff(grid.lon)
    return bool(np.allclose(spacing, spacing[0]) and abs(spacing[0] * grid.lon.size - 360) < 1e-6)


def _edges(centres: np.ndarray) -> np.ndarray:
    mid = (centres[1:] + centres[:-1]) / 2
    first = centres[0] - (mid[0] - centres[0]) if centres.size > 1 else centres[0] - 0.5
    last = centres[-1] + (centres[-1] - mid[-1]) if centres.size > 1 else centres[-1] + 0.5
    return np.r_[first, mid, last]


def month_start(time) -> np.ndarray:
    """The first instant of each time's calendar month, datetime64[ns]."""
    return np.asarray(time).astype("datetime64[M]").astype("datetime64[ns]")


def month_stamp(month) -> np.ndarray:
    """The time stamp given to a month's super-observations: the 15th, 00:00."""
    return (np.asarray(month).astype("datetime64[M]").astype("datetime64[D]")
            + np.timedelta64(14, "D")).astype("datetime64[ns]")


@dataclass
class SuperObservations:
    """Super-observations on a grid, stored sparsely: one row of ``table`` per observed
    (month, level, cell).

    ``table`` columns: ``month`` (index into ``times``), ``level``, ``i_lat``,
    ``i_lon`` (indices into the grid's axes), ``mean`` and ``std`` (°C),
    ``count`` (profiles), ``error_variance`` (°C²). ``times`` (n_month,) are the
    month stamps (the 15th). ``n_land`` counts profile values dropped on land or
    below the sea floor, ``n_outside`` profiles outside the grid, ``n_profiles``
    and ``n_points`` what went in. :meth:`dense` gives the arrays (month, depth,
    lat, lon), NaN (count 0) where nothing was observed.
    """

    grid: Grid
    times: np.ndarray
    table: pd.DataFrame
    n_land: int
    n_outside: int
    n_profiles: int
    n_points: int

    def dense(self, name: str, months=None) -> np.ndarray:
        """Column ``name`` as an array (month, depth, lat, lon) for the month indices
        ``months`` (default: all); float32 with NaN, or int32 zeros for ``count``."""
        months = np.arange(self.times.size) if months is None else np.asarray(months)
        fill, dtype = (0, np.int32) if name == "count" else (np.nan, np.float32)
        out = np.full((months.size, *self.grid.shape), fill, dtype=dtype)
        position = np.full(self.times.size, -1)
        position[months] = np.arange(months.size)
        t = position[self.table["month"].to_numpy()]
        rows = t >= 0
        sel = self.table[rows]
        out[t[rows], sel["level"].to_numpy(), sel["i_lat"].to_numpy(),
            sel["i_lon"].to_numpy()] = sel[name].to_numpy()
        return out

    def field(self, months=None) -> xr.DataArray:
        """The guidance a method sees: ``mean`` as a field (time, depth, lat, lon) in °C,
        NaN where nothing was observed; ``months`` as in :meth:`dense`."""
        months = np.arange(self.times.size) if months is None else np.asarray(months)
        return self.grid.field(self.dense("mean", months), self.times[months])

    def report(self) -> str:
        """One line: what went in, how many super-observations came out, what was dropped."""
        return (f"{self.n_points} points in {self.n_profiles} profiles -> {len(self.table)} "
                f"super-observations in {self.times.size} months; dropped {self.n_land} "
                f"profile values on land or below the sea floor and {self.n_outside} profiles "
                f"outside the grid")


def superobs(table: ObservationTable, grid: Grid, months=None,
             require_points: bool = True) -> SuperObservations:
    """Super-observations of ``table`` on ``grid``, per calendar month.

    ``months`` (datetime64, any day of the month) selects and orders the months
    to produce (a month without observations has no row); by default every
    month with observations, in order. ``require_points``: an
    :class:`InputError` when every point is on land or outside the grid.
    """
    on_levels = profiles_on_levels(table, grid.depth)
    if months is None:
        month_keys = np.unique(month_start(table.data["time"].to_numpy()))
    else:
        month_keys = np.unique(month_start(np.asarray(months)))
    i, j, outside = cell_index(grid, on_levels["lat"].to_numpy(), on_levels["lon"].to_numpy())
    n_outside = int(on_levels.loc[outside, "profile"].nunique())
    k = on_levels["level"].to_numpy()
    land = ~outside & ~grid.ocean[k, i, j]
    n_land = int(land.sum())
    if require_points and len(on_levels) and not (~outside & ~land).any():
        raise InputError(f"every observation lies on land, below the sea floor or outside the "
                         f"grid {grid!r} ({n_land} profile values on land, {n_outside} profiles "
                         f"outside); expected ocean positions inside the grid")
    month = month_start(on_levels["time"].to_numpy())
    t = np.searchsorted(month_keys, month)
    t_ok = (t < month_keys.size) & (month_keys[np.minimum(t, month_keys.size - 1)] == month)
    keep = ~outside & ~land & t_ok
    x = on_levels["value"].to_numpy()[keep]
    frame = pd.DataFrame({"month": t[keep], "level": k[keep], "i_lat": i[keep],
                          "i_lon": j[keep], "x": x, "x2": x * x,
                          "s2": on_levels["error"].to_numpy()[keep] ** 2})
    g = frame.groupby(["month", "level", "i_lat", "i_lon"], sort=True)
    agg = g.agg(count=("x", "size"), total=("x", "sum"), total2=("x2", "sum"),
                s2=("s2", "sum")).reset_index()
    n = agg["count"].to_numpy(np.float64)
    mean = agg["total"].to_numpy() / n
    # centred second moment from the raw sums; clipped at 0 against rounding
    var = np.maximum(agg["total2"].to_numpy() / n - mean ** 2, 0.0)
    out = pd.DataFrame({"month": agg["month"].to_numpy(np.int64),
                        "level": agg["level"].to_numpy(np.int64),
                        "i_lat": agg["i_lat"].to_numpy(np.int64),
                        "i_lon": agg["i_lon"].to_numpy(np.int64),
                        "mean": mean, "count": agg["count"].to_numpy(np.int32),
                        "std": np.sqrt(var), "error_variance": agg["s2"].to_numpy() / n ** 2})
    return SuperObservations(grid=grid, times=month_stamp(month_keys), table=out,
                             n_land=n_land, n_outside=n_outside, n_profiles=table.n_profiles,
                             n_points=len(table))
