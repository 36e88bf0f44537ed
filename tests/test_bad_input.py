"""The bad-input matrix: every bad file, value or setting gets one clear line and
leaves what was written before unchanged. The command line's ``main`` in this process
(a real ``python -m reconbench`` process for the first case of each kind, which pins
the process's exit status and its one line on stderr).

Decisions documented here and in ``docs/scaleout.md``:

- missing rate 0 is allowed: every ocean cell is a guidance point, so there are
  no evaluation points and evaluation scores are NaN (guidance scores are not);
- a NaN in an observation file means "not observed"; in the training file, a
  cell NaN at some times only is a gap inside the ocean and an error;
- a level without ocean in the training file is an error (drop the level);
- a level without any observation is the method's call: ``nearest`` and
  ``linear`` refuse it, ``climatology`` does not need observations.
"""

from functools import partial

import numpy as np
import pandas as pd
import pytest
from cli_process import assert_user_error, cli, in_process
from tiny_suite import tiny_suite

from reconbench.cli import main
from reconbench.datasets.build import make_source
from reconbench.datasets.masks import MaskSpec

SUITE = tiny_suite(["climatology"], [0.5])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """train.nc, obs.nc and a good reconstruction recon.nc (the output bad runs must keep)."""
    folder = tmp_path_factory.mktemp("files")
    source = make_source("synthetic", resolution=10.0, train_years=2, val_years=1, test_years=1)
    train = source.split("train").load()
    truth = source.split("test").isel(time=[0, 1]).load()
    obs = truth.where(MaskSpec("random", 0.9, seed=0).build(source.grid, 2))
    train.to_netcdf(folder / "train.nc")
    obs.to_netcdf(folder / "obs.nc")
    assert main(["reconstruct", str(folder / "obs.nc"), "--train", str(folder / "train.nc"),
                 "-m", "nearest", "-o", str(folder / "recon.nc")]) == 0
    return folder, train, obs


def with_inf(da):
    values = da.values.copy()
    values[tuple(np.argwhere(np.isfinite(values))[0])] = np.inf
    return da.copy(data=values)


def with_gap(da):  # one ocean cell NaN at one time only
    values = da.values.copy()
    values[(0, *np.argwhere(np.isfinite(values[0]))[0])] = np.nan
    return da.copy(data=values)


def kelvin(da):
    return da + 273.15  # keeps units = "degC"


def shuffled_lat(da):
    order = np.arange(da.sizes["lat"])
    order[[3, 4]] = order[[4, 3]]
    return da.isel(lat=order)


def duplicate_time(da):
    return da.assign_coords(time=np.repeat(da.time.values[:1], da.sizes["time"]))


def dry_last_level(da):
    return da.where(da.depth < da.depth[-1])


def unobserved_level(da):
    return da.where(~((da.depth == da.depth[2]) & (da.time == da.time[0])))


# (name, which file to spoil, how, command-line extras, expected fragment)
FILE_CASES = [
    ("inf in the ocean", "obs", with_inf, [],
     "has an infinite value at 1953-01, depth 5.02159 m, lat -75, lon 165"),
    ("NaN inside the ocean", "train", with_gap, [], "a gap inside the ocean"),
    ("kelvin declared as degC", "obs", kelvin, [], "looks like kelvin"),
    ("an extra dimension", "obs", lambda da: da.expand_dims(member=2, axis=1), [],
     "has dimension(s) ['member'] that are not time, depth, latitude or longitude"),
    ("duplicate times", "obs", duplicate_time, [], "repeats 1953-01-16 12:00 at time step 1"),
    ("a level with no ocean", "train", dry_last_level, [],
     "has no ocean cell at level(s) 2133.52 m"),
    ("a level with no guidance point", "obs", unobserved_level, [],
     "no observation at time index 0, level index 2"),
    ("a missing variable", "obs", lambda da: da.rename("sst"), [], "has no variable 'thetao'"),
    ("an unknown method parameter", "obs", lambda da: da, ["-p", "window=3"],
     "unknown parameter(s) window for method 'nearest'"),
    ("units that are no temperature", "obs", lambda da: da, ["--units", "m"],
     "has units 'm', which is not a temperature unit"),
]


