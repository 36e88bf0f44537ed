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

from reconbench.datasets.grid import FIELD_DIMS, Grid
from reconbench.errors import InputError


def open_netcdf(path: str | Path) -> xr.Dataset:
    """Open a NetCDF file with a clear error when it is missing or not NetCDF."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file {str(path)!r} does not exist")
    try:
        return xr.open_dataset(path)
    except Exception as exc:  # netCDF4/h5netcdf/scipy each raise their own types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{str(path)!r} could not be read as NetCDF: {reason}") from None


def read_field(path: str | Path, variable: str) -> xr.DataArray:
    """Variable ``variable`` of ``path`` as a field (time, depth, lat, lon), float32, °C."""
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
    units = str(da.attrs.get("units", "degC"))
    if units not in ("degC", "degree_Celsius", "degrees_Celsius", "C", "celsius", "°C"):
        raise InputError(f"variable {variable!r} of {str(path)!r} has units {units!r}; "
                         f"expected degrees Celsius ('degC')")
    return da.astype(np.float32).load()


def grid_of(field: xr.DataArray, name: str = "") -> Grid:
    """The grid of a field: its axes, and ocean wherever it is finite at every time."""
    ocean = np.isfinite(field.values).all(axis=0)
    return Grid(field["lat"].values, field["lon"].values, field["depth"].values, ocean, name=name)


def write_field(field: xr.DataArray, path: str | Path) -> None:
    """Write a field to NetCDF (float32, NaN as the fill value)."""
    encoding = {field.name or "thetao": {"dtype": "float32", "_FillValue": np.float32(np.nan)}}
    field.to_dataset(name=field.name or "thetao").to_netcdf(path, encoding=encoding)
