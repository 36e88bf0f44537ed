"""Property: a corrupted CF file never ends in a silent success with changed numbers.

Random corruptions of a valid file (:func:`cf_files.write`, read as the ``netcdf``
dataset): NaN, infinite, fill or kelvin-looking values at random cells and times or everywhere,
repeated or shuffled time stamps, wrong or missing units, coordinates without their
attributes or names, truncated bytes, latitude, depth or longitude in another order.
Each read either stops with an :class:`InputError` of one line, or returns the clean
file's grid and numbers exactly. Real files written with xarray and read back;
hypothesis is derandomized so the examples are the same on every run.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from cf_files import DEPTH, LAT, LON, N_MONTHS, write
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconbench.datasets.cf import CFSource
from reconbench.errors import InputError

SPLITS = {"train_years": 2000, "test_years": 2001}
CELL = st.tuples(st.integers(0, N_MONTHS - 1), st.integers(0, DEPTH.size - 1),
                 st.integers(0, LAT.size - 1), st.integers(0, LON.size - 1))


def read(path: Path) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """The grid's axes and ocean, and the train and test values, of ``path`` read as suites do."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "declares no units" and regridding notes
        source = CFSource(str(path), **SPLITS)
    grid = source.grid
    return ((grid.lat, grid.lon, grid.depth, grid.ocean), source.split("train").values,
            source.split("test").values)


def raw(path: Path) -> xr.Dataset:
    """The file's contents as stored (times as numbers, no fill decoding)."""
    with xr.open_dataset(path, decode_times=False, mask_and_scale=False) as ds:
        return ds.load()


def save(ds: xr.Dataset, path: Path) -> None:
    ds.to_netcdf(path, encoding={"time": {"_FillValue": None}})


# -- the corruptions: each rewrites ``path`` ---------------------------------------------------
def patch(path, cell, value):
    ds = raw(path)
    ds["thetao"].values[cell] = value
    save(ds, path)


def shift(path, offset):
    """Every value moved by ``offset`` (kelvin written under units degC), fill kept."""
    ds = raw(path)
    values = ds["thetao"].values
    ds["thetao"].values[:] = np.where(values == 1e20, values, values + offset)
    save(ds, path)


def retime(path, order):
    ds = raw(path)
    save(ds.assign_coords(time=("time", ds["time"].values[order], ds["time"].attrs)), path)


def set_attrs(path, name, attrs):
    ds = raw(path)
    ds[name].attrs = attrs
    save(ds, path)


def rename(path, old, new):
    ds = raw(path)
    ds = ds.rename({old: new})
    ds[new].attrs = {}
    save(ds, path)


def truncate(path, fraction):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])


def reorder(path, dim, how):
    ds = raw(path)
    if how == "flip":
        ds = ds.isel({dim: slice(None, None, -1)})
    else:  # longitudes in [-180, 180), the western half first
        lon = np.where(ds["lon"].values >= 180, ds["lon"].values - 360, ds["lon"].values)
        ds = ds.assign_coords(lon=("lon", lon, ds["lon"].attrs)).sortby("lon")
    save(ds, path)


PERMUTATION = st.permutations(range(N_MONTHS)).filter(lambda p: list(p) != sorted(p))
CORRUPTIONS = st.one_of(
    st.tuples(st.just(patch), CELL, st.sampled_from([np.nan, np.inf, -np.inf, 1e20, 290.0,
                                                     -40.0, 1e6])),
    st.tuples(st.just(shift), st.sampled_from([273.15, -273.15, 100.0])),
    st.tuples(st.just(retime), PERMUTATION),
    st.tuples(st.just(retime), st.integers(1, N_MONTHS - 1).map(
        lambda k: [*range(k), k - 1, *range(k + 1, N_MONTHS)])),  # a repeated stamp
    st.tuples(st.just(set_attrs), st.just("thetao"), st.sampled_from(
        [{}, {"units": "K"}, {"units": "kelvin"}, {"units": "degF"}, {"units": "m"},
         {"units": "days"}, {"units": ""}]).map(lambda a: {"_FillValue": 1e20, **a})),
    st.tuples(st.just(set_attrs), st.sampled_from(["lat", "lon", "time", "depth"]),
              st.just({})),
    st.tuples(st.just(rename), st.sampled_from(["lat", "lon", "depth"]),
              st.sampled_from(["y_axis", "x_axis", "level"])),
    st.tuples(st.just(truncate), st.floats(0.05, 0.98)),
    st.tuples(st.just(reorder), st.sampled_from(["lat", "depth", "lon"]),
              st.sampled_from(["flip", "roll"])),
)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    path = write(tmp_path_factory.mktemp("clean") / "clean.nc")
    return path, read(path)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corruption=CORRUPTIONS)
def test_a_corrupted_file_is_refused_in_one_line_or_read_unchanged(clean, corruption,
                                                                   tmp_path_factory):
    path, (grid, train, test) = clean
    spoilt = tmp_path_factory.mktemp("spoilt") / "spoilt.nc"
    spoilt.write_bytes(path.read_bytes())
    how, *args = corruption
    if how is reorder and args[0] != "lon":
        args[1] = "flip"
    how(spoilt, *args)
    try:
        got_grid, got_train, got_test = read(spoilt)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc), str(exc)
        event(f"{how.__name__}: refused")  # --hypothesis-show-statistics counts the outcomes
        return
    event(f"{how.__name__}: read unchanged")
    for got, want in zip(got_grid, grid, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_train, train)
    np.testing.assert_array_equal(got_test, test)