@pytest.mark.parametrize(("spoil", "how", "extra", "fragment"),
                         [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_bad_file(files, tmp_path, spoil, how, extra, fragment, capsys):
    folder, train, obs = files
    paths = {"train": folder / "train.nc", "obs": folder / "obs.nc"}
    paths[spoil] = tmp_path / f"bad-{spoil}.nc"
    how(train if spoil == "train" else obs).to_netcdf(paths[spoil])
    before = (folder / "recon.nc").read_bytes()
    run = cli if how is FILE_CASES[0][2] else partial(in_process, capsys)
    out = run("reconstruct", paths["obs"], "--train", paths["train"], "-m", "nearest", *extra,
              "-o", folder / "recon.nc")
    assert_user_error(out, fragment)
    assert (folder / "recon.nc").read_bytes() == before


@pytest.mark.parametrize("content", ["text", "netcdf4-half", "netcdf3-half"])
def test_unreadable_file(files, tmp_path, content, capsys):
    folder, _, obs = files
    bad = tmp_path / "bad.nc"
    if content == "text":
        bad.write_text("time,lat,lon,thetao\n")
    else:
        obs.to_netcdf(bad, format="NETCDF4" if content == "netcdf4-half" else "NETCDF3_64BIT")
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    before = (folder / "recon.nc").read_bytes()
    run = cli if content == "text" else partial(in_process, capsys)
    out = run("reconstruct", bad, "--train", folder / "train.nc", "-m", "nearest",
              "-o", folder / "recon.nc")
    assert_user_error(out, "could not be read")
    assert (folder / "recon.nc").read_bytes() == before


# -- suites ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    (folder / "tiny.toml").write_text(SUITE)
    assert main(["run", str(folder / "tiny.toml"), "--results", str(folder / "res"),
                 "--no-progress"]) == 0
    return folder


SUITE_CASES = [
    ("missing rate 1", SUITE.replace("[0.5]", "[1.0]"), "must be in [0, 1)"),
    ("negative missing rate", SUITE.replace("[0.5]", "[-0.1]"), "must be in [0, 1)"),
    ("missing rate above 1", SUITE.replace("[0.5]", "[92.5]"), "must be in [0, 1)"),
    ("typo in a suite key", SUITE.replace("missing_rates", "missing_rate"),
     "unknown key(s) missing_rate"),
    ("typo in a dataset key", SUITE.replace("test_years", "test_yeras"),
     "unknown parameter(s) test_yeras for dataset 'synthetic'"),
    ("unknown method parameter", SUITE + "window = 3\n",
     "unknown parameter(s) window for method 'climatology'"),
]


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in SUITE_CASES],
                         ids=[c[0] for c in SUITE_CASES])
def test_bad_suite(store, text, fragment, capsys):
    files = {p: p.read_bytes() for p in sorted((store / "res").rglob("*")) if p.is_file()}
    (store / "bad.toml").write_text(text)
    run = cli if text == SUITE_CASES[0][1] else partial(in_process, capsys)
    out = run("run", store / "bad.toml", "--results", store / "res", "--no-progress")
    assert_user_error(out, fragment)
    assert {p: p.read_bytes() for p in sorted((store / "res").rglob("*")) if p.is_file()} == files


def test_missing_rate_zero_means_no_evaluation_points(tmp_path):
    (tmp_path / "zero.toml").write_text(SUITE.replace("[0.5]", "[0.0]"))
    assert main(["run", str(tmp_path / "zero.toml"), "--results", str(tmp_path / "res"),
                 "--no-progress"]) == 0
    rows = pd.read_parquet(tmp_path / "res" / "results.parquet")
    mse = rows[rows.metric == "mse"].groupby("point_set").value
    assert mse.apply(lambda v: v.isna().all())["evaluation"]
    assert mse.apply(lambda v: v.notna().all())["guidance"]
    n_eval = rows[(rows.metric == "n_points") & (rows.point_set == "evaluation")].value
    assert (n_eval == 0).all()
