"""Generic CF NetCDF / Zarr source: one variable from one or many files, as users have it.

Coordinates are found by their CF attributes (``standard_name``, ``units``,
``axis``, ``positive``, through cf-xarray) and, failing those, by cf-xarray's
name hints (``lat``, ``nav_lat``, ``lev``, ``depth``, ``Z`` ...), never by one
fixed name. What is normalised, file by file:

- latitude in any order; longitude in -180..180, 0..360 or wrapping past 360;
  1-D (regular) or 2-D (curvilinear) latitude/longitude;
- depth in m or cm, positive down or up (made m, positive down); a variable
  without a depth axis is a surface field with one level at 0 m;
- temperature in K or °C (made °C; the file's units are kept in the field's
  ``source_units`` attribute); ``_FillValue``/``missing_value`` become NaN;
- time in any cftime calendar (``noleap``, ``360_day`` ...), stamped as
  datetime64 with the same year, month and day (the day clipped to the month's
  length); a climatological axis (12 months of year 0 or 1, a month number 1-12,
  or a ``climatology``/``modulo`` attribute) is stamped in
  :data:`CLIMATOLOGY_YEAR` and split by months; a variable without a time axis
  is one time step, January of :data:`CLIMATOLOGY_YEAR`.

Files of one source must share one native grid (else an error names the file);
they are joined along time and regridded with :mod:`reconbench.datasets.regrid`.

Splits: each of train / val / test is set by years (``[first, last]``,
inclusive) and/or calendar months (a list of 1-12). A split with neither is
empty, except train, which then takes every time step not in val or test.
Splits must not overlap.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import cftime
import numpy as np
import xarray as xr

from reconbench.datasets.checks import CELSIUS_RANGE, KELVIN_LOOKING
from reconbench.datasets.grid import Grid
from reconbench.datasets.regrid import (
    Extent,
    HorizontalBinning,
    RegridWarning,
    VerticalInterpolator,
    region,
    source_extent,
    target_axes,
    target_depths,
)
from reconbench.datasets.source import SPLITS, DatasetSource, register_source
from reconbench.datasets.times import describe_times, format_stamp, time_resolution
from reconbench.errors import InputError


@functools.cache
def units_registry():
    """cf-xarray's pint registry (pint with CF / UDUNITS names), imported on first use
    (about 0.7 s); its import logs pint's "Redefining" notices, kept quiet."""
    logger = logging.getLogger("pint.util")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from cf_xarray.units import units
    finally:
        logger.setLevel(level)
    return units


#: Year in which the months of a climatological time axis are stamped.
CLIMATOLOGY_YEAR = 2000

#: Standard names tried, in order, when no variable is named.
TEMPERATURE_NAMES = ("sea_water_potential_temperature", "sea_water_temperature",
                     "sea_surface_temperature", "sea_water_conservative_temperature")

#: UDUNITS spellings that cf-xarray's pint registry does not know (lower case, blanks
#: as underscores), and the pint unit each means.
UDUNITS_SPELLINGS = {"degrees_c": "degC", "degree_c": "degC", "degs_c": "degC",
                     "degrees_k": "K", "degree_k": "K", "degs_k": "K", "kelvin": "K",
                     "degree_kelvin": "K", "degrees_kelvin": "K", "degrees_celsius": "degC",
                     "degree_celsius": "degC", "celsius": "degC", "deg_k": "K", "degk": "K"}
LENGTH = {"m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
          "cm": 0.01, "centimeter": 0.01, "centimeters": 0.01, "centimetre": 0.01,
          "centimetres": 0.01, "km": 1000.0}

#: Time steps read from a file at once (bounds memory for large 3-D files).
READ_CHUNK = 12


class DataWarning(UserWarning):
    """Something odd about the input the user should know (assumed units ...)."""


# -- finding and opening files ----------------------------------------------------
def shared_data_dir() -> Path:
    """``$RECONBENCH_SHARED_DATA``, else ``../shared/data`` relative to the working folder."""
    return Path(os.environ.get("RECONBENCH_SHARED_DATA") or Path("..") / "shared" / "data")


def resolve_paths(paths) -> list[Path]:
    """Files (or Zarr stores) named by a glob, a path or a list of either, sorted.

    A relative pattern is looked up in the working folder, then in
    :func:`shared_data_dir`. Raises :class:`InputError` naming both places when
    nothing matches.
    """
    patterns = [paths] if isinstance(paths, (str, Path)) else list(paths or [])
    if not patterns:
        raise InputError("dataset parameter paths is empty; expected a file, a glob or a list")
    found = []
    for pattern in map(str, patterns):
        roots = [Path("")] if Path(pattern).is_absolute() else [Path(""), shared_data_dir()]
        matches = []
        for root in roots:
            matches = sorted(glob.glob(str(root / pattern)))
            if matches:
                break
        if not matches:
            where = " or ".join(str(r.resolve()) for r in roots)
            raise InputError(f"no file matches {pattern!r} (looked in {where}; set "
                             f"RECONBENCH_SHARED_DATA to the folder holding the data)")
        found.extend(Path(m) for m in matches)
    return found


def open_file(path: Path) -> xr.Dataset:
    """Open a NetCDF file or Zarr store lazily, times left as numbers (decoded later)."""
    if not path.exists():
        raise InputError(f"file {str(path)!r} does not exist")
    try:
        if path.is_dir():
            return xr.open_zarr(path, decode_times=False)
        with open(path, "rb") as fh:  # scipy checks a classic file's length; NetCDF-C reads
            classic = fh.read(3) == b"CDF"  # a truncated one with zeros for the missing part
        return xr.open_dataset(path, decode_times=False, engine="scipy" if classic else None)
    except Exception as exc:  # each backend raises its own types
        raise InputError(f"{str(path)!r} could not be read as NetCDF or Zarr (not such a file, "
                         f"or truncated): {type(exc).__name__}: {exc}") from None


