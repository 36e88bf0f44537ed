"""CMIP6 source: two fake models on different curvilinear grids, onto the EN4 grid."""

import numpy as np
import pytest
import xarray as xr

from reconbench.datasets.cmip6 import CMIP6Source
from reconbench.datasets.regrid import EN4_LAT, EN4_LON, RegridWarning
from reconbench.errors import InputError
from reconbench.methods.registry import make_method


def temperature(lat, lon, depth, month):
    """°C, smooth: warm equator, cooling with depth, a seasonal cycle, a zonal wave."""
    return (28.0 - 0.3 * np.abs(lat) + np.sin(np.deg2rad(lon)) + np.cos(2 * np.pi * month / 12)
            - 0.01 * depth)


def curvilinear_grid(ny, nx, twist):
    """(lat, lon) (ny, nx): a global grid whose rows wave in latitude by ``twist`` degrees and
    whose longitudes start at -280 °E (NEMO-like)."""
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    lon = -280.0 + (i + 0.5) * 360.0 / nx + 0.3 * twist * np.sin(np.pi * j / ny)
    lat = -80.0 + (j + 0.5) * 168.0 / ny + twist * np.sin(np.deg2rad(lon)) * np.cos(
        np.deg2rad(-80.0 + (j + 0.5) * 168.0 / ny))
    return lat, lon


def write_run(folder, model, member, grid, depth, names, months=12):
    """A CMIP6-like thetao file (time, lev, j, i) in °C with 2-D latitude/longitude."""
    lat, lon = grid
    month = np.arange(months)
    values = temperature(lat[None, None], lon[None, None], depth[None, :, None, None],
                         month[:, None, None, None])
    land = (np.mod(lon, 360.0) > 250) & (np.mod(lon, 360.0) < 290) & (lat > -60)
    values[:, :, land] = np.nan
    values[:, -1, lat < 0] = np.nan  # a sea floor above the deepest level in the south
    lat_name, lon_name = names
    ds = xr.Dataset(
        {"thetao": (("time", "lev", "j", "i"), values.astype(np.float32),
                    {"standard_name": "sea_water_potential_temperature", "units": "degC"})},
        coords={"time": ("time", 30.0 * month + 15, {"units": "days since 2000-01-01",
                                                      "calendar": "360_day"}),
                "lev": ("lev", depth, {"units": "m", "positive": "down", "axis": "Z"}),
                lat_name: (("j", "i"), lat, {"standard_name": "latitude",
                                             "units": "degrees_north"}),
                lon_name: (("j", "i"), lon, {"standard_name": "longitude",
                                             "units": "degrees_east"})},
        attrs={"source_id": model, "variant_label": member, "grid_label": "gn"})
    path = folder / f"thetao_Omon_{model}_historical_{member}_gn_200001-200012.nc"
    ds.to_netcdf(path)
    return path


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmip6")
    grid_a, grid_b = curvilinear_grid(120, 240, 3.0), curvilinear_grid(100, 300, -2.0)
    depth_a, depth_b = np.array([5.0, 50.0, 150.0, 400.0]), np.array([2.0, 30.0, 100.0, 300.0,
                                                                     600.0])
    write_run(folder, "MODEL-A", "r1i1p1f1", grid_a, depth_a, ("latitude", "longitude"))
    write_run(folder, "MODEL-A", "r2i1p1f1", grid_a, depth_a, ("latitude", "longitude"))
    write_run(folder, "MODEL-B", "r1i1p1f1", grid_b, depth_b, ("nav_lat", "nav_lon"))
    return folder


def test_two_curvilinear_models_onto_en4_train_climatology(two_models):
    with pytest.warns(RegridWarning):
        source = CMIP6Source(str(two_models / "thetao_*.nc"), test_members=["r2i1p1f1"])
    grid = source.grid
    # EN4's latitudes inside the models' extent (down to about 80 °S): none invented south
    first_lat = curvilinear_grid(100, 300, -2.0)[0]  # MODEL-B's, the first run's grid
    half = np.median(np.abs(np.diff(first_lat, axis=0))) / 2  # half a cell beyond the centres
    inside = (EN4_LAT >= first_lat.min() - half) & (EN4_LAT <= first_lat.max() + half)
    np.testing.assert_allclose(grid.lat, EN4_LAT[inside])
    np.testing.assert_allclose(grid.lon, EN4_LON)
    assert grid.depth[-1] <= 400.0 and grid.depth.size == 21  # EN4 levels above 400 m
    train, test = source.split("train"), source.split("test")
    assert sorted(set(train["model"].values)) == ["MODEL-A", "MODEL-B"]
    assert set(test["member"].values) == {"r2i1p1f1"} and test.sizes["time"] == 12
    grid.check_field(train)
    land = (grid.lon > 250) & (grid.lon < 290)
    assert not grid.ocean[0][np.ix_(grid.lat > -58, land)].any()  # land in both models
    assert not grid.ocean[-1][grid.lat < -1].any()  # sea floor of the south

    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    expected = temperature(lat2, lon2, grid.depth[2], 0)
    error = np.abs(train.values[0, 2] - expected)[grid.ocean[2]]
    assert np.median(error) < 0.3 and error.max() < 2.0  # bin averaging of smooth fields

    method = make_method("climatology").fit(train, grid)
    recon = method.reconstruct(test.where(np.zeros(test.shape, bool)))
    assert np.isfinite(recon.values[:, grid.ocean]).all()


def test_several_runs_need_a_common_target(two_models):
    with pytest.raises(InputError, match="common target"):
        CMIP6Source(str(two_models / "thetao_*.nc"), grid="native")
