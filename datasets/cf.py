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

import glob
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import cftime
import numpy as np
import xarray as xr

from reconbench.datasets.grid import Grid
from reconbench.datasets.regrid import (
    HorizontalBinning,
    RegridWarning,
    VerticalInterpolator,
    target_axes,
    target_depths,
)
from reconbench.datasets.source import SPLITS, DatasetSource, register_source
from reconbench.errors import InputError

#: Year in which the months of a climatological time axis are stamped.
CLIMATOLOGY_YEAR = 2000

#: Standard names tried, in order, when no variable is named.
TEMPERATURE_NAMES = ("sea_water_potential_temperature", "sea_water_temperature",
                     "sea_surface_temperature", "sea_water_conservative_temperature")

CELSIUS = {"degc", "degree_celsius", "degrees_celsius", "c", "celsius", "°c", "deg_c",
           "degree_c", "degrees_c", "deg c", "degrees c", "degree c"}
KELVIN = {"k", "kelvin", "degk", "deg_k", "degree_k", "degrees_k", "degree_kelvin",
          "degrees_kelvin"}
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
        return xr.open_dataset(path, decode_times=False)
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
    order (time, depth, y, x), None for absent ones.
    """

    path: Path
    variable: str
    dims: tuple
    lat: np.ndarray
    lon: np.ndarray
    shape2d: tuple[int, int]
    curvilinear: bool
    depth: np.ndarray
    depth_flip: bool
    times: np.ndarray
    climatological: bool
    offset: float  # added to convert the file's units to °C
    source_units: str

    def same_grid(self, other: Layout) -> bool:
        """True when both files have the same native horizontal grid and levels."""
        return (self.shape2d == other.shape2d and self.depth.shape == other.depth.shape
                and np.allclose(self.lat, other.lat, equal_nan=True)
                and np.allclose(self.lon, other.lon, equal_nan=True)
                and np.allclose(self.depth, other.depth))


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
    depth, flip = (np.array([0.0]), False) if depth_dim is None else depth_metres(
        ds[depth_dim], path)
    raw_units = units or da.attrs.get("units")
    offset = celsius_offset(raw_units, what)
    return Layout(path=path, variable=str(da.name), dims=dims, lat=lat2.ravel().astype(float),
                  lon=lon2.ravel().astype(float), shape2d=lat2.shape, curvilinear=curvilinear,
                  depth=depth, depth_flip=flip, times=times, climatological=climatological,
                  offset=offset, source_units=str(raw_units or "none (assumed degC)"))


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
    """(n,) datetime64[ns] stamps of a time coordinate and whether it is climatological."""
    units = str(coord.attrs.get("units", ""))
    calendar = str(coord.attrs.get("calendar", "standard"))
    values = np.asarray(coord.values)
    if "since" not in units:
        months = values.astype(float)
        if np.all(np.isin(months, np.arange(1, 13))):
            return _stamps(CLIMATOLOGY_YEAR, months.astype(int), np.full(months.size, 15)), True
        raise InputError(f"time coordinate {coord.name!r} of {str(path)!r} has units {units!r}; "
                         f"expected 'UNITS since DATE' or month numbers 1-12")
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
    climatological = bool(np.all(years <= 1) or "climatology" in coord.attrs
                          or "modulo" in coord.attrs)
    if climatological:
        years = np.full(years.size, CLIMATOLOGY_YEAR)
    return _stamps(years, months, days), climatological


def _stamps(years, months, days) -> np.ndarray:
    """datetime64[ns] from year, month and day arrays, days clipped to the month's length."""
    month_start = (np.asarray(years) - 1970) * 12 + np.asarray(months) - 1
    start = np.asarray(month_start).astype("datetime64[M]")
    length = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(int)
    day = np.minimum(np.asarray(days), length) - 1
    stamps = start.astype("datetime64[D]") + day.astype("timedelta64[D]")
    return np.broadcast_to(stamps, np.broadcast(years, months, days).shape).astype(
        "datetime64[ns]")


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


def celsius_offset(units: str | None, what: str) -> float:
    """What to add to values in ``units`` to get °C (0 or -273.15)."""
    if units is None:
        warnings.warn(f"{what} declares no units; assuming degrees Celsius (set the dataset "
                      f"parameter units to override)", DataWarning, stacklevel=3)
        return 0.0
    key = str(units).strip().lower()
    if key in CELSIUS:
        return 0.0
    if key in KELVIN:
        return -273.15
    raise InputError(f"{what} has units {units!r}; expected kelvin (K) or degrees Celsius (degC)")


# -- reading -----------------------------------------------------------------------
def read_native(layout: Layout, time_index: np.ndarray) -> np.ndarray:
    """Values at ``time_index`` as (time, n_levels, n_points) float32 °C, NaN for fill."""
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
    values = values.reshape(values.shape[0], values.shape[1], -1) + np.float32(layout.offset)
    values[~np.isfinite(values)] = np.nan
    return values


def check_plausible(values: np.ndarray, layout: Layout) -> None:
    """Warn when °C-declared values look like kelvin (median above 100)."""
    finite = values[np.isfinite(values)]
    if finite.size and np.median(finite) > 100.0:
        warnings.warn(f"variable {layout.variable!r} of {str(layout.path)!r} is declared "
                      f"{layout.source_units!r} but its values look like kelvin (median "
                      f"{np.median(finite):.1f}); set the dataset parameter units = 'K' if they "
                      f"are", DataWarning, stacklevel=3)


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


