"""Writers of small CF-like NetCDF files for the data-loading tests.

Every file holds the same known field, :func:`truth`, written in one of the
forms users have (descending latitude, other longitude conventions, depth in cm
or positive up, kelvin, fill values, other calendars ...), so a test can load it
and compare with :func:`truth` on the canonical axes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

LAT = np.arange(-85.0, 90.0, 10.0)  # (18,) °N
LON = np.arange(5.0, 360.0, 10.0)  # (36,) °E
DEPTH = np.array([5.0, 50.0, 200.0])  # m, positive down
N_MONTHS = 24  # from January 2000
ALL_MONTHS = np.arange(N_MONTHS)


def truth(lat=LAT, lon=LON, depth=DEPTH, months=ALL_MONTHS) -> np.ndarray:
    """(time, depth, lat, lon) °C: smooth in all four axes; land at 100-140 °E, sea floor
    above 200 m north of 50 °N (NaN there)."""
    t = np.asarray(months)[:, None, None, None]
    z = np.asarray(depth)[None, :, None, None]
    y = np.asarray(lat)[None, None, :, None]
    x = np.mod(np.asarray(lon), 360.0)[None, None, None, :]
    values = 25.0 - 0.25 * np.abs(y) - 0.02 * z + 0.5 * np.cos(2 * np.pi * t / 12) + 0.01 * x
    values = np.broadcast_to(values, (t.size, z.size, y.size, x.size)).copy()
    values[..., (x[0, 0, 0] >= 100) & (x[0, 0, 0] < 140)] = np.nan
    floor = (z[0, :, 0, 0] >= 200)[:, None] & (y[0, 0, :, 0] > 50)[None, :]
    values[:, floor] = np.nan
    return values.astype(np.float32)


def month_days(n: int, calendar: str) -> np.ndarray:
    """Mid-month day offsets since 2000-01-01 of ``n`` months in ``calendar``."""
    if calendar == "360_day":
        return 30.0 * np.arange(n) + 14.0
    if calendar == "noleap":
        lengths = np.tile([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], n // 12 + 1)[:n]
        return np.concatenate([[0], np.cumsum(lengths)[:-1]]) + 14.0
    starts = np.datetime64("2000-01", "M") + np.arange(n)
    return (starts.astype("datetime64[D]") - np.datetime64("2000-01-01")).astype(float) + 14.0


def write(path: Path, *, lat=LAT, lon=LON, depth=DEPTH, depth_name="depth",
          depth_attrs=None, depth_scale=1.0, months=ALL_MONTHS, calendar="standard",
          time=None, units="degC", offset=0.0, variable="thetao",
          standard_name="sea_water_potential_temperature", encoding=None,
          lat_name="lat", lon_name="lon", coord_attrs=True) -> Path:
    """Write :func:`truth` (evaluated at ``lat``, ``lon``, ``depth``) to ``path``.

    ``depth=None`` writes a 2-D (time, lat, lon) field of the first level.
    ``depth_scale`` multiplies the written depths (100: cm; -100: cm positive up).
    ``time``: (values, attrs) to write instead of mid-month days in ``calendar``.
    """
    values = truth(lat, lon, DEPTH if depth is None else depth, months) + offset
    time_values, time_attrs = time or (month_days(N_MONTHS, calendar)[np.asarray(months)],
                                       {"units": "days since 2000-01-01", "calendar": calendar})
    coords = {
        "time": ("time", time_values, {"standard_name": "time", **time_attrs}),
        lat_name: (lat_name, lat, {"standard_name": "latitude", "units": "degrees_north"}
                   if coord_attrs else {}),
        lon_name: (lon_name, lon, {"standard_name": "longitude", "units": "degrees_east"}
                   if coord_attrs else {}),
    }
    attrs = {"standard_name": standard_name} if standard_name else {}
    if units is not None:
        attrs["units"] = units
    if depth is None:
        dims, values = ("time", lat_name, lon_name), values[:, 0]
    else:
        dims = ("time", depth_name, lat_name, lon_name)
        coords[depth_name] = (depth_name, np.asarray(depth) * depth_scale, depth_attrs or {
            "units": "cm" if abs(depth_scale) == 100 else "m",
            "positive": "up" if depth_scale < 0 else "down", "axis": "Z"})
    ds = xr.Dataset({variable: (dims, values, attrs)}, coords=coords)
    ds.to_netcdf(path, encoding={variable: encoding or {"_FillValue": np.float32(1e20)},
                                 "time": {"_FillValue": None}})
    return path
