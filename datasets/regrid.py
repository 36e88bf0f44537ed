"""Bringing native fields onto a target :class:`~reconbench.datasets.grid.Grid`.

Native data are points: ``values`` (..., n_points) with their latitudes and
longitudes (n_points,) in degrees, from a regular grid (flattened) or a
curvilinear one (2-D ``lat``/``lon`` flattened); depths (n_src_levels,) in
metres, positive down. The regridding goes vertical first, then horizontal.

Vertical (:class:`VerticalInterpolator`): linear interpolation in depth between
the two source levels around each target level. A target level is ocean in a
column only where both of those source levels are ocean, so nothing is made up
below the sea floor. A target level shallower than the first source level
takes the first level's value (the mixed layer); target levels deeper than the
deepest source level are dropped by :func:`target_depths`.

Horizontal (:class:`HorizontalBinning`): every source cell centre falls in one
target cell. A target cell is ocean when the ocean part of the centres inside it
carries at least ``min_ocean_fraction`` of their cos(latitude) weight (default
0.5, the rule used for the built-in land mask); its value is the
cos(latitude)-weighted mean of the ocean values inside it, so only real ocean
temperatures enter the mean. This is first-order conservative when the target
is coarser and aligned (1° → 2°). A target cell that holds no source centre
(target finer than the source, or a gap in a curvilinear grid) takes the value
and the land/ocean status of the nearest source centre (great-circle). Source
ocean cells that end up inside target land cells are counted and reported
(:attr:`HorizontalBinning.lost_ocean`); with ``min_ocean_fraction = 0`` every
target cell with any ocean centre is ocean and no source ocean cell is lost.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from reconbench.datasets.grid import EN4_DEPTHS, Grid, regular_axes, unit_vectors
from reconbench.errors import InputError

#: EN4.2.2's horizontal grid: 1°, 173 latitudes from -83 to 89 °N, 360 longitudes
#: (1 .. 360 °E in the files; 360 °E is written 0 °E here).
EN4_LAT = np.arange(-83.0, 89.5, 1.0)
EN4_LON = np.arange(0.0, 360.0, 1.0)


class RegridWarning(UserWarning):
    """Something about a regridding the user should know (finer target, lost ocean)."""


@dataclass(frozen=True)
class Extent:
    """A latitude-longitude box in degrees: ``south`` < ``north`` (°N); ``west`` < ``east``
    (°E, in the frame the longitudes are written in, e.g. -6 .. 4), or both None for
    every longitude."""

    south: float
    north: float
    west: float | None = None
    east: float | None = None

    @property
    def global_lon(self) -> bool:
        return self.west is None

    def __str__(self) -> str:
        lon = ("all longitudes" if self.global_lon
               else f"lon {self.west:g} .. {self.east:g} °E")
        return f"lat {self.south:g} .. {self.north:g} °N, {lon}"

    def contains(self, other: Extent, tolerance: float = 1e-6) -> bool:
        """True when ``other`` lies inside this box."""
        if other.south < self.south - tolerance or other.north > self.north + tolerance:
            return False
        if self.global_lon:
            return True
        if other.global_lon:
            return False
        west = self.west + np.mod(other.west - self.west + tolerance, 360.0) - tolerance
        return west + (other.east - other.west) <= self.east + tolerance

    def lon_in_frame(self, lon: np.ndarray) -> np.ndarray:
        """Longitudes written in this box's frame ([west, west + 360)), or in [0, 360)."""
        lon = np.asarray(lon, dtype=np.float64)
        if self.global_lon:
            return np.round(np.mod(lon, 360.0), 9) % 360.0
        return np.round(self.west + np.mod(lon - self.west, 360.0), 9)


