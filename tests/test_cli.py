"""The command line, run as a user would: real processes, real files, one-line errors
(every command at least once in a real process; further error cases in this process)."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from cli_process import assert_user_error, cli, in_process
from tiny_suite import tiny_suite

from reconbench.cli import main
from reconbench.datasets.build import make_source
from reconbench.datasets.masks import MaskSpec
from reconbench.methods.base import Method
from reconbench.methods.registry import register_method

pytestmark = pytest.mark.slow  # run first: see conftest.py

TINY = tiny_suite(["climatology", "linear"], [0.5, 0.925])


def test_list():
    out = cli("list")
    assert out.returncode == 0, out.stderr
    for word in ("synthetic", "climatology", "nearest", "linear", "random", "profiles", "quick"):
        assert word in out.stdout


@pytest.mark.parametrize("command", ["list", "describe", "run", "report", "reconstruct"])
def test_help(command):
    out = cli(command, "--help")
    assert out.returncode == 0 and "usage: reconbench" in out.stdout


def test_describe():
    out = cli("describe", "synthetic", "-p", "resolution=10", "-p", "train_years=2",
              "-p", "val_years=1", "-p", "test_years=1")
    assert out.returncode == 0, out.stderr
    assert "18 lat x 36 lon x 16 levels" in out.stdout and "test : 12 months" in out.stdout


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    (folder / "tiny.toml").write_text(TINY)
    out = cli("run", folder / "tiny.toml", "--results", folder / "res", "--report",
              "--no-progress")
    assert out.returncode == 0, out.stderr
    return folder


def test_run_writes_store_and_report(results, capsys):
    folder = results / "res" / "report"
    report = (folder / "report.md").read_text()
    assert "| method | 50 % missing | 92.5 % missing |" in report
    assert "| climatology |" in report and "paper MSE, evaluation" in report
    assert (folder / "report.html").is_file() and any((folder / "figures").glob("*.pdf"))
    out = in_process(capsys, "report", results / "res", "-o", results / "again")
    assert out.returncode == 0 and f"report: {results / 'again' / 'report.html'}" in out.stdout
    table = "tables/headline-synthetic-random.tex"
    assert (results / "again" / table).read_text() == (folder / table).read_text()


def test_report_compares_two_stores(results, capsys):
    out = in_process(capsys, "report", results / "res", results / "res", "-o", results / "cmp")
    assert out.returncode == 0, out.stderr
    assert "| 92.5 % | climatology |" in (results / "cmp" / "report.md").read_text()


@pytest.mark.parametrize(("suite", "fragments"), [
    (TINY + "\n[[methods]]\nname = 'krigging'\n", ["unknown method 'krigging'", "linear"]),
    (TINY.replace("0.925", "1.0"), ["missing rate must be in [0, 1)"]),
    (TINY.replace("0.925", "-0.5"), ["missing rate must be in [0, 1)"]),
    ("sampels = 3\n" + TINY, ["unknown key(s) sampels"]),
    (TINY.replace("name = \"linear\"", "name = \"linear\"\nwrap = 5"),
     ["unknown parameter(s) wrap for method 'linear'"]),
    (TINY.replace("name = \"synthetic\"", "name = \"cmip7\""), ["unknown dataset 'cmip7'"]),
])
def test_bad_suites_leave_results_intact(results, suite, fragments, capsys):
    before = (results / "res" / "results.parquet").read_bytes()
    cells = sorted(p.name for p in (results / "res" / "cells").iterdir())
    (results / "bad.toml").write_text(suite)
    out = in_process(capsys, "run", results / "bad.toml", "--results", results / "res",
                     "--no-progress")
    assert_user_error(out, *fragments)
    assert (results / "res" / "results.parquet").read_bytes() == before
    assert sorted(p.name for p in (results / "res" / "cells").iterdir()) == cells


def test_missing_inputs(tmp_path, capsys):
    assert_user_error(cli("run", tmp_path / "none.toml"), "does not exist")  # a real process
    assert_user_error(in_process(capsys, "report", tmp_path / "none"), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_user_error(in_process(capsys, "report", tmp_path / "empty"), "is not a results store")


@pytest.fixture(scope="module")
def netcdf_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nc")
    source = make_source("synthetic", resolution=10.0, train_years=2, val_years=1, test_years=1)
    source.split("train").to_netcdf(folder / "train.nc")
    truth = source.split("test").isel(time=[0, 1]).load()
    guidance = MaskSpec("random", 0.9, seed=0).build(source.grid, 2)
    truth.where(guidance).to_netcdf(folder / "obs.nc")
    return folder, truth, guidance


def test_reconstruct_writes_a_complete_field(netcdf_files):
    folder, truth, guidance = netcdf_files
    out = cli("reconstruct", folder / "obs.nc", "--train", folder / "train.nc",
              "-m", "linear", "-p", "wrap_degrees=30", "-o", folder / "recon.nc")
    assert out.returncode == 0, out.stderr
    recon = xr.open_dataset(folder / "recon.nc")["thetao"]
    ocean = np.isfinite(truth.values[0])
    assert np.isfinite(recon.values[:, ocean]).all() and np.isnan(recon.values[:, ~ocean]).all()
    np.testing.assert_allclose(recon.values[guidance], truth.values[guidance], rtol=1e-6)
    assert recon.attrs["reconstruction_method"] == "linear"


def test_reconstruct_bad_inputs(netcdf_files, capsys):
    folder, _, _ = netcdf_files
    (folder / "notes.nc").write_text("this is not NetCDF")
    base = ["--train", folder / "train.nc", "-m", "nearest", "-o", folder / "x.nc"]
    assert_user_error(cli("reconstruct", folder / "notes.nc", *base), "could not be read as NetCDF")
    assert_user_error(in_process(capsys, "reconstruct", folder / "obs.nc", *base, "--variable",
                                 "sst"), "has no variable 'sst'", "thetao")
    assert_user_error(in_process(capsys, "reconstruct", folder / "missing.nc", *base),
                      "does not exist")
    xr.full_like(xr.open_dataset(folder / "train.nc"), np.nan).to_netcdf(folder / "land.nc")
    assert_user_error(in_process(capsys, "reconstruct", folder / "obs.nc", "--train",
                                 folder / "land.nc", "-m", "nearest", "-o", folder / "x.nc"),
                      "grid has no ocean cell")
    assert_user_error(in_process(capsys, "reconstruct", folder / "obs.nc", *base[:-4], "-m",
                                 "oracle", "-o", folder / "x.nc"), "unknown method 'oracle'")
    assert not (folder / "x.nc").exists()


def test_train_a_prior_on_a_users_file_and_benchmark_with_it(tmp_path, capsys):
    """`reconbench train` on a CF NetCDF file (not the synthetic source), then a suite
    that runs `reconmost` with that prior on the same file."""
    source = make_source("synthetic", resolution=10.0, train_years=2, val_years=1,
                         test_years=1)
    series = xr.concat([source.split("train"), source.split("test")], "time")
    series.to_netcdf(tmp_path / "ocean.nc")
    dataset = {"paths": str(tmp_path / "ocean.nc"), "variable": "thetao",
               "train_years": [1950, 1951], "test_years": [1953, 1953]}
    params = [arg for key, value in dataset.items()
              for arg in ("--dataset-param", f"{key}={value!r}".replace("'", '"'))]
    out = in_process(capsys, "train", "--dataset", "netcdf", *params, "--steps", "3",
                     "--batch-size", "2", "--seed", "1", "--no-progress", "-o",
                     tmp_path / "prior.pt")
    assert out.returncode == 0, out.stderr
    assert "prior:" in out.stdout and "3 steps" in out.stdout

    suite = tmp_path / "mine.toml"
    suite.write_text(f"""