def find_variable(ds: xr.Dataset, variable: str | None, path: Path) -> xr.DataArray:
    """The data variable called ``variable`` or with that ``standard_name``.

    With ``variable=None`` the first of :data:`TEMPERATURE_NAMES` present is used.
    """
    wanted = [variable] if variable else list(TEMPERATURE_NAMES)
    for name in wanted:
        if name in ds.data_vars:
            return ds[name]
        by_standard_name = [v for v in ds.data_vars if ds[v].attrs.get("standard_name") == name]
        if by_standard_name:
            return ds[by_standard_name[0]]
    listing = ", ".join(f"{v} ({ds[v].attrs.get('standard_name', 'no standard_name')})"
                        for v in ds.data_vars) or "none"
    what = (f"variable {variable!r} (by name or standard_name)" if variable
            else f"variable with a standard_name in {TEMPERATURE_NAMES}")
    raise InputError(f"{str(path)!r} has no {what}; variables in the file: {listing}")


# -- the layout of one file ---------------------------------------------------------
@dataclass
class Layout:
    """Where things are in one file's variable, and its native grid.

    ``lat``, ``lon``: (n_points,) degrees of the flattened horizontal grid;
    ``shape2d``: its (n_y, n_x) shape, ``curvilinear`` when lat/lon are 2-D;
    ``depth``: (n_levels,) m positive down (``[0.]`` for a surface field);
    ``times``: (n_time,) datetime64[ns]; ``dims``: the variable's dims in the
    order (time, depth, y, x), None for absent ones; ``file_dims``: the
    variable's dims in the file's order. °C = ``scale`` × value + ``offset``;
    ``source_units`` are the file's own units (``"none"`` when it declares
    none), ``units_override`` the units the user said to read instead.
    ``standard_name`` is the variable's own CF standard name; without one,
    ``sea_surface_temperature`` for a field without depth, else
    ``sea_water_temperature`` (potential or in situ is not known).
    """

    path: Path
    variable: str
    dims: tuple
    file_dims: tuple
    lat: np.ndarray
    lon: np.ndarray
    shape2d: tuple[int, int]
    curvilinear: bool
    depth: np.ndarray
    depth_flip: bool
    times: np.ndarray
    climatological: bool
    scale: float
    offset: float
    source_units: str
    units_override: str | None = None
    standard_name: str = "sea_water_temperature"

    @property
    def what(self) -> str:
        return f"variable {self.variable!r} of {str(self.path)!r}"

    @property
    def units_read(self) -> str:
        """The units the values are read in (the override, else the file's)."""
        return self.units_override or self.source_units

    def same_grid(self, other: Layout) -> bool:
        """True when both files have the same native horizontal grid and levels."""
        return (self.shape2d == other.shape2d and self.depth.shape == other.depth.shape
                and np.allclose(self.lat, other.lat, equal_nan=True)
                and np.allclose(self.lon, other.lon, equal_nan=True)
                and np.allclose(self.depth, other.depth))

    @property
    def extent(self) -> Extent:
        """The box the file's cells cover (:func:`~regrid.source_extent`)."""
        return source_extent(self.lat.reshape(self.shape2d), self.lon.reshape(self.shape2d))

    def cell(self, level: int, point: int) -> str:
        """A native cell written for messages: depth, latitude and longitude."""
        return (f"depth {self.depth[level]:g} m, lat {self.lat[point]:g}, "
                f"lon {self.lon[point]:g}")


def read_layout(path: Path, variable: str | None, units: str | None = None) -> Layout:
    """Open ``path`` and work out the layout of its temperature variable."""
    ds = open_file(path)
    try:
        return _layout(ds, path, variable, units)
    finally:
        ds.close()


def _layout(ds: xr.Dataset, path: Path, variable: str | None, units: str | None) -> Layout:
    """The :class:`Layout` of the temperature variable of the open dataset ``ds``."""
    da = find_variable(ds, variable, path)
    guessed = ds.cf.guess_coord_axis()
    what = f"variable {da.name!r} of {str(path)!r}"
    lat_name, lon_name = (_horizontal(guessed, da, key, what) for key in ("latitude", "longitude"))
    lat, lon = ds[lat_name], ds[lon_name]
    curvilinear = lat.ndim == 2
    if curvilinear:
        y_dim, x_dim = lat.dims
        lat2, lon2 = lat.values, lon.transpose(*lat.dims).values
    else:
        y_dim, x_dim = lat.dims[0], lon.dims[0]
        lat2, lon2 = np.meshgrid(lat.values, lon.values, indexing="ij")
    time_dim = _axis_dim(guessed, da, "T", "time")
    depth_dim = _axis_dim(guessed, da, "Z", "vertical")
    dims = (time_dim, depth_dim, y_dim, x_dim)
    others = [d for d in da.dims if d not in dims and da.sizes[d] > 1]
    if others:
        raise InputError(f"{what} has dimension(s) {others} that are not time, depth, latitude "
                         f"or longitude; expected dims like (time, depth, lat, lon)")
    if time_dim is None:  # a static field: one climatological time step
        times, climatological = _stamps(CLIMATOLOGY_YEAR, np.array([1]), np.array([15])), True
    else:
        times, climatological = decode_times(ds[time_dim], path)
        check_times(times, f"time coordinate {time_dim!r} of {str(path)!r}")
    depth, flip = (np.array([0.0]), False) if depth_dim is None else depth_metres(
        ds[depth_dim], path)
    file_units = da.attrs.get("units")
    given = units or file_units
    scale, offset = celsius_conversion(given, what if not units else
                                       f"the units override {units!r} for {what}")
    return Layout(path=path, variable=str(da.name), dims=dims,
                  file_dims=tuple(str(d) for d in da.dims if d in dims),
                  lat=lat2.ravel().astype(float), lon=lon2.ravel().astype(float),
                  shape2d=lat2.shape, curvilinear=curvilinear, depth=depth, depth_flip=flip,
                  times=times, climatological=climatological, scale=scale, offset=offset,
                  source_units=str(file_units) if file_units is not None else "none",
                  units_override=units,
                  standard_name=str(da.attrs.get("standard_name") or (
                      "sea_surface_temperature" if depth_dim is None
                      else "sea_water_temperature")))