def source_extent(lat: np.ndarray, lon: np.ndarray) -> Extent:
    """The box covered by source cells with centres ``lat``, ``lon`` (n_y, n_x) degrees
    (a regular grid's axes as a mesh, or a curvilinear grid's 2-D coordinates).

    Each centre stands for a cell of the median spacing along the grid's rows and
    columns. The longitudes are global when no gap between neighbouring centres
    exceeds 1.5 spacings; else the box starts east of the widest gap, written as
    the file writes that longitude (shifted by -360 ° if the box would end past
    360 °E).
    """
    lat, lon = np.atleast_2d(lat).astype(float), np.atleast_2d(lon).astype(float)

    def spacing(values, axis):
        steps = np.abs(np.diff(values, axis=axis))
        steps = np.minimum(steps, 360.0 - steps)[np.isfinite(steps)]
        steps = steps[steps > 1e-9]
        return float(np.median(steps)) if steps.size else 1.0

    dlat = max(spacing(lat, 0), spacing(lat, 1) if lat.shape[0] == 1 else 0.0)
    dlon = max(spacing(lon, 1), spacing(lon, 0) if lon.shape[1] == 1 else 0.0)
    ok = np.isfinite(lat) & np.isfinite(lon)
    lat, lon = lat[ok], lon[ok]
    south, north = max(-90.0, lat.min() - dlat / 2), min(90.0, lat.max() + dlat / 2)
    ulon = np.unique(np.round(np.mod(lon, 360.0), 9) % 360.0)
    steps = np.diff(np.concatenate([ulon, [ulon[0] + 360.0]]))
    widest = int(np.argmax(steps))
    if steps[widest] <= 1.5 * dlon + 1e-9:
        return Extent(float(south), float(north))
    start, end = ulon[(widest + 1) % ulon.size], ulon[widest]
    west = float(lon[np.argmin(np.abs(np.mod(lon - start + 180.0, 360.0) - 180.0))])
    east = west + float(np.mod(end - start, 360.0))
    if east + dlon / 2 > 360.0:
        west, east = west - 360.0, east - 360.0
    return Extent(float(south), float(north), west - dlon / 2, east + dlon / 2)


def region(lat_range, lon_range, source: Extent, what: str) -> Extent:
    """The requested box (``lat_range`` = [south, north], ``lon_range`` = [west, east],
    either None for the source's), which must lie inside the ``source`` extent."""
    def pair(value, label, low, high):
        ok = (isinstance(value, (list, tuple)) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
              and low <= value[0] < value[1] <= high)
        if not ok:
            ends = "south, north" if label == "lat_range" else "west, east"
            raise InputError(f"dataset parameter {label} must be [{ends}] degrees with the "
                             f"first below the second, got {value!r}")
        return float(value[0]), float(value[1])

    if lat_range is None and lon_range is None:
        return source
    south, north = (pair(lat_range, "lat_range", -90.0, 90.0) if lat_range is not None
                    else (source.south, source.north))
    west, east = (pair(lon_range, "lon_range", -360.0, 720.0) if lon_range is not None
                  else (source.west, source.east))
    if west is not None and east - west > 360.0:
        raise InputError(f"dataset parameter lon_range spans more than 360 degrees: "
                         f"{lon_range!r}")
    wanted = Extent(south, north, west, east)
    if not source.contains(wanted):
        raise InputError(f"the requested region ({wanted}) extends outside the extent of "
                         f"{what} ({source}); request a region inside it")
    return wanted


def target_axes(grid, native_lat: np.ndarray, native_lon: np.ndarray, curvilinear: bool,
                extent: Extent | None = None, what: str = "the source"
                ) -> tuple[np.ndarray, np.ndarray, str]:
    """Target (lat (n_lat,), lon (n_lon,), name) from a suite's ``grid`` parameter.

    ``grid`` is ``"native"`` (the source's own regular axes, sorted: latitude
    ascending, longitude wrapped into [0, 360); ``native_lat``/``native_lon`` are
    the source's (n_points,) cell centres), a resolution in degrees (the cells of
    a global regular grid, see :func:`regular_axes`), ``"en4"`` (EN4.2.2's 1°
    grid) or a :class:`Grid` (another dataset's grid).

    Only target cells whose centre lies inside ``extent`` (the source's,
    :func:`source_extent`; None: the globe) are kept, so a regional source gives a regional grid,
    its longitudes in the box's own frame (e.g. -5.5 .. 3.5 °E); a target with no
    cell inside is an error naming both extents (``what`` names the source).
    """
    extent = extent or Extent(-90.0, 90.0)
    if isinstance(grid, Grid):
        lat, lon, name = grid.lat, grid.lon, grid.name or "grid"
    elif isinstance(grid, str) and grid.lower() == "en4":
        lat, lon, name = EN4_LAT, EN4_LON, "en4"
    elif isinstance(grid, str) and grid.lower() == "native":
        if curvilinear:
            raise InputError("the source is on a curvilinear grid; set the dataset parameter "
                             "grid to a resolution in degrees (e.g. 1.0) or 'en4'")
        lat, lon, name = np.unique(native_lat), np.unique(native_lon), "native"
    elif isinstance(grid, (int, float)) and not isinstance(grid, bool):
        lat, lon = regular_axes(float(grid))
        name = f"{float(grid):g}deg"
    else:
        raise InputError(f"grid must be 'native', 'en4', a resolution in degrees or a Grid, "
                         f"got {grid!r}")
    cover = (f"lat {lat.min():g} .. {lat.max():g} °N, lon {lon.min():g} .. {lon.max():g} °E "
             f"(cell centres)")
    lat = lat[(lat >= extent.south - 1e-9) & (lat <= extent.north + 1e-9)]
    lon = np.unique(extent.lon_in_frame(lon))
    if not extent.global_lon:
        lon = lon[lon <= extent.east + 1e-9]
    if lat.size == 0 or lon.size == 0:
        raise InputError(f"the target grid {name!r} ({cover}) does not overlap the extent of "
                         f"{what} ({extent}); choose a grid or region that covers the source")
    return lat, lon, name


