"""A synthetic daily regional sea: surface temperature of a coastal box, as a CF file.

DINEOF was made for daily satellite SST of a regional sea under clouds; no such
real file ships with the project, so :func:`write_daily_sea` writes one that
the ``netcdf`` dataset reads like any daily regional CF file (suite
``daily-sea``; ``reconbench make-daily-sea FILE``). The field, on a
``resolution``-degree grid over ``lat_range`` x ``lon_range``, is a sum of:

- a mean state: a meridional gradient (``GRADIENT`` °C per degree, warmer to
  the south) and a zonal front of ``FRONT_C`` °C (tanh, 1° wide) across the box;
- a seasonal cycle: ``SEASON_C`` °C amplitude (times 1 + 0.3 y / half-height,
  so it grows northwards), warmest on day 225 of the year;
- ``N_MODES`` large-scale modes: smooth random patterns (``MODE_SCALE_DEG``
  Gaussian smoothing, unit RMS) times AR(1) amplitudes with an e-folding time
  of ``MODE_DAYS`` days and standard deviations ``MODE_SD_C`` (°C), falling
  mode to mode: the low-rank, persistent variability EOFs are made for;
- mesoscale eddies: white noise smoothed over ``EDDY_SCALE_DEG``, AR(1) with an
  e-folding time of ``EDDY_DAYS`` days, RMS ``EDDY_SD_C`` °C;
- white noise of ``NOISE_C`` °C (sensor noise, unresolved scales).

Land is the cells west of a wavy coastline in the western third of the box
(NaN in the file). Everything is determined by ``seed``. The file holds
``sst`` (time, lat, lon) in degC with ``standard_name`` sea_surface_temperature,
daily from ``start`` (a "days since" time axis).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from reconbench.datasets.clouds import smooth
from reconbench.errors import InputError
from reconbench.files import temporary_beside

GRADIENT = 0.4  # °C per degree of latitude, warmer to the south
FRONT_C = 1.5  # °C across the front
SEASON_C = 3.0  # °C, amplitude of the seasonal cycle
WARMEST_DAY = 225  # day of the year of the seasonal maximum
N_MODES = 4
MODE_SCALE_DEG = 2.0  # smoothing of the mode patterns, degrees
MODE_DAYS = 30.0  # e-folding time of the mode amplitudes, days
MODE_SD_C = (0.8, 0.5, 0.35, 0.25)  # °C, per mode
EDDY_SCALE_DEG = 0.4  # smoothing of the eddies, degrees
EDDY_DAYS = 8.0  # e-folding time of the eddies, days
EDDY_SD_C = 0.3  # °C
NOISE_C = 0.05  # °C


def daily_sea(lat: np.ndarray, lon: np.ndarray, n_days: int, seed: int) -> np.ndarray:
    """(n_days, lat, lon) float32 °C over the sea, NaN on land; ``lat`` (n_lat,) °N and
    ``lon`` (n_lon,) °E ascending, one day per step (see the module)."""
    rng = np.random.default_rng(seed)
    spacing = float(np.median(np.diff(lat)))
    y = (lat - lat.mean())[:, None] + 0 * lon[None, :]
    x = (lon - lon.mean())[None, :] + 0 * lat[:, None]
    half = max(float(np.ptp(lat)) / 2, spacing)
    coast = lon.min() + 0.15 * np.ptp(lon) * (1 + np.sin(2 * np.pi * y / np.ptp(lat) * 1.5))
    land = lon[None, :] < coast
    mean = 18.0 - GRADIENT * y - FRONT_C / 2 * np.tanh((y - 0.2 * x) / 1.0)
    day = np.arange(n_days)
    season = (SEASON_C * (1 + 0.3 * y / half))[None] * np.cos(
        2 * np.pi * (day - WARMEST_DAY) / 365.25)[:, None, None]
    patterns = smooth(rng.standard_normal((N_MODES, *y.shape)), MODE_SCALE_DEG, spacing)
    patterns /= np.sqrt((patterns ** 2).mean(axis=(1, 2), keepdims=True))
    amplitudes = ar1(rng.standard_normal((n_days, N_MODES)), MODE_DAYS) * np.array(MODE_SD_C)
    modes = np.einsum("tm,myx->tyx", amplitudes, patterns)
    eddy_noise = smooth(rng.standard_normal((n_days, *y.shape)), EDDY_SCALE_DEG, spacing)
    eddy_noise /= np.sqrt((eddy_noise ** 2).mean())
    eddies = ar1(eddy_noise, EDDY_DAYS) * EDDY_SD_C
    noise = NOISE_C * rng.standard_normal((n_days, *y.shape))
    field = mean[None] + season + modes + eddies + noise
    return np.where(land[None], np.nan, field).astype(np.float32)


def ar1(innovations: np.ndarray, efolding: float) -> np.ndarray:
    """An AR(1) series along axis 0 of unit-variance ``innovations`` (n, ...), with lag-1
    correlation exp(-1 / ``efolding``) and unit stationary variance (started stationary)."""
    rho = np.exp(-1.0 / efolding)
    out = np.empty_like(innovations)
    out[0] = innovations[0]
    scale = np.sqrt(1 - rho ** 2)
    for t in range(1, len(innovations)):
        out[t] = rho * out[t - 1] + scale * innovations[t]
    return out


def write_daily_sea(path: str | Path, lat_range=(30.0, 40.0), lon_range=(-20.0, -10.0),
                    resolution: float = 0.25, start: str = "2000-01-01", n_days: int = 1461,
                    seed: int = 0) -> Path:
    """Write the daily sea (see the module) to the NetCDF file ``path`` (atomically);
    cell centres from ``lat_range[0] + resolution / 2`` on. Returns the path."""
    if resolution <= 0 or n_days < 2:
        raise InputError(f"daily sea: resolution must be > 0 and n_days >= 2, got "
                         f"{resolution!r} and {n_days!r}")
    if lat_range[1] <= lat_range[0] or lon_range[1] <= lon_range[0]:
        raise InputError(f"daily sea: lat_range and lon_range must be [south, north] and "
                         f"[west, east], got {list(lat_range)} and {list(lon_range)}")
    lat = np.arange(lat_range[0] + resolution / 2, lat_range[1], resolution)
    lon = np.arange(lon_range[0] + resolution / 2, lon_range[1], resolution)
    values = daily_sea(lat, lon, n_days, seed)
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), values,
                 {"standard_name": "sea_surface_temperature", "units": "degC",
                  "long_name": "synthetic daily sea surface temperature"})},
        coords={"time": ("time", np.arange(n_days, dtype=np.float64),
                         {"units": f"days since {start}", "calendar": "standard",
                          "standard_name": "time", "axis": "T"}),
                "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"})},
        attrs={"title": "reconbench synthetic daily regional sea (datasets/daily_sea.py)",
               "seed": seed, "Conventions": "CF-1.8"})
    path = Path(path)
    tmp = temporary_beside(path)
    try:
        ds.to_netcdf(tmp, encoding={"sst": {"zlib": True, "complevel": 1,
                                            "_FillValue": np.float32(1e20)},
                                    "time": {"dtype": "float64"}})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
