"""Gridded files as they come: regional seas, daily series, single snapshots, units as
files write them, gappy data; each case written as a real NetCDF file and read through
the ``netcdf`` dataset, suites, ``describe`` and ``reconstruct``."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from cf_files import write
from cli_process import assert_user_error, in_process

from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.suite import parse_suite
from reconbench.datasets.cf import CFSource, celsius_conversion, units_registry
from reconbench.datasets.times import describe_times
from reconbench.errors import InputError


def field_file(path, lat, lon, times, depth=None, units="degC", offset=0.0, gaps=()):
    """A (time[, depth], lat, lon) file of a smooth known field: 20 - 0.1 lat + 0.05 lon
    - 0.01 depth + 0.1 step; ``times`` as (values, units); ``gaps``: (t, i, j) made NaN."""
    values, time_units = times
    depth_axis = [0.0] if depth is None else depth
    t = np.arange(len(values))[:, None, None, None]
    z = np.asarray(depth_axis)[None, :, None, None]
    y, x = np.asarray(lat)[None, None, :, None], np.asarray(lon)[None, None, None, :]
    data = (20.0 - 0.1 * y + 0.05 * x - 0.01 * z + 0.1 * t + offset).astype(np.float32)
    for step, i, j in gaps:
        data[step, :, i, j] = np.nan
    coords = {"time": ("time", values, {"units": time_units, "standard_name": "time"}),
              "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
              "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"})}
    attrs = {"standard_name": "sea_water_potential_temperature", "units": units}
    if depth is None:
        dims, data = ("time", "lat", "lon"), data[:, 0]
    else:
        dims = ("time", "depth", "lat", "lon")
        coords["depth"] = ("depth", depth, {"units": "m", "positive": "down", "axis": "Z"})
    xr.Dataset({"thetao": (dims, data, attrs)}, coords=coords).to_netcdf(path)
    return path


BOX_LAT = np.arange(40.5, 44.0, 1.0)  # 4 rows
BOX_LON = np.arange(-3.5, 3.0, 1.0)  # 7 columns across the prime meridian
MONTHS = (np.arange(24) * 30.0 + 15.0, "days since 2000-01-01")


# -- regional grids ------------------------------------------------------------------------
@pytest.fixture
def box(tmp_path):
    return field_file(tmp_path / "box.nc", BOX_LAT, BOX_LON, MONTHS)


def test_regional_box_keeps_its_extent_and_frame(box):
    source = CFSource(str(box))
    np.testing.assert_allclose(source.grid.lon, BOX_LON)  # as the file writes them
    np.testing.assert_allclose(source.grid.lat, BOX_LAT)
    assert source.grid.ocean.all()


def test_regional_box_at_a_coarser_resolution_is_never_filled_outside(box):
    source = CFSource(str(box), grid=2.0)
    # the 2° cells whose centres lie inside the box (-4 .. 3 °E, 40 .. 44 °N)
    np.testing.assert_allclose(source.grid.lat, [41.0, 43.0])
    np.testing.assert_allclose(source.grid.lon, [-3.0, -1.0, 1.0, 3.0])
    values = source.split("train").values
    # cell (41 °N, -1 °E) averages the four source cells at 40.5/41.5 °N, -1.5/-0.5 °E
    weights = np.cos(np.deg2rad([40.5, 40.5, 41.5, 41.5]))
    cells = [20.0 - 0.1 * y + 0.05 * x for y, x in
             [(40.5, -1.5), (40.5, -0.5), (41.5, -1.5), (41.5, -0.5)]]
    assert values[0, 0, 0, 1] == pytest.approx(np.average(cells, weights=weights), abs=1e-5)
    # the 3 °E column holds the source's 2.5 °E cells only: no value from outside the box
    assert values[0, 0, 0, 3] == pytest.approx(
        np.average([20 - 0.1 * 40.5 + 0.05 * 2.5, 20 - 0.1 * 41.5 + 0.05 * 2.5],
                   weights=weights[::2]), abs=1e-5)


def test_sub_box_of_a_global_file(tmp_path):
    path = write(tmp_path / "global.nc")  # 10° global grid
    source = CFSource(str(path), lat_range=[-20, 20], lon_range=[-30, 30], grid=10.0)
    np.testing.assert_allclose(source.grid.lon, [-25, -15, -5, 5, 15, 25])
    np.testing.assert_allclose(source.grid.lat, [-15, -5, 5, 15])


def test_region_outside_the_source_names_both_extents(box):
    with pytest.raises(InputError, match=r"the requested region \(lat 40 .. 50 °N, lon -3 .. 2 "
                                         r"°E\) extends outside the extent of .*box\.nc'\) \(lat "
                                         r"40 .. 44 °N, lon -4 .. 3 °E\)"):
        CFSource(str(box), lat_range=[40, 50], lon_range=[-3, 2])


def test_target_grid_that_misses_the_source(box):
    with pytest.raises(InputError, match=r"the target grid '20deg' .* does not overlap the extent "
                                         r"of variable 'thetao' of .*box\.nc' \(lat 40 .. 44 °N, "
                                         r"lon -4 .. 3 °E\)"):
        CFSource(str(box), grid=20.0)


def test_describe_shows_the_regional_range(box, capsys):
    out = in_process(capsys, "describe", "netcdf", "-p", f"paths='{box}'")
    assert out.returncode == 0, out.stderr
    assert "lon -3.5 .. 2.5 °E" in out.stdout
    assert "train: 24 months, 2000-01 .. 2001-12" in out.stdout


def test_shipped_regional_suite_parses():
    from reconbench.benchmark.suite import load_suite
    suite = load_suite("cobe-box")
    assert suite.datasets[0].params["lon_range"] == [-30, 10]


def test_regional_suite_on_cobe(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RECONBENCH_SHARED_DATA", str(shared_data))
    from reconbench.benchmark.suite import load_suite
    text = load_suite("cobe-box").source_text.replace("samples = 4", "samples = 1")
    store = run_suite(parse_suite(text, "cobe-box (small)"), tmp_path / "res", progress=False)
    rows = pd.read_parquet(store.root / "results.parquet")
    rmse = rows[(rows.metric == "rmse") & (rows.point_set == "evaluation")]
    assert rmse.value.notna().all() and (rmse.value < 3.0).all()


# -- daily data ----------------------------------------------------------------------------
DAYS = (np.arange(10.0), "days since 2000-01-01")


@pytest.fixture
def daily(tmp_path):
    return field_file(tmp_path / "daily.nc", BOX_LAT, BOX_LON, DAYS)


def test_daily_fraction_split(daily):
    source = CFSource(str(daily), split_fractions=[0.6, 0.2, 0.2])
    assert [source.split_times(s).size for s in ("train", "val", "test")] == [6, 2, 2]
    assert describe_times(source.split_times("test")) == "2 days, 2000-01-09 .. 2000-01-10"
    np.testing.assert_allclose(source.split("test").values[:, 0, 0, 0],
                               20 - 4.05 - 0.175 + 0.1 * np.array([8, 9]), atol=1e-5)


def test_daily_date_split(daily):
    source = CFSource(str(daily), train_dates=["2000-01-01", "2000-01-07"],
                      test_dates=["2000-01-08", "2000-01-10"])
    assert [source.split_times(s).size for s in ("train", "val", "test")] == [7, 0, 3]


def test_empty_date_split_names_resolution_and_span(daily):
    with pytest.raises(InputError, match=r"the test split of dataset 'netcdf' \(test_dates = "
                                         r"\['2001-01-01', '2001-01-31'\]\) selects no time step "
                                         r"of .*daily\.nc', which has 10 days, 2000-01-01 \.\. "
                                         r"2000-01-10"):
        CFSource(str(daily), test_dates=["2001-01-01", "2001-01-31"])


def test_daily_suite_scores(daily, tmp_path):
    text = f"""