def _horizontal(ds: xr.Dataset, da: xr.DataArray, key: str, what: str) -> str:
    """Name of the latitude or longitude coordinate (1-D or 2-D) spanning dims of ``da``."""
    candidates = [n for n in ds.cf.coordinates.get(key, [])
                  if set(ds[n].dims) <= set(da.dims) and ds[n].ndim in (1, 2)]
    if not candidates:
        raise InputError(f"could not identify the {key} coordinate of {what} (dims {da.dims}, "
                         f"variables {list(ds.variables)}): expected standard_name {key!r}, "
                         f"units 'degrees_{'north' if key == 'latitude' else 'east'}' or a name "
                         f"such as {'lat/nav_lat' if key == 'latitude' else 'lon/nav_lon'}")
    return candidates[0]


def _axis_dim(ds: xr.Dataset, da: xr.DataArray, axis: str, coordinate: str) -> str | None:
    """The dim of ``da`` that is CF axis ``axis`` (or coordinate ``coordinate``), if any."""
    names = ds.cf.axes.get(axis, []) + ds.cf.coordinates.get(coordinate, [])
    for name in names:
        if name in da.dims:
            return name
    return None


def decode_times(coord: xr.DataArray, path: Path) -> tuple[np.ndarray, bool]:
    """(n,) datetime64[ns] stamps of a time coordinate and whether it is climatological.

    Dates keep their hours and minutes (hourly and daily data); a day that does not
    exist in the proleptic Gregorian calendar (30 February of ``360_day``) is clipped
    to the month's last day.
    """
    units = str(coord.attrs.get("units", ""))
    calendar = str(coord.attrs.get("calendar", "standard"))
    values = np.asarray(coord.values)
    if "since" not in units:
        months = values.astype(float)
        if np.all(np.isin(months, np.arange(1, 13))):
            return _stamps(CLIMATOLOGY_YEAR, months.astype(int), np.full(months.size, 15)), True
        raise InputError(f"time coordinate {coord.name!r} of {str(path)!r} has units {units!r}; "
                         f"expected 'UNITS since DATE' or month numbers 1-12")
    if not np.all(np.isfinite(values.astype(float))):
        raise InputError(f"time coordinate {coord.name!r} of {str(path)!r} has missing or "
                         f"infinite values; expected a time stamp for every step")
    try:
        dates = cftime.num2date(values, units, calendar, only_use_cftime_datetimes=True)
    except ValueError:  # a reference year 0 (Ferret's climatologies) needs has_year_zero
        try:
            with warnings.catch_warnings():  # cftime: "year zero ... not supported by CF"
                warnings.simplefilter("ignore")
                dates = cftime.num2date(values, units, calendar, only_use_cftime_datetimes=True,
                                        has_year_zero=True)
        except ValueError as exc:
            raise InputError(f"time coordinate {coord.name!r} of {str(path)!r} cannot be "
                             f"decoded (units {units!r}, calendar {calendar!r}): {exc}") from None
    dates = np.atleast_1d(dates)
    years = np.array([d.year for d in dates])
    months = np.array([d.month for d in dates])
    days = np.array([d.day for d in dates])
    seconds = np.array([d.hour * 3600 + d.minute * 60 + d.second for d in dates])
    climatological = bool(np.all(years <= 1) or "climatology" in coord.attrs
                          or "modulo" in coord.attrs)
    if climatological:
        years = np.full(years.size, CLIMATOLOGY_YEAR)
    return _stamps(years, months, days, seconds), climatological


def _stamps(years, months, days, seconds=0) -> np.ndarray:
    """datetime64[ns] from year, month, day (clipped to the month's length) and second-of-day
    arrays."""
    month_start = (np.asarray(years) - 1970) * 12 + np.asarray(months) - 1
    start = np.asarray(month_start).astype("datetime64[M]")
    length = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(int)
    day = np.minimum(np.asarray(days), length) - 1
    stamps = (start.astype("datetime64[D]") + day.astype("timedelta64[D]")).astype(
        "datetime64[s]") + np.asarray(seconds).astype("timedelta64[s]")
    shape = np.broadcast(years, months, days, seconds).shape
    return np.broadcast_to(stamps, shape).astype("datetime64[ns]")


def check_times(times: np.ndarray, what: str) -> None:
    """Check that (n,) datetime64 ``times`` strictly increase; one line naming the first
    repeated or out-of-order stamp and its step otherwise."""
    if times.size < 2:
        return
    steps = np.diff(times)
    bad = np.flatnonzero(steps <= np.timedelta64(0, "ns"))
    if bad.size:
        k = int(bad[0])
        resolution = time_resolution(times)
        problem = ("repeats" if times[k + 1] == times[k] else "goes back to")
        raise InputError(f"{what} {problem} {format_stamp(times[k + 1], resolution)} at time "
                         f"step {k + 1} (step {k} is {format_stamp(times[k], resolution)}); "
                         f"expected strictly increasing times")


def depth_metres(coord: xr.DataArray, path: Path) -> tuple[np.ndarray, bool]:
    """Depths in m, positive down, ascending, and whether the file's order was reversed."""
    units = str(coord.attrs.get("units", "")).strip().lower()
    if units not in LENGTH:
        raise InputError(f"depth coordinate {coord.name!r} of {str(path)!r} has units "
                         f"{coord.attrs.get('units')!r}; expected m or cm")
    depth = np.asarray(coord.values, dtype=np.float64) * LENGTH[units]
    positive = str(coord.attrs.get("positive", "")).lower()
    if positive == "up" or (positive != "down" and np.all(depth <= 0)):
        depth = -depth
    flip = depth.size > 1 and depth[0] > depth[-1]
    depth = depth[::-1] if flip else depth
    if np.any(np.diff(depth) <= 0) or depth[0] < -1e-6:
        raise InputError(f"depth coordinate {coord.name!r} of {str(path)!r} is not monotonic "
                         f"or not below the surface: {depth}")
    return np.maximum(depth, 0.0), flip


