"""Reading and writing fields as NetCDF files.

:func:`read_field` opens one variable of a NetCDF file already laid out on a
regular grid with dims ``(time, depth, lat, lon)`` or ``(time, lat, lon)``
(a surface field, given one depth level). Files in other layouts (other
coordinate names, descending latitude, kelvin, curvilinear grids) go through
the generic CF source instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from reconbench.datasets.checks import check_axis, check_field_values
from reconbench.datasets.grid import FIELD_DIMS, Grid
from reconbench.errors import InputError


def open_netcdf(path: str | Path) -> xr.Dataset:
    """Open a NetCDF file with a clear error when it is missing or not NetCDF.

    Classic-format files (NetCDF-3) are read with scipy's reader, which checks
    the file's length: the NetCDF-C library reads a truncated classic file
    without complaint, with zeros for the missing part.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file {str(path)!r} does not exist")
    with open(path, "rb") as fh:
        classic = fh.read(3) == b"CDF"
    try:
        return xr.open_dataset(path, engine="scipy" if classic else None)
    except Exception as exc:  # netCDF4/h5netcdf/scipy each raise their own types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{str(path)!r} could not be read as NetCDF: {reason}") from None


def read_field(path: str | Path, variable: str) -> xr.DataArray:
    """Variable ``variable`` of ``path`` as a field (time, depth, lat, lon), float32, °C.

    Checks (see :mod:`reconbench.datasets.checks`): the dims, °C units, strictly
    ascending time, depth, lat and lon, a file that reads to the end, no
    infinities and plausible °C values (kelvin declared as °C is an error). NaN
    is allowed anywhere (missing data); callers needing complete fields check
    that themselves.
    """
    ds = open_netcdf(path)
    if variable not in ds.data_vars:
        raise InputError(f"{str(path)!r} has no variable {variable!r}; variables in the file: "
                         f"{', '.join(map(str, ds.data_vars)) or 'none'}")
    da = ds[variable]
    if da.dims == ("time", "lat", "lon"):
        da = da.expand_dims(depth=[0.0], axis=1)
    if tuple(da.dims) != FIELD_DIMS:
        raise InputError(f"variable {variable!r} of {str(path)!r} has dims {da.dims}; expected "
                         f"{FIELD_DIMS} or (time, lat, lon)")
    what = f"variable {variable!r} of {str(path)!r}"
    units = str(da.attrs.get("units", "degC"))
    if units not in ("degC", "degree_Celsius", "degrees_Celsius", "C", "celsius", "°C"):
        raise InputError(f"{what} has units {units!r}; expected degrees Celsius ('degC')")
    for axis in FIELD_DIMS:
        if axis not in da.coords:
            raise InputError(f"{what} has no {axis} coordinate values")
        check_axis(da[axis].values, axis, what)
    try:
        da = da.astype(np.float32).load()
    except Exception as exc:  # each NetCDF backend raises its own types
        raise InputError(f"{what} could not be read to the end (truncated or damaged "
                         f"file?): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                         ) from None
    check_field_values(da.values, what)
    return da


def grid_of(field: xr.DataArray, name: str = "") -> Grid:
    """The grid of a field: its axes, and ocean wherever it is finite at every time."""
    ocean = np.isfinite(field.values).all(axis=0)
    return Grid(field["lat"].values, field["lon"].values, field["depth"].values, ocean, name=name)


def write_field(field: xr.DataArray, path: str | Path) -> None:
    """Write a field to NetCDF (float32, NaN as the fill value)."""
    encoding = {field.name or "thetao": {"dtype": "float32", "_FillValue": np.float32(np.nan)}}
    field.to_dataset(name=field.name or "thetao").to_netcdf(path, encoding=encoding)
