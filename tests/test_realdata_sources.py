"""Every real file in ../shared/data through the generic source, checked against hand counts.

The expected numbers were counted directly from the files with numpy (finite
cells of the first time step; for 2° the cos-latitude-weighted wet share of each
2 x 2 block, >= 0.5) and agree with what the suite's regridding gives.
"""

import numpy as np
import pytest
import xarray as xr

from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.store import ResultsStore
from reconbench.benchmark.suite import load_suite, parse_suite
from reconbench.datasets.cf import CFSource
from reconbench.datasets.regrid import RegridWarning
from reconbench.errors import InputError
from reconbench.reports.report import build_report, to_markdown

pytestmark = pytest.mark.realdata


def test_cobe_one_year_native(shared_data):
    source = CFSource(str(shared_data / "cobe_sst2" / "year1950.nc"), variable="sst")
    grid = source.grid
    assert grid.shape == (1, 180, 360) and grid.depth.tolist() == [0.0]
    assert grid.lat[0] == -89.5 and grid.lat[-1] == 89.5  # the file is descending
    assert grid.ocean.sum() == 43799  # 67.59 % of the cells
    field = source.split("train")
    assert field.sizes["time"] == 12 and field.attrs["source_units"] == "degC"
    assert np.nanmin(field.values) == pytest.approx(-1.855, abs=1e-3)
    assert np.nanmax(field.values) == pytest.approx(33.195, abs=1e-3)
    raw = xr.open_dataset(shared_data / "cobe_sst2" / "year1950.nc")["sst"].values
    np.testing.assert_array_equal(field.values[:, 0], raw[:, ::-1])


def test_cobe_fifty_years_at_two_degrees(shared_data):
    with pytest.warns(RegridWarning, match="635 of 43799 source ocean cells"):
        source = CFSource(str(shared_data / "cobe_sst2" / "year*.nc"), variable="sst", grid=2.0,
                          train_years=[1950, 1979], val_years=[1980, 1989],
                          test_years=[1990, 1999])
    assert source.grid.shape == (1, 90, 180)
    assert source.grid.ocean_fraction[0] == pytest.approx(0.68142, abs=1e-5)
    assert [source.split_times(s).size for s in ("train", "val", "test")] == [360, 120, 120]
    assert str(source.split_times("test")[0])[:7] == "1990-01"
    source.grid.check_field(source.split("test"))


def test_ocean_atlas_subset(shared_data):
    with pytest.warns(UserWarning, match="declares no units"):
        source = CFSource(str(shared_data / "ocean_atlas_subset.nc"), variable="TEMP",
                          test_months=[3, 6, 9, 12])
    grid = source.grid
    assert grid.shape == (19, 90, 180)
    assert grid.depth[0] == 0.0 and grid.depth[-1] == 1000.0
    assert grid.lon[0] == 0.5 and grid.lon[-1] == 358.5  # 20.5 .. 378.5 wrapped
    assert grid.ocean_fraction[0] == pytest.approx(0.64914, abs=1e-5)
    assert grid.ocean_fraction[-1] == pytest.approx(0.56056, abs=1e-5)
    test = source.split("test")
    assert test["time"].dt.month.values.tolist() == [3, 6, 9, 12]
    raw = xr.open_dataset(shared_data / "ocean_atlas_subset.nc", decode_times=False)["TEMP"]
    # raw longitude index 0 is 20.5 °E, index 10 on the wrapped grid; raw TIME index 2 = March
    np.testing.assert_array_equal(test.values[0, :, :, 10], raw.values[2, :, :, 0])


def test_basin_mask_levels_as_a_static_field(shared_data):
    # not a temperature: loaded with units forced, to check its 33 depths and per-level mask
    source = CFSource(str(shared_data / "basin_mask.nc"), variable="basin", units="degC")
    grid = source.grid
    assert grid.shape == (33, 180, 360) and grid.depth[-1] == 5500.0
    assert grid.ocean_fraction[0] == pytest.approx(0.63975, abs=1e-5)
    assert grid.ocean_fraction[-1] == pytest.approx(0.08309, abs=1e-5)
    # one time step and no split setting: the test split, for methods that need no training
    assert source.split_times("test").size == 1 and source.split_times("train").size == 0


@pytest.mark.parametrize("suite", ["cobe", "atlas"])
def test_real_suites_fail_clearly_without_the_data(suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONBENCH_SHARED_DATA", str(tmp_path / "absent"))
    with pytest.raises(InputError, match="no file matches .*set RECONBENCH_SHARED_DATA"):
        run_suite(load_suite(suite), tmp_path / "results", progress=False)


def test_atlas_suite_end_to_end_small(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RECONBENCH_SHARED_DATA", str(shared_data))
    text = load_suite("atlas").source_text
    text = text.replace("samples = 4", "samples = 1").replace(
        "missing_rates = [0.5, 0.9, 0.925]", "missing_rates = [0.9]")
    store = run_suite(parse_suite(text, "atlas (small)"), tmp_path / "results", progress=False)
    report = to_markdown(build_report(ResultsStore(store.root)))
    assert "ocean-atlas-2deg" in report and "| climatology |" in report