def celsius_conversion(units: str | None, what: str) -> tuple[float, float]:
    """(scale, offset) with °C = scale × value + offset for values in ``units``.

    ``units`` as files write them ('degC', 'degree_Celsius', 'degree Celsius',
    'degrees_C', 'Celsius', 'K', 'kelvin', 'degF' ...) is read with cf-xarray's
    pint registry; the UDUNITS spellings pint lacks (:data:`UDUNITS_SPELLINGS`)
    are mapped first. No units: °C, with a warning (values that look like
    kelvin are then refused when the data are checked).
    """
    if units is None:
        warnings.warn(f"{what} declares no units; assuming degrees Celsius (set the dataset "
                      f"parameter units, or --units, to override)", DataWarning, stacklevel=3)
        return 1.0, 0.0
    text = "_".join(str(units).split())
    text = UDUNITS_SPELLINGS.get(text.lower(), text)
    try:
        quantity = units_registry().Quantity
        zero = quantity(0.0, text).to("degC").magnitude
        one = quantity(1.0, text).to("degC").magnitude
    except Exception:  # pint raises its own parse, definition and dimensionality errors
        raise InputError(f"{what} has units {units!r}, which is not a temperature unit that "
                         f"cf-xarray's pint registry knows; expected e.g. 'degC', "
                         f"'degree_Celsius', 'K' or 'kelvin' (set the dataset parameter units, "
                         f"or --units, to override)") from None
    return float(one - zero), float(zero)


# -- reading -----------------------------------------------------------------------
def read_native(layout: Layout, time_index: np.ndarray) -> np.ndarray:
    """Values at ``time_index`` as (time, n_levels, n_points) float32 °C, NaN for fill.

    Values are returned as read (an infinity stays one): :func:`scan_files` checks
    every time step before any is used.
    """
    ds = open_file(layout.path)
    da = ds[layout.variable]
    time_dim, depth_dim = layout.dims[:2]
    order = [d for d in layout.dims if d is not None]
    da = da.squeeze([d for d in da.dims if d not in order]).transpose(*order)
    try:
        if time_dim is None:
            values = da.values.astype(np.float32)[None][np.asarray(time_index)]
        else:
            values = da.isel({time_dim: np.asarray(time_index)}).values.astype(np.float32)
    except Exception as exc:
        raise InputError(f"could not read variable {layout.variable!r} from "
                         f"{str(layout.path)!r} (truncated or damaged file?): "
                         f"{type(exc).__name__}: {exc}") from None
    finally:
        ds.close()
    if depth_dim is None:
        values = values[:, None]
    elif layout.depth_flip:
        values = values[:, ::-1]
    values = values.reshape(values.shape[0], values.shape[1], -1)
    if layout.scale != 1.0 or layout.offset != 0.0:
        values = values * np.float32(layout.scale) + np.float32(layout.offset)
    return values


def check_values(values: np.ndarray, layout: Layout, time_index: np.ndarray) -> None:
    """Check (time, n_levels, n_points) °C values read at ``time_index`` of ``layout``:
    no infinity, nothing outside :data:`~checks.CELSIUS_RANGE`; kelvin read as °C gets
    its own message. One line naming file, variable, date and cell."""
    bad = np.isinf(values)
    with np.errstate(invalid="ignore"):
        bad |= (values < CELSIUS_RANGE[0]) | (values > CELSIUS_RANGE[1])
    if not bad.any():
        return
    t, k, n = (int(i) for i in np.argwhere(bad)[0])
    value = float(values[t, k, n])
    where = (f"at {format_stamp(layout.times[time_index[t]], time_resolution(layout.times))}, "
             f"{layout.cell(k, n)}")
    if np.isinf(value):
        raise InputError(f"{layout.what} has an infinite value {where}; expected finite "
                         f"temperatures, with NaN (or the fill value) for land or missing data")
    kelvin_units = layout.scale == 1.0 and layout.offset == -273.15
    if not kelvin_units and KELVIN_LOOKING[0] <= value <= KELVIN_LOOKING[1]:
        declared = ("declares no units" if layout.units_read == "none"
                    else f"is read in {layout.units_read!r}")
        raise InputError(f"{layout.what} {declared} but its value {value:.2f} {where} looks "
                         f"like kelvin; set the units attribute or the dataset parameter "
                         f"units (--units) to 'K'")
    raise InputError(f"{layout.what} has the value {value:g} °C {where}; sea-water "
                     f"temperatures lie within {CELSIUS_RANGE[0]:g} .. {CELSIUS_RANGE[1]:g} "
                     f"°C (read in {layout.units_read!r}: wrong units or fill values?)")


@dataclass
class WetCells:
    """Where the native cells of files on one grid are finite: ``every`` time step and
    ``some`` time step, each (n_levels, n_points) bool."""

    every: np.ndarray
    some: np.ndarray


def scan_files(layouts: list[Layout], complete: bool) -> WetCells:
    """Check every time step of ``layouts`` (one native grid, in time order), reading
    :data:`READ_CHUNK` steps at a time so memory stays bounded.

    Each chunk goes through :func:`check_values`; with ``complete``, a cell finite at
    some steps and NaN at others (a gap inside the ocean) is an error naming the file,
    the date it is NaN, the cell and a date it is finite.
    """
    shape = (layouts[0].depth.size, layouts[0].lat.size)
    every, some = np.ones(shape, bool), np.zeros(shape, bool)
    first_nan = np.full(shape, -1, np.int64)
    first_finite = np.full(shape, -1, np.int64)
    where = []  # (layout, first global step) of each file
    step = 0
    for layout in layouts:
        where.append((layout, step))
        for start in range(0, layout.times.size, READ_CHUNK):
            index = np.arange(start, min(start + READ_CHUNK, layout.times.size))
            values = read_native(layout, index)
            check_values(values, layout, index)
            finite = np.isfinite(values)
            for local, row in enumerate(finite):
                first_nan[(first_nan < 0) & ~row] = step + start + local
                first_finite[(first_finite < 0) & row] = step + start + local
            every &= finite.all(axis=0)
            some |= finite.any(axis=0)
            if complete and (some & ~every).any():
                raise_gap(where, some & ~every, first_nan, first_finite)
        step += layout.times.size
    return WetCells(every, some)