name = "daily"
samples = 2
missing_rates = [0.5]
[[datasets]]
name = "netcdf"
paths = "{daily}"
split_fractions = [0.6, 0.2, 0.2]
[[methods]]
name = "linear"
"""
    store = run_suite(parse_suite(text), tmp_path / "res", progress=False)
    rows = pd.read_parquet(store.root / "results.parquet")
    assert sorted(set(rows[rows["sample"] >= 0].time)) == ["2000-01-09", "2000-01-10"]
    rmse = rows[(rows.metric == "rmse") & (rows.point_set == "evaluation")].value
    assert (rmse < 0.1).all()  # a plane: exact inside the hull, nearest fill at the edges


# -- a single time step ----------------------------------------------------------------------
LEVELS = np.linspace(0.0, 950.0, 20)


@pytest.fixture
def snapshot(tmp_path):
    return field_file(tmp_path / "woa.nc", BOX_LAT, BOX_LON, ([15.0], "days since 2000-01-01"),
                      depth=LEVELS)


def snapshot_suite(path, method, extra=""):
    return f"""
name = "snapshot"
samples = 1
missing_rates = [0.5]
[[datasets]]
name = "netcdf"
paths = "{path}"
{extra}
[[methods]]
name = "{method}"
"""


def test_single_step_is_the_test_split_and_nearest_runs(snapshot, tmp_path):
    source = CFSource(str(snapshot))
    assert source.grid.depth.size == 20 and source.split_times("test").size == 1
    store = run_suite(parse_suite(snapshot_suite(snapshot, "nearest")), tmp_path / "res",
                      progress=False)
    rows = pd.read_parquet(store.root / "results.parquet")
    levels = rows[(rows.metric == "rmse") & (rows.point_set == "evaluation")].depth
    assert levels.nunique() == 20


def test_single_step_refuses_a_method_that_needs_training(snapshot, tmp_path, capsys):
    (tmp_path / "s.toml").write_text(snapshot_suite(snapshot, "climatology"))
    out = in_process(capsys, "run", tmp_path / "s.toml", "--results", tmp_path / "res",
                     "--no-progress")
    assert_user_error(out, "method 'climatology' needs training but the train split of dataset "
                           "'netcdf' is empty (the dataset has 1 time step, 2000-01-16)")
    assert not (tmp_path / "res").exists()


def test_single_step_with_a_separate_training_source(snapshot, tmp_path):
    train = field_file(tmp_path / "monthly.nc", BOX_LAT, BOX_LON, MONTHS, depth=LEVELS)
    store = run_suite(parse_suite(snapshot_suite(snapshot, "climatology",
                                                 f'train_paths = "{train}"')),
                      tmp_path / "res", progress=False)
    rows = pd.read_parquet(store.root / "results.parquet")
    assert rows[rows.metric == "rmse"].value.notna().all()


# -- units as files write them ------------------------------------------------------------
@pytest.mark.parametrize(("units", "offset"), [("degree Celsius", 0.0), ("degrees_C", 0.0),
                                               ("Celsius", 0.0), ("K", 273.15),
                                               ("kelvin", 273.15)])
def test_units_spellings(tmp_path, units, offset):
    plain = CFSource(str(field_file(tmp_path / "c.nc", BOX_LAT, BOX_LON, MONTHS)))
    path = field_file(tmp_path / "u.nc", BOX_LAT, BOX_LON, MONTHS, units=units, offset=offset)
    source = CFSource(str(path))
    np.testing.assert_allclose(source.split("train").values, plain.split("train").values,
                               atol=2e-5)
    assert source.source_units == units
    # our conversion is pint's own, for a spelling pint knows
    pint_name = {"degree Celsius": "degree_Celsius", "degrees_C": "degC"}.get(units, units)
    scale, shift = celsius_conversion(units, "x")
    assert shift == pytest.approx(units_registry().Quantity(0.0, pint_name).to("degC").magnitude)
    assert scale == pytest.approx(1.0)


def test_units_override_in_describe_and_reconstruct(tmp_path, capsys):
    path = field_file(tmp_path / "k.nc", BOX_LAT, BOX_LON, MONTHS, units="degC", offset=273.15)
    out = in_process(capsys, "describe", "netcdf", "-p", f"paths='{path}'", "-p", "units='K'")
    assert out.returncode == 0, out.stderr
    assert "units: degC (file: degC; read as 'K' by the units parameter)" in out.stdout
    obs = tmp_path / "obs.nc"
    ds = xr.open_dataset(path).load()
    ds["thetao"][:, 1::2] = np.nan
    ds.to_netcdf(obs)
    recon = in_process(capsys, "reconstruct", obs, "--train", path, "-m", "nearest", "--units",
                       "K", "-o", tmp_path / "r.nc")
    assert recon.returncode == 0, recon.stderr
    written = xr.open_dataset(tmp_path / "r.nc")["thetao"]
    assert written.dims == ("time", "lat", "lon")  # (time, lat, lon) in, (time, lat, lon) out
    assert float(written[0, 0, 0]) == pytest.approx(20 - 4.05 - 0.175, abs=1e-4)


# -- every time step checked; gappy data ------------------------------------------------------
def test_inf_in_a_month_no_suite_samples(tmp_path):
    path = field_file(tmp_path / "a.nc", BOX_LAT, BOX_LON, MONTHS)
    ds = xr.open_dataset(path).load()
    ds["thetao"][17, 2, 3] = np.inf
    ds.to_netcdf(tmp_path / "b.nc")
    with pytest.raises(InputError, match=r"b\.nc' has an infinite value at 2001-06, depth 0 m, "
                                         r"lat 42\.5, lon -0\.5"):
        CFSource(str(tmp_path / "b.nc"))


def test_gap_names_date_and_cell(tmp_path):
    path = field_file(tmp_path / "g.nc", BOX_LAT, BOX_LON, MONTHS, gaps=[(5, 1, 2)])
    with pytest.raises(InputError, match=r"g\.nc' is NaN at 2000-06 at the ocean cell depth 0 m, "
                                         r"lat 41\.5, lon -1\.5, which is finite at 2000-01"):
        CFSource(str(path))


def test_kelvin_looking_values_without_units(tmp_path):
    path = field_file(tmp_path / "n.nc", BOX_LAT, BOX_LON, MONTHS, offset=273.15)
    ds = xr.open_dataset(path).load()
    del ds["thetao"].attrs["units"]
    ds.to_netcdf(tmp_path / "nounits.nc")
    with pytest.warns(UserWarning, match="declares no units"), \
            pytest.raises(InputError, match=r"declares no units but its value 288\.92 at 2000-01, "
                                            r"depth 0 m, lat 40\.5, lon -3\.5 looks like kelvin"):
        CFSource(str(tmp_path / "nounits.nc"))


def test_gappy_source_takes_the_ocean_from_a_land_mask(tmp_path):
    path = field_file(tmp_path / "g.nc", BOX_LAT, BOX_LON, MONTHS, gaps=[(5, 1, 2), (7, 0, 0)])
    mask = xr.Dataset({"ocean": (("lat", "lon"), np.ones((4, 7), np.int8))},
                      coords={"lat": ("lat", BOX_LAT, {"standard_name": "latitude"}),
                              "lon": ("lon", BOX_LON, {"standard_name": "longitude"})})
    mask["ocean"][:, 0] = 0  # the western column is land
    mask.to_netcdf(tmp_path / "mask.nc")
    source = CFSource(str(path), gappy=True, land_mask=str(tmp_path / "mask.nc"))
    assert source.gappy
    assert source.grid.ocean[0].sum() == 4 * 6 and not source.grid.ocean[0, :, 0].any()
    train = source.split("train").values
    assert np.isnan(train[5, 0, 1, 2]) and np.isfinite(train[4, 0, 1, 2])
