"""Stored truths and ``reconstruct`` outputs carry the source's own CF standard name."""

import xarray as xr
from cf_files import write
from cli_process import cli
from test_real_files import snapshot_suite

from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.suite import parse_suite
from reconbench.datasets.cf import CFSource


def test_cobe_sst2_truth_is_sea_surface_temperature(shared_data, tmp_path):
    path = shared_data / "cobe_sst2" / "year1950.nc"  # its sst has no standard_name
    text = snapshot_suite(path, "nearest", 'variable = "sst"\ngrid = 10\ntest_years = 1950')
    store = run_suite(parse_suite(text), tmp_path / "res", progress=False)
    (label,) = store.metadata()["grids"]
    assert store.truth(label).attrs["standard_name"] == "sea_surface_temperature"


def test_a_files_own_standard_name_passes_through(tmp_path):
    path = write(tmp_path / "ct.nc", standard_name="sea_water_conservative_temperature",
                 months=[0, 1])
    source = CFSource(str(path), test_years=2000)
    assert source.split("test").attrs["standard_name"] == "sea_water_conservative_temperature"
    store = run_suite(parse_suite(snapshot_suite(path, "nearest", "test_years = 2000")),
                      tmp_path / "res", progress=False)
    assert store.truth("netcdf").attrs["standard_name"] == "sea_water_conservative_temperature"
    obs = xr.open_dataset(path).load()
    obs["thetao"][:, :, ::2] = float("nan")
    obs.to_netcdf(tmp_path / "obs.nc")
    out = cli("reconstruct", tmp_path / "obs.nc", "--train", path, "-m", "nearest",
              "-o", tmp_path / "r.nc")
    assert out.returncode == 0, out.stderr
    with xr.open_dataset(tmp_path / "r.nc") as written:
        assert written["thetao"].attrs["standard_name"] == "sea_water_conservative_temperature"


def test_without_a_standard_name_depth_decides(tmp_path):
    surface = CFSource(str(write(tmp_path / "s.nc", depth=None, standard_name=None)),
                       variable="thetao")
    levels = CFSource(str(write(tmp_path / "l.nc", standard_name=None)), variable="thetao")
    assert surface.split("train").attrs["standard_name"] == "sea_surface_temperature"
    assert levels.split("train").attrs["standard_name"] == "sea_water_temperature"