def target_depths(depths, source_depth: np.ndarray) -> np.ndarray:
    """Target levels (m, positive down) from a ``depths`` parameter.

    ``depths`` is None (the source's levels), ``"en4"`` (the 42 EN4 levels) or a
    list of depths in metres. Levels deeper than the deepest source level are
    dropped with a warning: no value could be given to them. A surface field
    (one source level) keeps its level whatever ``depths`` says.
    """
    if depths is None or source_depth.size == 1:
        return np.asarray(source_depth, dtype=np.float64)
    wanted = EN4_DEPTHS if isinstance(depths, str) and depths.lower() == "en4" else depths
    wanted = np.asarray(wanted, dtype=np.float64)
    if wanted.ndim != 1 or wanted.size == 0 or np.any(np.diff(wanted) <= 0):
        raise InputError(f"depths must be 'en4' or an ascending list of depths in metres, "
                         f"got {depths!r}")
    kept = wanted[wanted <= source_depth[-1] + 1e-6]
    if kept.size < wanted.size:
        warnings.warn(f"{wanted.size - kept.size} target levels below the deepest source level "
                      f"({source_depth[-1]:g} m) are dropped", RegridWarning, stacklevel=2)
    if kept.size == 0:
        raise InputError(f"no target level lies within the source's depth range "
                         f"({source_depth[0]:g}-{source_depth[-1]:g} m)")
    return kept


class VerticalInterpolator:
    """Linear interpolation from source levels to target levels, column by column.

    ``source`` (n_src,) and ``target`` (n_tgt,) are depths in metres, ascending,
    every target level no deeper than the last source level.
    """

    def __init__(self, source: np.ndarray, target: np.ndarray):
        source, target = np.asarray(source, float), np.asarray(target, float)
        self.identity = source.size == target.size and np.allclose(source, target)
        upper = np.clip(np.searchsorted(source, target, side="right") - 1, 0, source.size - 1)
        lower = np.minimum(upper + 1, source.size - 1)
        span = source[lower] - source[upper]
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(span > 0, (target - source[upper]) / span, 0.0)
        self.upper, self.lower = upper, lower
        self.weight = np.clip(weight, 0.0, 1.0)[:, None]  # 0 above the first source level

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """(time, n_src, n_points) → (time, n_tgt, n_points); NaN (land, sea floor) spreads
        to every target level that needs it."""
        if self.identity:
            return values
        upper, lower = values[:, self.upper], values[:, self.lower]
        blended = upper + self.weight * (lower - upper)
        return np.where(self.weight == 0.0, upper, blended).astype(np.float32)


