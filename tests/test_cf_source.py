"""The generic CF source (``netcdf``): every file form of issue 3 is written and loaded."""

import shutil

import numpy as np
import pytest
from cf_files import ALL_MONTHS, DEPTH, LAT, LON, N_MONTHS, month_days, truth, write

from reconbench.datasets.cf import CFSource
from reconbench.datasets.regrid import RegridWarning
from reconbench.errors import InputError


def load(path, **params) -> tuple[CFSource, np.ndarray]:
    """The source on ``path`` (all months train) and its train values (time, depth, lat, lon)."""
    source = CFSource(str(path), **params)
    return source, source.split("train").values


def assert_truth(source, values, depth=DEPTH, months=ALL_MONTHS):
    np.testing.assert_allclose(source.grid.lat, LAT)
    np.testing.assert_allclose(source.grid.lon, LON)
    np.testing.assert_allclose(source.grid.depth, depth)
    np.testing.assert_allclose(values, truth(depth=depth, months=months), atol=1e-4)
    assert np.array_equal(source.grid.ocean, np.isfinite(truth(depth=depth)[0]))


def test_canonical_file(tmp_path):
    source, values = load(write(tmp_path / "a.nc"))
    assert_truth(source, values)
    times = source.split("train")["time"].values
    assert str(times[0])[:10] == "2000-01-15" and str(times[-1])[:7] == "2001-12"


def test_descending_latitude(tmp_path):
    assert_truth(*load(write(tmp_path / "a.nc", lat=LAT[::-1])))


@pytest.mark.parametrize("lon", [np.arange(-175.0, 180.0, 10.0), np.arange(45.0, 400.0, 10.0)],
                         ids=["minus180-180", "wrapping-past-360"])
def test_longitude_conventions(tmp_path, lon):
    assert_truth(*load(write(tmp_path / "a.nc", lon=lon)))


@pytest.mark.parametrize("name", ["lev", "depth", "Z", "ZAXLEVIT19"])
@pytest.mark.parametrize("scale", [1.0, 100.0, -1.0, -100.0], ids=["m", "cm", "m-up", "cm-up"])
def test_depth_names_units_and_direction(tmp_path, name, scale):
    attrs = {"units": "cm" if abs(scale) == 100 else "m"}
    if scale < 0:
        attrs["positive"] = "up"
    assert_truth(*load(write(tmp_path / "a.nc", depth_name=name, depth_scale=scale,
                             depth_attrs=attrs)))


def test_levels_stored_bottom_up(tmp_path):
    assert_truth(*load(write(tmp_path / "a.nc", depth=DEPTH[::-1], depth_scale=-1.0)))


def test_kelvin_is_converted_and_recorded(tmp_path):
    source, values = load(write(tmp_path / "a.nc", units="K", offset=273.15))
    assert_truth(source, values)
    assert source.split("train").attrs["source_units"] == "K"


@pytest.mark.parametrize("encoding", [{"_FillValue": np.float32(-1e34)},
                                      {"_FillValue": None, "missing_value": np.float32(-999.0)}],
                         ids=["_FillValue", "missing_value"])
def test_fill_values(tmp_path, encoding):
    path = write(tmp_path / "a.nc", encoding={"dtype": "float32", **encoding})
    assert_truth(*load(path))


@pytest.mark.parametrize("calendar", ["noleap", "360_day"])
def test_cftime_calendars(tmp_path, calendar):
    source, values = load(write(tmp_path / "a.nc", calendar=calendar), test_years=2001)
    months = source.split("test")["time"].dt.month.values
    assert list(months) == list(range(1, 13))
    assert_truth(source, values, months=np.arange(12))


def test_surface_field_without_depth(tmp_path):
    source, values = load(write(tmp_path / "a.nc", depth=None,
                                standard_name="sea_surface_temperature"))
    assert source.grid.depth.tolist() == [0.0]
    np.testing.assert_allclose(values, truth()[:, :1], atol=1e-4)


@pytest.mark.parametrize("time", [
    (np.arange(12) * 730.0 + 366.0, {"units": "hour since 0000-01-01 00:00:00", "modulo": " "}),
    (np.arange(1, 13), {"units": "month"}),
], ids=["year-zero-hours", "month-numbers"])
def test_climatological_months(tmp_path, time):
    path = write(tmp_path / "a.nc", months=np.arange(12), time=time)
    source = CFSource(str(path), train_months=[1, 2, 4, 5, 7, 8, 10, 11],
                      test_months=[3, 6, 9, 12])
    test = source.split("test")
    assert test["time"].dt.month.values.tolist() == [3, 6, 9, 12]
    assert test.attrs["climatological"] == 1
    np.testing.assert_allclose(test.values, truth(months=[2, 5, 8, 11]), atol=1e-4)


