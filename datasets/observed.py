"""Mask kinds from real observing systems: ``positions`` and ``clouds``.

- ``positions``: the positions of real profiles, from an Argo GDAC profile index
  (``ar_index_global_prof.txt`` format: ``#`` header lines, then CSV
  ``file,date,latitude,longitude,...`` with dates as ``YYYYMMDDhhmmss``) or from
  EN4 profile files (``EN.4.2.2.f.profiles.*.nc``: ``LATITUDE``, ``LONGITUDE``,
  ``JULD`` in days since 1950-01-01, ``DEPH_CORR`` per level). For each sample
  the profiles of its month are taken, each is snapped to the nearest surface
  ocean cell of the grid (great-circle; profiles farther than 1.5 cells from
  any ocean cell are dropped), and its column is observed from the surface down
  to ``max_depth`` (m), or to the profile's own deepest level for EN4 files.
  When the month's profiles cover more than ``(1 - missing rate)`` of the ocean
  cells, profiles are dropped in a seeded random order until they do not; no
  profile is ever invented.
- ``clouds``: spatially correlated gaps for surface fields: a Gaussian random
  field smoothed over ``scale_deg`` degrees, the ``(1 - missing rate)`` share of
  ocean columns with the lowest values being clear (observed), every level of a
  clear column observed.

Both are reproducible from the mask seed (through the generator the mask spec
hands to :meth:`MaskKind.draw`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from reconbench.datasets.cf import open_file, resolve_paths
from reconbench.datasets.clouds import grid_spacing, lowest, smooth
from reconbench.datasets.grid import Grid, unit_vectors
from reconbench.datasets.masks import MaskKind, register_mask_kind
from reconbench.errors import InputError

ARGO_COLUMNS = ("file", "date", "latitude", "longitude")


@functools.lru_cache(maxsize=8)
def read_argo_index(path: Path) -> pd.DataFrame:
    """Profiles of an Argo GDAC index: columns time (datetime64), lat, lon, max_depth (NaN)."""
    try:
        table = pd.read_csv(path, comment="#", dtype={"date": str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{str(path)!r} could not be read as an Argo profile index: "
                         f"{exc}") from None
    missing = [c for c in ARGO_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{str(path)!r} is not an Argo profile index: no column(s) "
                         f"{missing}; expected a header line {','.join(ARGO_COLUMNS)},...")
    time = pd.to_datetime(table["date"], format="%Y%m%d%H%M%S", errors="coerce")
    profiles = pd.DataFrame({"time": time, "lat": table["latitude"], "lon": table["longitude"],
                             "max_depth": np.nan})
    return profiles.dropna(subset=["time", "lat", "lon"]).reset_index(drop=True)


def read_en4_profiles(path: Path) -> pd.DataFrame:
    """Profiles of an EN4 profile file: time, lat, lon and deepest observed depth (m)."""
    ds = open_file(path)
    needed = ("LATITUDE", "LONGITUDE", "JULD", "DEPH_CORR")
    missing = [v for v in needed if v not in ds.variables]
    if missing:
        raise InputError(f"{str(path)!r} is not an EN4 profile file: no variable(s) {missing}; "
                         f"variables in the file: {', '.join(map(str, ds.variables))}")
    days = ds["JULD"].values.astype(float)
    depth = ds["DEPH_CORR"].values.astype(float)
    lat, lon = ds["LATITUDE"].values.astype(float), ds["LONGITUDE"].values.astype(float)
    ds.close()
    max_depth = np.fmax.reduce(np.where(depth > 0, depth, np.nan), axis=1)  # NaN if none
    time = np.datetime64("1950-01-01", "ns") + (days * 86400e9).astype("timedelta64[ns]")
    profiles = pd.DataFrame({"time": time, "lat": lat, "lon": lon, "max_depth": max_depth})
    return profiles.dropna(subset=["lat", "lon"])


@register_mask_kind("positions")
class Positions(MaskKind):
    """Columns at real profile positions of the sample's month (Argo index or EN4 profiles).

    Parameters
    ----------
    index : an Argo index file, or EN4 profile files (a glob or a list); relative
        paths are also looked up in the shared-data folder.
    max_depth : deepest observed level in m for profiles without their own depth.
    match : ``"month"`` (profiles of the sample's year and month) or
        ``"calendar_month"`` (of its calendar month in any year, for climatologies).
    """

    def __init__(self, index: str = "argo_index_sample.txt", max_depth: float = 2000.0,
                 match: str = "month"):
        if match not in ("month", "calendar_month"):
            raise InputError(f"positions mask parameter match must be 'month' or "
                             f"'calendar_month', got {match!r}")
        self.index, self.max_depth, self.match = index, float(max_depth), match
        paths = resolve_paths(index)
        tables = [read_en4_profiles(p) if p.suffix == ".nc" else read_argo_index(p)
                  for p in paths]
        self.profiles = pd.concat(tables, ignore_index=True)

    def month_profiles(self, time) -> pd.DataFrame:
        """The profiles of ``time``'s month (or calendar month)."""
        if time is None:
            raise InputError("the positions mask needs the time of each sample")
        stamp = pd.Timestamp(time)
        times = self.profiles["time"].dt
        keep = times.month == stamp.month
        if self.match == "month":
            keep &= times.year == stamp.year
        return self.profiles[keep.to_numpy()]

    def draw(self, ocean, missing_rate, rng, depth, grid: Grid | None = None, time=None):
        guidance = np.zeros_like(ocean)
        profiles = self.month_profiles(time)
        cells, max_depth = snap_to_ocean(grid, ocean[0], profiles)
        target = int(round((1.0 - missing_rate) * ocean.sum()))
        observed = 0
        for k in rng.permutation(cells.size):
            i, j = np.unravel_index(cells[k], ocean.shape[1:])
            bottom = max_depth[k] if np.isfinite(max_depth[k]) else self.max_depth
            new = ocean[:, i, j] & (depth <= bottom) & ~guidance[:, i, j]
            if observed + new.sum() > target:
                break
            observed += int(new.sum())
            guidance[:, i, j] |= new
        return guidance


def snap_to_ocean(grid: Grid, surface: np.ndarray, profiles: pd.DataFrame
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Flat (lat, lon) indices of the surface ocean cells nearest each profile, and the
    profiles' deepest depths (m, NaN when unknown); profiles over 1.5 cells from the
    ocean are dropped."""
    if grid is None:
        raise InputError("the positions mask needs the grid of each sample")
    ocean_cells = np.flatnonzero(surface)
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    tree = cKDTree(unit_vectors(lat2.ravel()[ocean_cells], lon2.ravel()[ocean_cells]))
    distance, nearest = tree.query(unit_vectors(profiles["lat"].to_numpy(),
                                                profiles["lon"].to_numpy()))
    spacing = np.deg2rad(np.median(np.diff(grid.lat)) if grid.lat.size > 1 else 1.0)
    close = distance <= 1.5 * spacing
    return ocean_cells[nearest[close]], profiles["max_depth"].to_numpy()[close]


@register_mask_kind("clouds")
class Clouds(MaskKind):
    """Spatially correlated gaps: clear columns where a smooth random field is lowest.

    Parameters
    ----------
    scale_deg : correlation scale of the gaps in degrees (Gaussian smoothing sigma).
    """

    def __init__(self, scale_deg: float = 5.0):
        if scale_deg <= 0:
            raise InputError(f"clouds mask parameter scale_deg must be > 0, got {scale_deg!r}")
        self.scale_deg = float(scale_deg)

    def draw(self, ocean, missing_rate, rng, depth, grid: Grid | None = None, time=None):
        surface = ocean.any(axis=0)
        field = smooth(rng.standard_normal(surface.shape), self.scale_deg, grid_spacing(grid))
        clear = lowest(field, surface, int(round((1.0 - missing_rate) * surface.sum())))
        return ocean & clear[None]