def raise_gap(where: list, gaps: np.ndarray, first_nan: np.ndarray,
              first_finite: np.ndarray) -> None:
    """The error for the first cell of ``gaps`` (n_levels, n_points): NaN at one date and
    finite at another."""
    k, n = (int(i) for i in np.argwhere(gaps)[0])

    def stamp(step: int) -> tuple[Layout, str]:
        layout, first = [(lay, s) for lay, s in where if s <= step][-1]
        return layout, format_stamp(layout.times[step - first], time_resolution(layout.times))

    layout, nan_at = stamp(int(first_nan[k, n]))
    _, finite_at = stamp(int(first_finite[k, n]))
    raise InputError(f"{layout.what} is NaN at {nan_at} at the ocean cell {layout.cell(k, n)}, "
                     f"which is finite at {finite_at}: a gap inside the ocean; expected "
                     f"complete fields (NaN only over land and below the sea floor), or set "
                     f"the dataset parameter gappy = true for data with gaps")


# -- splits -----------------------------------------------------------------------
def year_range(value, label: str) -> tuple[int, int] | None:
    if value is None:
        return None
    pair = [value, value] if isinstance(value, int) else list(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair) or pair[0] > pair[1]:
        raise InputError(f"dataset parameter {label} must be a year or [first, last] years, "
                         f"got {value!r}")
    return pair[0], pair[1]


def month_list(value, label: str) -> list[int] | None:
    if value is None:
        return None
    months = list(value)
    if not months or not all(isinstance(m, int) and 1 <= m <= 12 for m in months):
        raise InputError(f"dataset parameter {label} must be a list of months 1-12, "
                         f"got {value!r}")
    return months


def date_range(value, label: str) -> tuple[np.datetime64, np.datetime64] | None:
    """[first, last] dates (ISO strings or TOML dates), inclusive, as (start, end) with
    ``end`` exclusive: a date without a time includes that whole day."""
    if value is None:
        return None
    try:
        first, last = (np.datetime64(str(v).replace(" ", "T")) for v in value)
        if len(value) != 2:
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(f"dataset parameter {label} must be [first, last] dates such as "
                         f"['2000-01-01', '2000-01-07'], got {value!r}") from None
    end = last + np.timedelta64(1, "D") if np.datetime_data(last.dtype)[0] in ("D", "M", "Y") \
        else last + np.timedelta64(1, "ns")
    if end.astype("datetime64[ns]") <= first.astype("datetime64[ns]"):
        raise InputError(f"dataset parameter {label} must have its first date before its last, "
                         f"got {value!r}")
    return first.astype("datetime64[ns]"), end.astype("datetime64[ns]")


def fraction_selection(n: int, fractions) -> dict[str, np.ndarray]:
    """(n,) bool selections from ``split_fractions`` = [train, val, test] shares of the
    time steps in time order (train first)."""
    ok = (isinstance(fractions, (list, tuple)) and len(fractions) == 3
          and all(isinstance(f, (int, float)) and not isinstance(f, bool) and f >= 0
                  for f in fractions) and sum(fractions) <= 1.0 + 1e-9)
    if not ok:
        raise InputError(f"dataset parameter split_fractions must be [train, val, test] "
                         f"shares of the time steps, each >= 0, summing to at most 1, got "
                         f"{fractions!r}")
    edges = np.concatenate([[0], np.round(np.cumsum(fractions) * n).astype(int)])
    steps = np.arange(n)
    return {s: (steps >= edges[i]) & (steps < edges[i + 1]) for i, s in enumerate(SPLITS)}


def split_selection(times: np.ndarray, years: dict, months: dict,
                    extra: dict | None = None, dates: dict | None = None
                    ) -> dict[str, np.ndarray]:
    """Boolean selection (n_time,) of each split.

    ``years[split]`` is (first, last) or None, ``months[split]`` a list or None,
    ``dates[split]`` a (start, end) of :func:`date_range` or None, ``extra[split]`` an
    optional further (n_time,) bool filter (e.g. members).
    """
    extra, dates = extra or {}, dates or {}
    year = times.astype("datetime64[Y]").astype(int) + 1970
    month = times.astype("datetime64[M]").astype(int) % 12 + 1
    chosen = {}
    for split in SPLITS:
        if (years[split] is None and months[split] is None and dates.get(split) is None
                and split not in extra):
            continue
        keep = np.ones(times.size, bool)
        if years[split] is not None:
            keep &= (year >= years[split][0]) & (year <= years[split][1])
        if months[split] is not None:
            keep &= np.isin(month, months[split])
        if dates.get(split) is not None:
            keep &= (times >= dates[split][0]) & (times < dates[split][1])
        if split in extra:
            keep &= extra[split]
        chosen[split] = keep
    taken = np.zeros(times.size, bool)
    for split in ("val", "test"):
        if split in chosen:
            taken |= chosen[split]
    if "train" not in chosen:
        chosen["train"] = ~taken
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        if a in chosen and b in chosen and (chosen[a] & chosen[b]).any():
            raise InputError(f"the {a} and {b} splits share {(chosen[a] & chosen[b]).sum()} "
                             f"time steps; give them separate years, months, dates or members")
    return {s: chosen.get(s, np.zeros(times.size, bool)) for s in SPLITS}


