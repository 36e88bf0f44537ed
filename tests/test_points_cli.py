"""Command line on point observations: describe an Argo file, reconstruct from points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from reconbench.benchmark.suite import load_suite
from reconbench.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_describe_argo_file(shared_data, capsys):
    assert main(["describe", str(shared_data / "argo_profiles" / "2901623_prof.nc")]) == 0
    out = capsys.readouterr().out
    assert "8339 points in 98 profiles of 1 platforms" in out
    assert "2010-05         3     234" in out and "dropped: 2 points failing QC" in out


def test_reconstruct_from_argo_points_on_a_dataset_grid(shared_data, tmp_path, capsys,
                                                        monkeypatch):
    monkeypatch.setenv("RECONBENCH_SHARED_DATA", str(shared_data))
    out = tmp_path / "rec.nc"
    assert main(["reconstruct", "--points", str(shared_data / "argo_profiles" /
                                               "2901623_prof.nc"),
                 "--train-dataset", "netcdf", "--dataset-param", "paths=ocean_atlas_subset.nc",
                 "--dataset-param", "variable=TEMP", "--dataset-param", "units=degC",
                 "--dataset-param", "depths=[10, 100, 500]", "-m", "climatology",
                 "-o", str(out)]) == 0
    assert "guidance: 8339 points in 98 profiles" in capsys.readouterr().out
    field = xr.open_dataset(out)["thetao"]
    assert field.sizes["time"] == 33 and list(field["depth"].values) == [10.0, 100.0, 500.0]
    assert str(field["time"].values[0])[:10] == "2010-05-15"


def test_reconstruct_bad_csv_is_one_line_and_writes_nothing(tmp_path, capsys):
    lat, lon = np.arange(-85, 90, 10.0), np.arange(5, 360, 10.0)
    times = pd.date_range("2000-01-15", periods=12, freq="MS").values
    train = xr.DataArray(np.ones((12, 1, lat.size, lon.size), np.float32) * 15,
                         dims=("time", "depth", "lat", "lon"),
                         coords={"time": times, "depth": [5.0], "lat": lat, "lon": lon},
                         name="thetao", attrs={"units": "degC"})
    train["depth"].attrs["units"] = "m"
    train.to_netcdf(tmp_path / "train.nc")
    pd.DataFrame({"time": ["2001-01-01"], "lat": [0.0], "lon": [0.0], "depth": [5.0]}
                 ).to_csv(tmp_path / "obs.csv", index=False)
    assert main(["reconstruct", "--points", str(tmp_path / "obs.csv"), "--train",
                 str(tmp_path / "train.nc"), "-m", "climatology", "-o",
                 str(tmp_path / "out.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "obs.csv" in err and "'value'" in err
    assert not (tmp_path / "out.nc").exists()


def test_shipped_argo_ose_suite_parses():
    suite = load_suite("argo-ose")
    assert suite.observations["paths"] == "argo_profiles/*_prof.nc"
    assert set(suite.mask_kinds) == {"platform", "profile"}
    names = {m.name for m in suite.methods}
    assert {"climatology", "linear", "oi", "kriging", "dineof"} <= names


def test_ose_suite_runs_and_rows_say_at_withheld_observations(shared_data, tmp_path,
                                                              monkeypatch):
    from reconbench.benchmark.runner import run_suite
    from reconbench.benchmark.suite import parse_suite

    monkeypatch.setenv("RECONBENCH_SHARED_DATA", str(shared_data))
    text = load_suite("argo-ose").source_text
    text = text.replace("seeds = [0, 1]", "seeds = [0]").replace("samples = 4",
                                                                       "samples = 2")
    text = text.split("[[methods]]")[0] + '[[methods]]\nname = "climatology"\n'
    store = run_suite(parse_suite(text, "test"), tmp_path / "r", progress=False)
    rows = pd.read_parquet(store.root / "results.parquet")
    scored = rows[rows.point_set == "withheld_obs"]
    pooled = scored[scored.depth.isna()].pivot_table(index=["mask_kind", "sample"],
                                                     columns="metric", values="value")
    assert (pooled["n_points"] > 0).all() and (pooled["n_platforms"] >= 1).all()
    np.testing.assert_allclose(pooled["rmse"] ** 2, pooled["mse"])
    from reconbench.reports.report import build_report

    report = build_report(store)
    section = next(s for s in report.sections if s.heading == "At withheld observations")
    assert any("at withheld observations" in t.title for t in section.tables)


def test_reconstruct_writes_the_variance_of_a_method_that_gives_one(tmp_path, monkeypatch,
                                                                     capsys):
    from reconbench.methods import registry
    from reconbench.methods.climatology import Climatology

    class ClimatologyWithVariance(Climatology):
        """The climatology with a constant variance of 0.25 °C² (a test double of a method
        with uncertainty)."""

        uncertainty = "variance"

        def reconstruct_distribution(self, obs):
            mean = self.reconstruct(obs)
            return xr.Dataset({"mean": mean, "variance": mean * 0 + 0.25})

    registry.method_names()  # discover the built-in methods first
    monkeypatch.setitem(registry.METHODS._classes, "clim-var", ClimatologyWithVariance)
    lat, lon = np.arange(-85, 90, 10.0), np.arange(5, 360, 10.0)
    times = pd.date_range("2000-01-15", periods=12, freq="MS").values
    train = xr.DataArray(np.full((12, 1, lat.size, lon.size), 15, np.float32),
                         dims=("time", "depth", "lat", "lon"),
                         coords={"time": times, "depth": [5.0], "lat": lat, "lon": lon},
                         name="thetao", attrs={"units": "degC"})
    train["depth"].attrs["units"] = "m"
    train.to_netcdf(tmp_path / "train.nc")
    pd.DataFrame({"time": ["2001-01-01"], "lat": [0.0], "lon": [0.0], "depth": [5.0],
                  "value": [20.0]}).to_csv(tmp_path / "obs.csv", index=False)
    assert main(["reconstruct", "--points", str(tmp_path / "obs.csv"), "--train",
                 str(tmp_path / "train.nc"), "-m", "clim-var", "--uncertainty", "-o",
                 str(tmp_path / "out.nc")]) == 0
    ds = xr.open_dataset(tmp_path / "out.nc")
    assert float(ds["thetao_variance"].max()) == 0.25 and float(ds["thetao"].max()) == 15