def split_selection(times: np.ndarray, years: dict, months: dict,
                    extra: dict | None = None) -> dict[str, np.ndarray]:
    """Boolean selection (n_time,) of each split.

    ``years[split]`` is (first, last) or None, ``months[split]`` a list or None,
    ``extra[split]`` an optional further (n_time,) bool filter (e.g. members).
    """
    extra = extra or {}
    year = times.astype("datetime64[Y]").astype(int) + 1970
    month = times.astype("datetime64[M]").astype(int) % 12 + 1
    chosen = {}
    for split in SPLITS:
        if years[split] is None and months[split] is None and split not in extra:
            continue
        keep = np.ones(times.size, bool)
        if years[split] is not None:
            keep &= (year >= years[split][0]) & (year <= years[split][1])
        if months[split] is not None:
            keep &= np.isin(month, months[split])
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
                             f"time steps; give them separate years, months or members")
    return {s: chosen.get(s, np.zeros(times.size, bool)) for s in SPLITS}


# -- the source ------------------------------------------------------------------
class GriddedFiles:
    """Files sharing one native grid, read and regridded onto a target grid.

    ``layouts`` are the files in time order; ``lat``, ``lon``, ``depth`` the
    target axes. :attr:`ocean` (depth, lat, lon) is the target ocean mask,
    derived from the first time step of the first file.
    """

    def __init__(self, layouts: list[Layout], lat: np.ndarray, lon: np.ndarray,
                 depth: np.ndarray, min_ocean_fraction: float):
        self.layouts, self.depth = layouts, depth
        first = layouts[0]
        self.vertical = VerticalInterpolator(first.depth, depth)
        self.horizontal = HorizontalBinning(first.lat, first.lon, lat, lon, min_ocean_fraction)
        sample = read_native(first, np.array([0]))
        check_plausible(sample, first)
        wet = np.isfinite(self.vertical(sample))[0]
        self.ocean = self.horizontal.ocean_mask(wet)
        self.source_ocean_cells = int(wet.sum())

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


def group_layouts(paths: list[Path], variable: str | None, units: str | None,
                  what: str) -> list[Layout]:
    """Layouts of ``paths`` sorted by first time, all on the first file's grid (else an
    error naming the file that differs)."""
    layouts = sorted((read_layout(p, variable, units) for p in paths),
                     key=lambda lay: lay.times[0])
    for layout in layouts[1:]:
        if not layout.same_grid(layouts[0]):
            raise InputError(f"{str(layout.path)!r} is on a different grid from "
                             f"{str(layouts[0].path)!r} (shape {layout.shape2d} x "
                             f"{layout.depth.size} levels vs {layouts[0].shape2d} x "
                             f"{layouts[0].depth.size}); the files of {what} must share one grid")
    return layouts


def build_target(grid, depths, layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Target (lat, lon, depth, grid name) for a source whose first file is ``layout``."""
    lat, lon, name = target_axes(grid, layout.lat, layout.lon, layout.curvilinear)
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
    units : override the file's temperature units ('K' or 'degC').
    grid : 'native', 'en4' or a resolution in degrees (see :mod:`regrid`).
    depths : None (the source's levels), 'en4' or a list of depths in m.
    min_ocean_fraction : ocean share of a target cell needed to call it ocean.
    train_years, val_years, test_years : [first, last] years (inclusive) or a year.
    train_months, val_months, test_months : lists of calendar months 1-12.
    """

    def __init__(self, paths, variable: str | None = None, units: str | None = None,
                 grid="native", depths=None, min_ocean_fraction: float = 0.5,
                 train_years=None, val_years=None, test_years=None,
                 train_months=None, val_months=None, test_months=None):
        self.paths, self.variable, self.units = paths, variable, units
        self.grid_spec, self.depths = grid, depths
        self.min_ocean_fraction = float(min_ocean_fraction)
        self.train_years, self.val_years, self.test_years = train_years, val_years, test_years
        self.train_months, self.val_months, self.test_months = (train_months, val_months,
                                                                test_months)
        layouts = group_layouts(resolve_paths(paths), variable, units, f"dataset {self.name!r}")
        lat, lon, depth, grid_name = build_target(grid, depths, layouts[0])
        self.files = GriddedFiles(layouts, lat, lon, depth, self.min_ocean_fraction)
        warn_regridding(self.files, f"dataset {self.name!r}")
        self.grid = Grid(lat, lon, depth, self.files.ocean,
                         name=f"{self.name}-{grid_name}-{depth.size}L")
        self.layout = layouts[0]
        self._selection = split_selection(self.files.times, *self._split_params())
        self._cache: dict[str, xr.DataArray] = {}

    def get_params(self) -> dict:
        params = super().get_params()
        params["grid"] = self.grid_spec
        return params

    def _split_params(self) -> tuple[dict, dict]:
        years = {s: year_range(getattr(self, f"{s}_years"), f"{s}_years") for s in SPLITS}
        months = {s: month_list(getattr(self, f"{s}_months"), f"{s}_months") for s in SPLITS}
        return years, months

    @property
    def source_units(self) -> str:
        """The temperature units of the files (converted to °C on reading)."""
        return self.layout.source_units

    def split_times(self, which: str) -> np.ndarray:
        """(n,) datetime64 stamps of split ``which`` without reading any data."""
        return self.files.times[self._selection[which]]

    def _load_split(self, which: str) -> xr.DataArray:
        if which not in self._cache:
            selection = self._selection[which]
            if not selection.any():
                raise InputError(f"the {which} split of dataset {self.name!r} is empty; set "
                                 f"{which}_years or {which}_months")
            field = self.grid.field(self.files.read(selection), self.files.times[selection],
                                    name=self.layout.variable)
            field.attrs.update(source_units=self.layout.source_units,
                               climatological=int(self.layout.climatological))
            self._cache[which] = field
        return self._cache[which]