# -- the source ------------------------------------------------------------------
class GriddedFiles:
    """Files sharing one native grid, checked, read and regridded onto a target grid.

    ``layouts`` are the files in time order; ``lat``, ``lon``, ``depth`` the
    target axes. Building it checks every time step of every file
    (:func:`scan_files`). :attr:`ocean` (depth, lat, lon) is the target ocean
    mask: the cells finite at every time step, or for ``gappy`` files (whose
    cells may be NaN where nothing was observed) the ``ocean`` given (from a
    land mask, see :func:`gappy_ocean`).
    """

    def __init__(self, layouts: list[Layout], lat: np.ndarray, lon: np.ndarray,
                 depth: np.ndarray, min_ocean_fraction: float, ocean: np.ndarray | None = None):
        self.layouts, self.depth = layouts, depth
        first = layouts[0]
        self.vertical = VerticalInterpolator(first.depth, depth)
        self.horizontal = HorizontalBinning(first.lat, first.lon, lat, lon, min_ocean_fraction)
        used = self.horizontal.used_points
        wet = scan_files(layouts, complete=ocean is None)
        if ocean is None:
            marks = np.where(wet.every, np.float32(0), np.float32(np.nan))[None]
            wet_levels = np.isfinite(self.vertical(marks))[0]
            self.ocean = self.horizontal.ocean_mask(wet_levels)
            self.source_ocean_cells = int(wet_levels[:, used].sum())
        else:
            self.ocean = ocean
            self.source_ocean_cells = int(wet.some[:, used].sum())

    @property
    def times(self) -> np.ndarray:
        """(n_time,) datetime64[ns] of all files in order."""
        return np.concatenate([lay.times for lay in self.layouts])

    def read(self, selection: np.ndarray) -> np.ndarray:
        """Regridded values (n_selected, depth, lat, lon) float32 °C for a (n_time,) bool
        selection over :attr:`times`; NaN off the target ocean."""
        out, start = [], 0
        for layout in self.layouts:
            index = np.flatnonzero(selection[start:start + layout.times.size])
            start += layout.times.size
            for chunk in range(0, index.size, READ_CHUNK):
                native = read_native(layout, index[chunk:chunk + READ_CHUNK])
                out.append(self.horizontal(self.vertical(native)))
        if not out:
            return np.empty((0, *self.ocean.shape), np.float32)
        values = np.concatenate(out)
        values[:, ~self.ocean] = np.nan
        return values


def gappy_ocean(land_mask, lat: np.ndarray, lon: np.ndarray, depth: np.ndarray,
                min_ocean_fraction: float) -> np.ndarray:
    """Target ocean mask (depth, lat, lon) of a gappy source, never from its data.

    ``land_mask`` None: the surface mask of the target axes from
    :mod:`reconbench.datasets.landmask` (global-land-mask), the same at every level.
    Else a NetCDF file whose first variable with latitude and longitude axes is
    finite and non-zero over the ocean and zero or NaN over land (a grid's
    ``ocean`` variable, a World Ocean Atlas basin mask), on its own grid: it is
    regridded like the data (2-D: the same at every level).
    """
    if land_mask is None:
        from reconbench.datasets.landmask import surface_ocean

        surface = surface_ocean(lat, lon)
        return np.broadcast_to(surface, (depth.size, *surface.shape)).copy()
    path = resolve_paths(land_mask)[0]
    ds = open_file(path)
    try:
        candidates = [v for v in ds.data_vars if ds[v].ndim >= 2]
        if not candidates:
            raise InputError(f"land mask {str(path)!r} has no variable with latitude and "
                             f"longitude axes")
        da = ds[candidates[0]]
        guessed = ds.cf.guess_coord_axis()
        what = f"variable {da.name!r} of land mask {str(path)!r}"
        lat_name, lon_name = (_horizontal(guessed, da, key, what)
                              for key in ("latitude", "longitude"))
        depth_dim = _axis_dim(guessed, da, "Z", "vertical")
        src_lat, src_lon = ds[lat_name], ds[lon_name]
        if src_lat.ndim == 1:
            lat2, lon2 = np.meshgrid(src_lat.values, src_lon.values, indexing="ij")
            horizontal = [src_lat.dims[0], src_lon.dims[0]]
        else:
            lat2, lon2, horizontal = src_lat.values, src_lon.values, list(src_lat.dims)
        order = ([depth_dim] if depth_dim else []) + horizontal
        da = da.isel({d: 0 for d in da.dims if d not in order}).transpose(*order)
        values = np.asarray(da.values, dtype=np.float64).reshape(-1 if depth_dim else 1,
                                                                 lat2.size)
        src_depth, flip = (depth_metres(ds[depth_dim], path) if depth_dim
                           else (np.array([0.0]), False))
    finally:
        ds.close()
    wet = np.isfinite(values) & (values != 0)
    if flip:
        wet = wet[::-1]
    if src_depth.size == 1:
        wet = np.broadcast_to(wet, (depth.size, wet.shape[1]))
    else:
        marks = np.where(wet, np.float32(0), np.float32(np.nan))[None]
        wet = np.isfinite(VerticalInterpolator(src_depth, depth)(marks))[0]
    binning = HorizontalBinning(lat2.ravel().astype(float), lon2.ravel().astype(float), lat, lon,
                                min_ocean_fraction)
    return binning.ocean_mask(wet)


def group_layouts(paths: list[Path], variable: str | None, units: str | None,
                  what: str) -> list[Layout]:
    """Layouts of ``paths`` sorted by first time, all on the first file's grid (else an
    error naming the file that differs), no file starting before the previous one ends."""
    layouts = sorted((read_layout(p, variable, units) for p in paths),
                     key=lambda lay: lay.times[0])
    for previous, layout in zip(layouts, layouts[1:], strict=False):
        if not layout.same_grid(layouts[0]):
            raise InputError(f"{str(layout.path)!r} is on a different grid from "
                             f"{str(layouts[0].path)!r} (shape {layout.shape2d} x "
                             f"{layout.depth.size} levels vs {layouts[0].shape2d} x "
                             f"{layouts[0].depth.size}); the files of {what} must share one grid")
        if layout.times[0] <= previous.times[-1]:
            resolution = time_resolution(previous.times)
            start = format_stamp(layout.times[0], resolution)
            end = format_stamp(previous.times[-1], resolution)
            raise InputError(f"{str(layout.path)!r} starts at {start}, not after the end of "
                             f"{str(previous.path)!r} ({end}): the files of {what} overlap in "
                             f"time (duplicated time steps)")
    return layouts


