"""Gridded guidance in an OSE suite: a cloudy CF field's observed cells join the Argo
super-observations (real NetCDF files written and read, the shared Argo floats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from reconbench.benchmark.gridded_guidance import load_guidance, parse_guidance
from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.suite import load_suite, parse_suite
from reconbench.cli import main
from reconbench.datasets.build import make_source
from reconbench.datasets.grid import Grid, regular_axes
from reconbench.errors import ConfigError, InputError

COORDS = {"lat": {"units": "degrees_north", "standard_name": "latitude"},
          "lon": {"units": "degrees_east", "standard_name": "longitude"}}


def _write_cloudy(path, grid: Grid, surface: np.ndarray, first: str, last: str, cover=0.5):
    """A monthly surface field (time, lat, lon) °C on ``grid``'s axes from ``first`` to
    ``last``, NaN under random clouds over ``cover`` of the cells; and its ocean file."""
    months = pd.date_range(first, last, freq="MS") + pd.Timedelta(days=14)
    rng = np.random.default_rng(0)
    values = surface[months.month - 1]
    values = np.where(rng.random(values.shape) < cover, np.nan, values).astype(np.float32)
    coords = {"lat": ("lat", grid.lat, COORDS["lat"]), "lon": ("lon", grid.lon, COORDS["lon"])}
    xr.Dataset({"sst": (("time", "lat", "lon"), values,
                        {"units": "degC", "standard_name": "sea_surface_temperature"})},
               coords={"time": months, **coords}).to_netcdf(path)
    ocean = path.with_name("ocean.nc")
    xr.Dataset({"ocean": (("lat", "lon"), grid.ocean[0].astype(np.int8))},
               coords=coords).to_netcdf(ocean)
    return path, ocean


def _suite(text: str, cloudy, ocean, method="linear"):
    guidance = (f'[observations.guidance]\npaths = "{cloudy}"\nvariable = "sst"\n'
                f'gappy = true\nland_mask = "{ocean}"\nlevels = [10.0]\n\n')
    text = text.replace("seeds = [0, 1]", "seeds = [0]").replace("samples = 4", "samples = 2")
    text = text.replace('mask_kinds = ["platform", "profile"]', 'mask_kinds = ["profile"]')
    text = text.split("[[methods]]")[0] + f'[[methods]]\nname = "{method}"\n'
    return parse_suite(text.replace("[[datasets]]", guidance + "[[datasets]]", 1), "test")


@pytest.fixture
def atlas(shared_data, monkeypatch):
    """The argo-ose suite's text and its dataset's source (the ocean atlas at 2°)."""
    monkeypatch.setenv("RECONBENCH_SHARED_DATA", str(shared_data))
    suite = load_suite("argo-ose")
    dataset = suite.datasets[0]
    return suite.source_text, make_source(dataset.name, **dataset.params)


def test_gridded_guidance_joins_the_argo_ose_and_is_counted(atlas, tmp_path):
    text, source = atlas
    surface = source.climatology().values[:, 0] + 0.5  # a warm-biased "satellite" SST
    cloudy, ocean = _write_cloudy(tmp_path / "cloudy.nc", source.grid, surface,
                                  "2005-01-01", "2023-12-01")
    points_only = text.split("[[methods]]")[0].replace("seeds = [0, 1]", "seeds = [0]")
    points_only = parse_suite(points_only.replace("samples = 4", "samples = 2").replace(
        'mask_kinds = ["platform", "profile"]', 'mask_kinds = ["profile"]')
        + '[[methods]]\nname = "linear"\n', "test")
    with_gridded = _suite(text, cloudy, ocean)
    assert with_gridded.observations["guidance"]["split"] == "all"
    assert with_gridded.config_hash != points_only.config_hash
    rows = {}
    for name, suite in (("points", points_only), ("gridded", with_gridded)):
        store = run_suite(suite, tmp_path / name, progress=False)
        scored = pd.read_parquet(store.root / "results.parquet")
        scored = scored[(scored.point_set == "withheld_obs") & scored.depth.isna()]
        rows[name] = scored.pivot_table(index="sample", columns="metric", values="value")
    gridded, points = rows["gridded"], rows["points"]
    assert (gridded["n_gridded_cells"] > 1000).all() and gridded["n_gridded_dropped"].sum() > 0
    assert (gridded["n_superobs_cells"] > 0).all() and "n_gridded_cells" not in points
    # the same withheld points are scored, and the guidance moved the reconstruction there
    np.testing.assert_array_equal(gridded["n_points"], points["n_points"])
    assert not np.allclose(gridded["mse"], points["mse"])


def test_observation_times_outside_the_guidance_span_stop_the_run(atlas, tmp_path, capsys):
    text, source = atlas
    cloudy, ocean = _write_cloudy(tmp_path / "cloudy.nc", source.grid,
                                  source.climatology().values[:, 0], "2010-01-01", "2011-12-01")
    with pytest.raises(InputError, match=r"observations 2901623_prof.nc, .* and 5 more run from "
                       r"2005-08-28 to 2023-04-13, outside the span of the gridded guidance "
                       r".*cloudy.nc' \(24 months, 2010-01 .. 2011-12\)"):
        run_suite(_suite(text, cloudy, ocean), tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "results.parquet").exists()
    assert not list((tmp_path / "r").glob("cells/*"))
    # the command line says it in one line, before any cell
    suite_file = tmp_path / "ose.toml"
    suite_file.write_text(_suite(text, cloudy, ocean).source_text)
    assert main(["run", str(suite_file), "--results", str(tmp_path / "cli"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("reconbench: error: observations ")
    assert "(24 months, 2010-01 .. 2011-12)" in err
    assert not list((tmp_path / "cli").glob("cells/*"))


def _grid(resolution=10.0, depth=(10.0, 50.0)):
    lat, lon = regular_axes(resolution)
    return Grid(lat, lon, np.array(depth), np.ones((len(depth), lat.size, lon.size), bool))


def test_guidance_on_another_grid_or_level_is_one_clear_error(tmp_path):
    grid = _grid()
    surface = np.full((12, grid.lat.size, grid.lon.size), 15.0)
    cloudy, ocean = _write_cloudy(tmp_path / "c.nc", grid, surface, "2019-01-01", "2019-12-01")
    config = parse_guidance({"paths": str(cloudy), "variable": "sst", "gappy": True,
                             "land_mask": str(ocean), "levels": [10.0]}, "suite")
    guidance = load_guidance(config, grid)
    assert guidance.values.shape == (12, 2, grid.lat.size, grid.lon.size)
    assert np.isnan(guidance.values[:, 1]).all()  # only the 10 m level has guidance
    np.testing.assert_array_equal(guidance.values[:, 0][np.isfinite(guidance.values[:, 0])],
                                  15.0)
    with pytest.raises(InputError, match="c.nc' is on a 18 x 36 grid.*expected the OSE "
                                         "dataset's 9 x 18 grid"):
        load_guidance(config, _grid(20.0))
    with pytest.raises(InputError, match="level.s. at 30 m are not levels of the OSE grid"):
        load_guidance({**config, "levels": [30.0]}, grid)
    with pytest.raises(ConfigError, match="split must be 'all'"):
        parse_guidance({"paths": "x.nc", "split": "later"}, "suite")