@pytest.mark.parametrize("form", ["list", "glob"])
def test_many_files_split_by_years(tmp_path, form):
    for year, months in ((2000, np.arange(12)), (2001, np.arange(12, 24))):
        write(tmp_path / f"part{year}.nc", months=months,
              time=(month_days(N_MONTHS, "standard")[months],
                    {"units": "days since 2000-01-01", "calendar": "standard"}))
    paths = ([str(tmp_path / "part2001.nc"), str(tmp_path / "part2000.nc")] if form == "list"
             else str(tmp_path / "part*.nc"))
    source = CFSource(paths, train_years=[2000, 2000], test_years=[2001, 2001])
    assert_truth(source, source.split("train").values, months=np.arange(12))
    np.testing.assert_allclose(source.split("test").values, truth(months=np.arange(12, 24)),
                               atol=1e-4)
    assert source.split_times("val").size == 0
    with pytest.raises(InputError, match="val split .* is empty"):
        source.split("val")


def test_zarr_store(tmp_path):
    pytest.importorskip("zarr")
    import xarray as xr
    xr.open_dataset(write(tmp_path / "a.nc")).to_zarr(tmp_path / "a.zarr")
    assert_truth(*load(tmp_path / "a.zarr"))


def test_variable_by_standard_name_and_regridding(tmp_path):
    path = write(tmp_path / "a.nc", variable="temp_xyz")
    source = CFSource(str(path), variable="sea_water_potential_temperature", grid=20.0,
                      depths=[5.0, 20.0, 120.0])
    assert source.grid.lat.size == 9 and source.grid.depth.tolist() == [5.0, 20.0, 120.0]
    field = source.split("train")
    source.grid.check_field(field)
    expected = truth(depth=[5.0, 50.0])[:, :, :2, :2]  # cells of 20° hold 2 x 2 source cells
    np.testing.assert_allclose(field.values[:, 0, 0, 0],
                               np.average(expected[:, 0].reshape(N_MONTHS, -1), axis=1,
                                          weights=np.cos(np.deg2rad([-85, -85, -75, -75]))),
                               atol=1e-4)


def test_overlapping_splits_are_refused(tmp_path):
    with pytest.raises(InputError, match="train and test splits share"):
        CFSource(str(write(tmp_path / "a.nc")), train_years=[2000, 2001], test_years=2001)


# -- bad input: one clear line naming the file / variable and what was expected ---------------
def test_not_netcdf(tmp_path):
    path = tmp_path / "notes.nc"
    path.write_text("this is not a NetCDF file\n")
    with pytest.raises(InputError, match="notes.nc.*could not be read as NetCDF"):
        CFSource(str(path))


def test_truncated_file(tmp_path):
    path = write(tmp_path / "a.nc")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"a\.nc.*(could not be read|truncated)"):
        CFSource(str(path)).split("train")


def test_missing_variable_lists_the_variables(tmp_path):
    path = write(tmp_path / "a.nc", variable="so", standard_name="sea_water_salinity")
    with pytest.raises(InputError, match=r"no variable 'thetao'.*so \(sea_water_salinity\)"):
        CFSource(str(path), variable="thetao")


def test_unidentifiable_coordinates(tmp_path):
    path = write(tmp_path / "a.nc", lat_name="aa", lon_name="bb", coord_attrs=False)
    with pytest.raises(InputError, match="could not identify the latitude coordinate of "
                                         "variable 'thetao'"):
        CFSource(str(path))


def test_missing_files_name_both_places(tmp_path):
    with pytest.raises(InputError, match="no file matches 'nothing_here_\\*.nc'"):
        CFSource("nothing_here_*.nc")


def test_kelvin_looking_values_declared_celsius_are_refused(tmp_path):
    path = write(tmp_path / "a.nc", units="degC", offset=273.15)
    with pytest.raises(InputError, match=r"a\.nc' is read in 'degC' but its value 277\.35 at "
                                         r"2000-01, depth 5 m, lat -85, lon 5 looks like kelvin"):
        CFSource(str(path))


def test_finer_target_is_allowed_with_a_warning(tmp_path):
    with pytest.warns(RegridWarning, match="finer than the source"):
        source = CFSource(str(write(tmp_path / "a.nc")), grid=5.0)
    source.grid.check_field(source.split("train"))


def test_mixed_grids_are_an_error(tmp_path):
    write(tmp_path / "a1.nc")
    shutil.copy(write(tmp_path / "b.nc", lat=LAT[1:]), tmp_path / "a2.nc")
    with pytest.raises(InputError, match="a2.nc' is on a different grid from .*a1.nc"):
        CFSource(str(tmp_path / "a?.nc"))
