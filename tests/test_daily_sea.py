"""The daily regional cloudy suite (daily-sea): its synthetic file, read back through the
CF reader as a daily regional source, and the shipped suite run on a tiny version."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.suite import load_suite, parse_suite
from reconbench.benchmark.tune import TuneConfig, tune_suite
from reconbench.cli import main
from reconbench.datasets.build import make_source
from reconbench.datasets.daily_sea import ar1, daily_sea, write_daily_sea


def test_ar1_has_the_asked_memory_and_unit_variance():
    series = ar1(np.random.default_rng(0).standard_normal(200_000), efolding=10.0)
    assert series.var() == pytest.approx(1.0, abs=0.02)
    lag1 = np.corrcoef(series[1:], series[:-1])[0, 1]
    assert lag1 == pytest.approx(np.exp(-0.1), abs=0.01)


def test_the_file_reads_back_as_a_daily_regional_source(tmp_path):
    path = write_daily_sea(tmp_path / "sea.nc", lat_range=(30, 36), lon_range=(-20, -14),
                           resolution=1.0, n_days=800, seed=3)
    lat = np.arange(30.5, 36, 1.0)
    lon = np.arange(-19.5, -14, 1.0)
    expected = daily_sea(lat, lon, 800, seed=3)
    source = make_source("netcdf", paths=str(path), variable="sst",
                         train_years=[2000, 2000], test_years=[2001, 2001])
    assert source.grid.lat.tolist() == lat.tolist() and source.grid.lon.tolist() == lon.tolist()
    test = source.split("test")
    days = pd.DatetimeIndex(test["time"].values)
    assert days[0] == pd.Timestamp("2001-01-01") and (np.diff(days).astype("timedelta64[D]")
                                                      == np.timedelta64(1, "D")).all()
    np.testing.assert_allclose(test.values[:, 0], expected[366:731], rtol=1e-6)
    land = np.isnan(expected[0])
    assert land.any() and (~land).sum() > land.sum()  # a coast in the west, mostly sea
    assert np.array_equal(source.grid.ocean[0], ~land)
    # the seasonal cycle: August warmer than February by several degrees over the box
    with xr.open_dataset(path) as ds:
        monthly = ds.sst.groupby("time.month").mean()
        assert float((monthly.sel(month=8) - monthly.sel(month=2)).mean()) > 3.0


def test_the_shipped_suite_runs_and_tunes_on_a_tiny_version(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["make-daily-sea", "daily_sea.nc", "--resolution", "1.0"]) == 0
    shipped = load_suite("daily-sea")
    text = shipped.source_text.replace("samples = 12", "samples = 2").replace(
        "missing_rates = [0.5, 0.8, 0.95]", "missing_rates = [0.8]").replace(
        "max_modes = [10, 30, 60]", "max_modes = [3, 6]")
    suite = parse_suite(text)
    assert [m.name for m in suite.methods] == ["climatology", "linear", "oi", "kriging",
                                               "dineof"]
    assert suite.mask_kinds == ("clouds",)
    rows = run_suite(suite, tmp_path / "run", progress=False).consolidate()
    headline = rows[(rows.metric == "mse") & (rows.point_set == "evaluation")
                    & rows.depth.isna()]
    assert set(headline.method) == {m.label for m in suite.methods}
    assert set(headline.time.str[:4]) == {"2003"} and np.isfinite(headline.value).all()
    config = TuneConfig.from_suite(suite, trials=2, seconds=None)
    [outcome] = tune_suite(suite, tmp_path / "tune", config, only=["dineof"], progress=False)
    assert outcome.trials.finished.all() and len(outcome.trials) == 2