@dataclass
class HorizontalBinning:
    """Source points → a regular target grid by bin averaging; see the module docstring.

    ``src_lat``, ``src_lon`` (n_points,) degrees; ``lat`` (n_lat,), ``lon`` (n_lon,)
    the target cell centres (ascending, lon in [0, 360)).
    """

    src_lat: np.ndarray
    src_lon: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    min_ocean_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_ocean_fraction <= 1.0:
            raise InputError(f"min_ocean_fraction must be in [0, 1], got "
                             f"{self.min_ocean_fraction!r}")
        n_cells = self.lat.size * self.lon.size
        valid = np.isfinite(self.src_lat) & np.isfinite(self.src_lon) & (np.abs(self.src_lat)
                                                                           <= 90)
        self.cell = np.full(self.src_lat.size, -1)
        i = _bin(self.src_lat[valid], self.lat, periodic=False)
        if self.periodic:
            j = _bin(np.mod(self.src_lon[valid], 360.0), self.lon, periodic=True)
        else:  # a regional target: source longitudes in its frame, cells outside dropped
            step = self.lon[1] - self.lon[0] if self.lon.size > 1 else 360.0
            west = self.lon[0] - step / 2
            j = _bin(west + np.mod(self.src_lon[valid] - west, 360.0), self.lon, periodic=False,
                     clip=None)
        inside = (i >= 0) & (j >= 0)
        self.cell[np.flatnonzero(valid)[inside]] = i[inside] * self.lon.size + j[inside]
        self.weight = np.where(self.cell >= 0, np.cos(np.deg2rad(np.nan_to_num(self.src_lat))),
                               0.0)
        used = self.cell >= 0
        counts = np.bincount(self.cell[used], minlength=n_cells)
        self.empty = np.flatnonzero(counts == 0)
        if self.empty.size:
            tree = cKDTree(unit_vectors(self.src_lat[used], self.src_lon[used]))
            lat2, lon2 = np.meshgrid(self.lat, self.lon, indexing="ij")
            targets = unit_vectors(lat2.ravel()[self.empty], lon2.ravel()[self.empty])
            self.nearest = np.flatnonzero(used)[tree.query(targets)[1]]
        self.lost_ocean = 0

    @property
    def periodic(self) -> bool:
        """True when the target longitudes go round the globe (evenly spaced over 360°)."""
        if self.lon.size < 2:
            return False
        span = self.lon[-1] - self.lon[0]
        return bool(span * self.lon.size / (self.lon.size - 1) >= 360.0 - 1e-6)

    @property
    def used_points(self) -> np.ndarray:
        """(n_points,) bool: the source centres that fall in a target cell."""
        return self.cell >= 0

    @property
    def finer_than_source(self) -> bool:
        """True when some target cells hold no source centre (they copy the nearest)."""
        return self.empty.size > 0

    def ocean_mask(self, wet: np.ndarray) -> np.ndarray:
        """Target ocean mask (n_levels, n_lat, n_lon) from the source's (n_levels, n_points)
        bool ocean mask. Sets :attr:`lost_ocean`: source ocean centres in target land cells."""
        wet_weight = self._sum(wet.astype(np.float64))
        all_weight = self._sum(np.ones((1, wet.shape[-1])))
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = wet_weight / all_weight
        ocean = (wet_weight > 0) & (fraction >= self.min_ocean_fraction - 1e-12)
        if self.empty.size:
            ocean[:, self.empty] = wet[:, self.nearest]
        used = self.used_points
        self.lost_ocean = int((wet[:, used] & ~ocean[:, self.cell[used]]).sum())
        return ocean.reshape(-1, self.lat.size, self.lon.size)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """(time, n_levels, n_points) → (time, n_levels, n_lat, n_lon) float32; the weighted
        mean of the finite values in each target cell, NaN where there is none."""
        lead = values.shape[:-1]
        flat = values.reshape(-1, values.shape[-1])
        finite = np.isfinite(flat)
        total = self._sum(np.where(finite, flat, 0.0))
        weight = self._sum(finite.astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = total / weight
        if self.empty.size:
            out[:, self.empty] = flat[:, self.nearest]
        return out.reshape(*lead, self.lat.size, self.lon.size).astype(np.float32)

    def _sum(self, values: np.ndarray) -> np.ndarray:
        """Weighted sums per target cell: (rows, n_points) → (rows, n_cells)."""
        n_cells = self.lat.size * self.lon.size
        used = self.cell >= 0
        rows = values.shape[0]
        index = (np.arange(rows)[:, None] * n_cells + self.cell[used][None]).ravel()
        sums = np.bincount(index, weights=(values[:, used] * self.weight[used]).ravel(),
                           minlength=rows * n_cells)
        return sums.reshape(rows, n_cells)


def _bin(x: np.ndarray, centres: np.ndarray, periodic: bool, clip=(-90.0, 90.0)
         ) -> np.ndarray:
    """Index of the target cell holding each coordinate in ``x`` (-1 outside the grid).

    Cell edges are halfway between centres; the outer edges lie half a spacing
    beyond the first and last centres (clipped to ``clip``, ±90° for latitude). In
    longitude around the globe (``periodic``) the first and last cells meet across
    0/360 °E.
    """
    if centres.size == 1:
        return np.zeros(x.size, int)
    edges = np.concatenate([[centres[0] - (centres[1] - centres[0]) / 2],
                            (centres[1:] + centres[:-1]) / 2,
                            [centres[-1] + (centres[-1] - centres[-2]) / 2]])
    if periodic:
        x = np.where(x < edges[0], x + 360.0, x)
        index = np.searchsorted(edges, x, side="right") - 1
        return np.where(index >= centres.size, index - centres.size, index) % centres.size
    if clip is not None:
        edges[0], edges[-1] = max(edges[0], clip[0]), min(edges[-1], clip[1])
    index = np.searchsorted(edges, x, side="right") - 1
    index[x == edges[-1]] = centres.size - 1
    return np.where((index >= 0) & (index < centres.size), index, -1)
