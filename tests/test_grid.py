"""Grid axes, validation, weights and fields."""

import numpy as np
import pytest
import xarray as xr

from reconbench.datasets.grid import DEFAULT_DEPTHS, EN4_DEPTHS, Grid, regular_axes
from reconbench.errors import InputError


def small_grid():
    lat, lon = regular_axes(30.0)
    ocean = np.ones((2, lat.size, lon.size), dtype=bool)
    ocean[:, 0, 0] = False
    ocean[1, :, :3] = False
    return Grid(lat, lon, np.array([5.0, 500.0]), ocean, name="small")


def test_regular_axes():
    lat, lon = regular_axes(4.0)
    assert lat.size == 45 and lon.size == 90
    assert lat[0] == -88.0 and lat[-1] == 88.0 and lon[0] == 2.0 and lon[-1] == 358.0
    with pytest.raises(InputError, match="divide 180"):
        regular_axes(7.0)


def test_depth_axes():
    assert EN4_DEPTHS.size == 42 and EN4_DEPTHS[-1] == pytest.approx(5350.272)
    assert DEFAULT_DEPTHS.size == 16
    assert DEFAULT_DEPTHS[0] == pytest.approx(5.02, abs=0.01)
    assert 1900 < DEFAULT_DEPTHS[-1] < 2200


def test_area_weights_and_fraction():
    grid = small_grid()
    w = grid.area_weights
    assert w.shape == (6, 12)
    np.testing.assert_allclose(w[:, 0], np.cos(np.deg2rad(grid.lat)))
    assert grid.ocean_fraction[0] == pytest.approx(71 / 72)
    assert grid.ocean_fraction[1] == pytest.approx((72 - 18) / 72)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lat": np.array([10.0, 0.0])}, "lat must be strictly ascending"),
    ({"lon": np.array([-200.0, 10.0])}, r"lon must lie in \[0, 360\)"),
    ({"lon": np.array([5.0, 370.0])}, r"lon must lie in \[0, 360\)"),
    ({"depth": np.array([-5.0])}, "positive down"),
    ({"ocean": np.ones((2, 2, 2), dtype=bool)}, "ocean mask must have shape"),
    ({"ocean": np.zeros((1, 2, 2), dtype=bool)}, "grid has no ocean cell"),
])
def test_invalid_grids(kwargs, message):
    args = {"lat": np.array([0.0, 10.0]), "lon": np.array([0.0, 10.0]), "depth": np.array([5.0]),
            "ocean": np.ones((1, 2, 2), dtype=bool)} | kwargs
    with pytest.raises(InputError, match=message):
        Grid(**args)


def test_field_and_check():
    grid = small_grid()
    time = np.array(["2000-01-15", "2000-02-15"], dtype="datetime64[ns]")
    field = grid.field(np.ones((2, *grid.shape)), time)
    assert field.dims == ("time", "depth", "lat", "lon") and field.dtype == np.float32
    assert np.isnan(field.values[:, ~grid.ocean]).all()
    assert field.attrs["units"] == "degC" and field["depth"].attrs["positive"] == "down"
    grid.check_field(field)
    bad = field.copy()
    bad.values[1, 0, 3, 4] = np.inf
    with pytest.raises(InputError, match="infinite values inside the ocean"):
        grid.check_field(bad)
    with pytest.raises(InputError, match="must have dims"):
        grid.check_field(field.transpose("time", "lat", "lon", "depth"))


def test_dataset_roundtrip_and_key(tmp_path):
    grid = small_grid()
    path = tmp_path / "grid.nc"
    grid.to_dataset().to_netcdf(path)
    back = Grid.from_dataset(xr.open_dataset(path))
    assert back.same_as(grid) and back.name == "small"
    other = Grid(grid.lat, grid.lon, grid.depth, ~grid.ocean)
    assert not other.same_as(grid)