def build_target(grid, depths, layout: Layout, extent: Extent | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Target (lat, lon, depth, grid name) for a source whose first file is ``layout``,
    inside ``extent`` (default: the source's own)."""
    extent = extent or layout.extent
    lat, lon, name = target_axes(grid, layout.lat, layout.lon, layout.curvilinear, extent,
                                 layout.what)
    return lat, lon, target_depths(depths, layout.depth), name


def warn_regridding(files: GriddedFiles, what: str) -> None:
    """Warn about a finer target and about source ocean cells that fell on target land."""
    if files.horizontal.finer_than_source:
        warnings.warn(f"{what}: the target grid is finer than the source in places; "
                      f"{files.horizontal.empty.size} target cells copy the nearest source cell",
                      RegridWarning, stacklevel=3)
    if files.horizontal.lost_ocean:
        warnings.warn(f"{what}: {files.horizontal.lost_ocean} of {files.source_ocean_cells} "
                      f"source ocean cells (all levels) lie in target cells that are mostly land "
                      f"and are not used (min_ocean_fraction="
                      f"{files.horizontal.min_ocean_fraction:g})", RegridWarning, stacklevel=3)


@register_source("netcdf")
class CFSource(DatasetSource):
    """Any CF NetCDF file(s) or Zarr store of sea temperature, regridded to a regular grid.

    Parameters
    ----------
    paths : a file, a glob or a list of them (relative ones are also looked up in
        ``$RECONBENCH_SHARED_DATA``, else ``../shared/data``); one native grid.
    variable : variable name or CF standard_name; default: the first variable
        whose standard_name is one of :data:`TEMPERATURE_NAMES`.
    units : read the values in these units instead of the file's (any temperature
        unit of cf-xarray's pint registry: 'K', 'degC', 'degrees_C' ...).
    grid : 'native', 'en4' or a resolution in degrees (see :mod:`regrid`); only
        cells inside the source's extent (or ``lat_range``/``lon_range``) are kept.
    depths : None (the source's levels), 'en4' or a list of depths in m.
    min_ocean_fraction : ocean share of a target cell needed to call it ocean.
    lat_range, lon_range : [south, north] °N and [west, east] °E of a regional grid,
        inside the source's extent (west may be negative: [-6, 4] crosses 0 °E).
    train_years, val_years, test_years : [first, last] years (inclusive) or a year.
    train_months, val_months, test_months : lists of calendar months 1-12.
    train_dates, val_dates, test_dates : [first, last] dates (inclusive), e.g.
        ['2000-01-01', '2000-01-07'], for daily or hourly data.
    split_fractions : [train, val, test] shares of the time steps in time order,
        instead of years, months and dates.
    train_paths : files of a separate training source (same variable), regridded
        onto this source's grid; their time steps (filtered by ``train_*``) are the
        train split.
    gappy : True when the data have gaps (NaN at ocean cells that were not
        observed): the completeness check is skipped and the ocean mask comes from
        ``land_mask``.
    land_mask : with ``gappy``, a NetCDF file of the ocean (see
        :func:`gappy_ocean`); None: the grid's land mask from global-land-mask.

    A source with one time step and no split parameter puts it in the test split
    (a snapshot or annual climatology benchmarked by methods that need no training).
    """

    def __init__(self, paths, variable: str | None = None, units: str | None = None,
                 grid="native", depths=None, min_ocean_fraction: float = 0.5,
                 lat_range=None, lon_range=None,
                 train_years=None, val_years=None, test_years=None,
                 train_months=None, val_months=None, test_months=None,
                 train_dates=None, val_dates=None, test_dates=None, split_fractions=None,
                 train_paths=None, gappy: bool = False, land_mask: str | None = None):
        self.paths, self.variable, self.units = paths, variable, units
        self.grid_spec, self.depths = grid, depths
        self.min_ocean_fraction = float(min_ocean_fraction)
        self.lat_range, self.lon_range = lat_range, lon_range
        self.train_years, self.val_years, self.test_years = train_years, val_years, test_years
        self.train_months, self.val_months, self.test_months = (train_months, val_months,
                                                                test_months)
        self.train_dates, self.val_dates, self.test_dates = train_dates, val_dates, test_dates
        self.split_fractions, self.train_paths = split_fractions, train_paths
        if not isinstance(gappy, bool):
            raise InputError(f"dataset parameter gappy must be true or false, got {gappy!r}")
        if land_mask is not None and not gappy:
            raise InputError("dataset parameter land_mask is used only with gappy = true (a "
                             "complete source's ocean is where its data are finite)")
        self.gappy, self.land_mask = gappy, land_mask
        layouts = group_layouts(resolve_paths(paths), variable, units, f"dataset {self.name!r}")
        self.layout = layouts[0]
        what = f"dataset {self.name!r} ({str(self.layout.path)!r})"
        extent = region(lat_range, lon_range, self.layout.extent, what)
        lat, lon, depth, grid_name = build_target(grid, depths, self.layout, extent)
        ocean = (gappy_ocean(land_mask, lat, lon, depth, self.min_ocean_fraction) if gappy
                 else None)
        self.files = GriddedFiles(layouts, lat, lon, depth, self.min_ocean_fraction, ocean)
        warn_regridding(self.files, f"dataset {self.name!r}")
        self.train_files = None
        if train_paths is not None:
            train_layouts = group_layouts(resolve_paths(train_paths), variable, units,
                                          f"the train_paths of dataset {self.name!r}")
            self.train_files = GriddedFiles(train_layouts, lat, lon, depth,
                                            self.min_ocean_fraction, ocean)
            warn_regridding(self.train_files, f"the train_paths of dataset {self.name!r}")
        self.grid = Grid(lat, lon, depth, self._ocean(),
                         name=f"{self.name}-{grid_name}-{depth.size}L")
        self._selection = self._select()
        self._cache: dict[str, xr.DataArray] = {}

    def get_params(self) -> dict:
        params = super().get_params()
        params["grid"] = self.grid_spec
        return params

    def _ocean(self) -> np.ndarray:
        """The grid's ocean: the files', and the training files' where both are given."""
        if self.train_files is None:
            return self.files.ocean
        ocean = self.files.ocean & self.train_files.ocean
        differ = int((self.files.ocean != self.train_files.ocean).sum())
        if differ:
            warnings.warn(f"dataset {self.name!r}: {differ} target cells are ocean in paths or "
                          f"in train_paths only; they are land on the common grid",
                          RegridWarning, stacklevel=3)
        return ocean

    def _select(self) -> dict[str, np.ndarray]:
        """(n_time,) bool selection of each split over the files' (or for train, the
        training files') time steps; an explicitly set split that selects nothing is an
        error naming the time resolution and span."""
        years = {s: year_range(getattr(self, f"{s}_years"), f"{s}_years") for s in SPLITS}
        months = {s: month_list(getattr(self, f"{s}_months"), f"{s}_months") for s in SPLITS}
        dates = {s: date_range(getattr(self, f"{s}_dates"), f"{s}_dates") for s in SPLITS}
        times = self.files.times
        set_by = {s: [f"{s}_{k} = {getattr(self, f'{s}_{k}')!r}" for k in
                      ("years", "months", "dates") if getattr(self, f"{s}_{k}") is not None]
                  for s in SPLITS}
        if self.split_fractions is not None:
            if any(set_by.values()):
                raise InputError(f"dataset {self.name!r}: split_fractions replaces the *_years, "
                                 f"*_months and *_dates parameters; give one or the other")
            selection = fraction_selection(times.size, self.split_fractions)
            set_by = {s: [f"split_fractions = {self.split_fractions!r}"]
                      if self.split_fractions[i] > 0 else [] for i, s in enumerate(SPLITS)}
        elif self.train_files is not None:
            selection = split_selection(times, {**years, "train": None},
                                        {**months, "train": None},
                                        extra={"train": np.zeros(times.size, bool)},
                                        dates={**dates, "train": None})
            if not set_by["test"]:  # the training source trains: the rest of paths tests
                selection["test"] = ~selection["val"]
        elif times.size == 1 and not any(set_by.values()):
            selection = {"train": np.zeros(1, bool), "val": np.zeros(1, bool),
                         "test": np.ones(1, bool)}
        else:
            selection = split_selection(times, years, months, dates=dates)
        if self.train_files is not None:
            train_times = self.train_files.times
            none = {s: None for s in SPLITS}
            selection["train"] = split_selection(
                train_times, {**none, "train": years["train"]}, {**none, "train": months["train"]},
                extra={"train": np.ones(train_times.size, bool)},
                dates={**none, "train": dates["train"]})["train"]
        for split in SPLITS:
            if set_by[split] and not selection[split].any():
                files = self.train_files if split == "train" and self.train_files else self.files
                raise InputError(f"the {split} split of dataset {self.name!r} "
                                 f"({', '.join(set_by[split])}) selects no time step of "
                                 f"{str(files.layouts[0].path)!r}, which has "
                                 f"{describe_times(files.times)}; choose {split} settings "
                                 f"within that span")
        return selection

    @property
    def source_units(self) -> str:
        """The temperature units the files declare (``"none"`` if they declare none)."""
        return self.layout.source_units

    @property
    def units_read(self) -> str:
        """The units the values were read in: :attr:`units` if given, else the files'."""
        return self.layout.units_read

    def all_times(self) -> np.ndarray:
        """(n_time,) datetime64 stamps of every time step of ``paths``."""
        return self.files.times

    def split_times(self, which: str) -> np.ndarray:
        """(n,) datetime64 stamps of split ``which`` without reading any data."""
        if which == "train" and self.train_files is not None:
            return self.train_files.times[self._selection[which]]
        return self.files.times[self._selection[which]]

    def field_attrs(self) -> dict:
        return {"source_units": self.layout.source_units,
                "climatological": int(self.layout.climatological)}

    def input_files(self) -> list[Path]:
        """The files of ``paths`` and ``train_paths`` (and the land mask file, if any)."""
        files = [lay.path for lay in self.files.layouts]
        if self.train_files is not None:
            files += [lay.path for lay in self.train_files.layouts]
        if self.land_mask is not None:
            files += resolve_paths(self.land_mask)[:1]
        return files

    def read_months(self, which: str, index: np.ndarray) -> np.ndarray:
        """The regridded time steps ``index`` of split ``which``, read from the files alone
        (the split is not loaded): (len(index), depth, lat, lon) float32 °C."""
        if which in self._cache:
            return self._cache[which].values[np.asarray(index)]
        files = self.train_files if which == "train" and self.train_files else self.files
        steps = np.flatnonzero(self._selection[which])[np.asarray(index)]
        if np.any(np.diff(steps) <= 0):
            raise InputError("read_months needs ascending time-step indices")
        selection = np.zeros(self._selection[which].size, bool)
        selection[steps] = True
        return files.read(selection)

    def _load_split(self, which: str) -> xr.DataArray:
        if which not in self._cache:
            selection = self._selection[which]
            files = self.train_files if which == "train" and self.train_files else self.files
            if not selection.any():
                raise InputError(f"the {which} split of dataset {self.name!r} is empty ("
                                 f"{str(files.layouts[0].path)!r} has "
                                 f"{describe_times(files.times)}); set {which}_years, "
                                 f"{which}_months, {which}_dates or split_fractions")
            field = self.grid.field(files.read(selection), files.times[selection],
                                    name=self.layout.variable,
                                    standard_name=self.layout.standard_name)
            field.attrs.update(self.field_attrs())
            self._cache[which] = field
        return self._cache[which]
