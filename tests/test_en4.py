"""EN4.2.2 analysis files: temperature in kelvin, 42 depths, 1° grid with lon 1..360."""

import numpy as np
import xarray as xr

from reconbench.datasets.en4 import EN4Source
from reconbench.datasets.grid import EN4_DEPTHS
from reconbench.datasets.regrid import EN4_LAT, EN4_LON


def write_en4_month(path, month):
    """One EN4-like monthly analysis file: temperature (1, 42, 173, 360) K."""
    lon = np.arange(1.0, 361.0)
    celsius = (25.0 - 0.2 * np.abs(EN4_LAT)[:, None] - 0.004 * EN4_DEPTHS[:, None, None]
               + 0.01 * lon[None, None] + month)
    kelvin = (np.maximum(celsius, -1.8) + 273.15).astype(np.float32)
    kelvin[:, :, 100:110] = np.nan  # a land strip
    xr.Dataset(
        {"temperature": (("time", "depth", "lat", "lon"), kelvin[None],
                         {"units": "kelvin", "standard_name": "sea_water_potential_temperature"})},
        coords={"time": ("time", [float(month)], {"units": "days since 2000-01-15"}),
                "depth": ("depth", EN4_DEPTHS.astype(np.float32),
                          {"units": "metres", "positive": "down", "standard_name": "depth"}),
                "lat": ("lat", EN4_LAT.astype(np.float32), {"units": "degrees_north"}),
                "lon": ("lon", lon.astype(np.float32), {"units": "degrees_east"})},
    ).to_netcdf(path, encoding={"temperature": {"_FillValue": np.float32(-32768)}})


def test_en4_analysis_files(tmp_path):
    for month in (0, 31):
        write_en4_month(tmp_path / f"EN.4.2.2.f.analysis.g10.2000{1 + month // 31:02d}.nc", month)
    source = EN4Source(str(tmp_path / "EN.4.2.2.f.analysis.g10.*.nc"), test_months=[2])
    grid = source.grid
    np.testing.assert_allclose(grid.lat, EN4_LAT)
    np.testing.assert_allclose(grid.lon, EN4_LON)  # 360 °E became 0 °E
    np.testing.assert_allclose(grid.depth, EN4_DEPTHS, rtol=1e-6)
    assert grid.ocean_fraction[0] == 350 / 360
    test = source.split("test")
    assert test.attrs["source_units"] == "kelvin"
    # 0 °N, 0 °E (the file's 360 °E) in February: 25 - 0.004 z + 0.01 * 360 + 31, in °C
    expected = 25.0 - 0.004 * EN4_DEPTHS[0] + 3.6 + 31.0
    assert abs(test.values[0, 0, 83, 0] - expected) < 1e-3