name = "mine"
samples = 2
missing_rates = [0.9]
[[datasets]]
name = "netcdf"
label = "mine"
paths = "{tmp_path / 'ocean.nc'}"
variable = "thetao"
train_years = [1950, 1951]
test_years = [1953, 1953]
[[methods]]
name = "reconmost"
checkpoint = "{tmp_path / 'prior.pt'}"
steps = 10
members = 2
""")
    out = in_process(capsys, "run", suite, "--results", tmp_path / "r", "--no-progress")
    assert out.returncode == 0, out.stderr
    rows = pd.read_parquet(tmp_path / "r" / "results.parquet")
    fitted = json.loads(rows[rows.method == "reconmost"].fitted_params.iloc[0])
    assert fitted["checkpoint"] == str(tmp_path / "prior.pt") and fitted["prior_steps"] == 3
    mse = rows[(rows.metric == "mse") & (rows.point_set == "evaluation") & rows.depth.isna()]
    assert len(mse) == 2 and np.isfinite(mse.value).all()


@register_method("level-mean-ensemble")
class LevelMeanEnsemble(Method):
    """Three members: each level's observed mean, minus 1, plus 0, plus 1 °C (a test double
    for the --uncertainty output)."""

    uncertainty = "ensemble"

    def reconstruct(self, obs):
        return self.reconstruct_distribution(obs)["mean"]

    def reconstruct_distribution(self, obs):
        level = np.nanmean(obs.values, axis=(2, 3), keepdims=True)
        mean = obs.copy(data=np.broadcast_to(level, obs.shape).astype(np.float32))
        members = xr.concat([mean - 1, mean, mean + 1], "member")
        return xr.Dataset({"mean": mean, "members": members})


def test_reconstruct_writes_the_uncertainty_when_asked(netcdf_files, capsys):
    folder, truth, _ = netcdf_files
    base = [str(folder / "obs.nc"), "--train", str(folder / "train.nc")]
    assert main(["reconstruct", *base, "-m", "level-mean-ensemble", "--uncertainty", "-o",
                 str(folder / "ens.nc")]) == 0
    with xr.open_dataset(folder / "ens.nc") as out:
        ocean = np.isfinite(truth.values[0])
        assert out["thetao_members"].sizes["member"] == 3
        np.testing.assert_allclose(out["thetao_spread"].values[:, ocean], 1.0, rtol=1e-6)
        np.testing.assert_allclose(out["thetao_members"].mean("member"), out["thetao"],
                                   rtol=1e-6)
        assert np.isnan(out["thetao_spread"].values[:, ~ocean]).all()
    assert main(["reconstruct", *base, "-m", "linear", "--uncertainty", "-o",
                 str(folder / "no.nc")]) == 2
    assert "method 'linear' states no uncertainty" in capsys.readouterr().err
    assert not (folder / "no.nc").exists()
