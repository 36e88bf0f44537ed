"""The rest of the bad-input matrix (docs/reliability.md): every refusal not pinned
elsewhere, one case each, asserting its one-line message. ``CASES`` call the library
as a suite or the command line would; ``CLI_CASES`` run ``python -m reconbench``."""

import os
import subprocess
import sys

import netCDF4
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from cf_files import write
from cli_process import assert_user_error, cli
from test_oi import series, surface_grid
from test_reconmost import TINY as PRIOR
from test_reconmost import ToySource
from tiny_suite import tiny_suite

from reconbench.benchmark import ose, tune
from reconbench.benchmark.gridded_guidance import _target_levels, load_guidance, parse_guidance
from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.store import ResultsStore, atomic_write
from reconbench.benchmark.suite import parse_suite
from reconbench.benchmark.tune import TuneConfig
from reconbench.datasets import cf, observed, points, regrid
from reconbench.datasets.build import make_source
from reconbench.datasets.cmip6 import CMIP6Source, run_key
from reconbench.datasets.daily_sea import write_daily_sea
from reconbench.datasets.grid import Grid, regular_axes
from reconbench.errors import InputError
from reconbench.methods import make_method
from reconbench.methods.covariance import correlation
from reconbench.methods.dineof import laplacian_filter
from reconbench.methods.reconmost import checkpoint
from reconbench.methods.reconmost.diffusion import linear_schedule, respace
from reconbench.methods.reconmost.normalise import Normaliser
from reconbench.methods.reconmost.sampling import guided_sample, smoothed_residual
from reconbench.methods.reconmost.train import preset, train
from reconbench.reports.report import write_report

TINY = tiny_suite(["climatology"], [0.5])


def suite_with(old: str, new: str) -> str:
    assert old in TINY
    return TINY.replace(old, new, 1)


def fitted(name: str, **params):
    grid = surface_grid()
    return make_method(name, **params).fit(series(grid, np.zeros((12, *grid.shape))), grid)


def grid_of(lat=(0.0, 10.0), lon=(0.0, 10.0), depth=(5.0,)) -> Grid:
    return Grid(np.array(lat), np.array(lon), np.array(depth),
                np.ones((len(depth), len(lat), len(lon)), bool))


def csv(tmp, text: str, name: str = "obs.csv"):
    (tmp / name).write_text(text)
    return tmp / name


ROWS = "time,lat,lon,depth,value,platform,profile\n"


def withhold(tmp, rows: str, depth=(5.0,), samples: int = 1):
    """An OSE's preparation: half the profiles of the CSV ``rows`` withheld on a 2 x 2 grid."""
    table = points.read_table(csv(tmp, ROWS + rows))
    return ose.prepare(table, grid_of(depth=depth), ose.Withholding("profile", 0.5), samples)


def cf_file(tmp, change, name: str = "f.nc"):
    """A valid CF file (cf_files.write) with ``change(ds)`` applied, written as stored."""
    path = write(tmp / "clean.nc")
    with xr.open_dataset(path, decode_times=False, mask_and_scale=False) as ds:
        ds = change(ds.load())
    ds.to_netcdf(tmp / name)
    return tmp / name


def with_attrs(ds, name, **attrs):
    ds[name].attrs.update(attrs)
    return ds


def with_values(ds, name, index, value):
    ds[name].values[index] = value
    return ds


def nc(tmp, name: str, **variables):
    xr.Dataset({k: ("x", np.zeros(2)) for k in variables}).to_netcdf(tmp / name)
    return tmp / name


def torch_file(tmp, obj, name: str = "prior.pt"):
    torch.save(obj, tmp / name)
    return tmp / name


MONTHS = np.datetime64("2000-01-15") + np.arange(12) * np.timedelta64(30, "D")


def shortened_after_layout(path):
    """The layout of a 24-month file, which then is rewritten with one month only."""
    layout = cf.read_layout(write(path), None)
    write(path, months=[0])
    return layout


def curvilinear(tmp):
    """A small file on a 2-D (rotated-pole-like) latitude and longitude grid."""
    y, x = np.meshgrid(np.arange(4.0), np.arange(5.0), indexing="ij")
    coords = {"nav_lat": (("y", "x"), 10 + y + 0.1 * x, {"standard_name": "latitude",
                                                         "units": "degrees_north"}),
              "nav_lon": (("y", "x"), 20 + x + 0.1 * y, {"standard_name": "longitude",
                                                         "units": "degrees_east"}),
              "time": ("time", [15.0], {"units": "days since 2000-01-01"})}
    xr.Dataset({"thetao": (("time", "y", "x"), np.full((1, 4, 5), 10.0),
                           {"standard_name": "sea_water_potential_temperature",
                            "units": "degC"})}, coords=coords).to_netcdf(tmp / "curv.nc")
    return tmp / "curv.nc"


def cmip6_run(tmp, model: str):
    path = write(tmp / f"thetao_Omon_{model}.nc")
    with netCDF4.Dataset(path, "r+") as ds:
        ds.setncattr("source_id", model)
        ds.setncattr("variant_label", "r1i1p1f1")
    return path


# (id, call(tmp_path), a fragment of the one-line message)
CASES = [
    # -- suites -----------------------------------------------------------------------
    ("suite unknown key", lambda t: parse_suite("colour = 1\n" + TINY),
     "unknown key(s) colour; expected keys:"),
    ("suite seeds not integers", lambda t: parse_suite(suite_with('samples = 2', 'samples = 2\n'
                                                                  'seeds = [1.5]')),
     "seeds must be integers, got [1.5]"),
    ("suite mask_params without its kind", lambda t: parse_suite(
        TINY + "[mask_params.profiles]\nmax_depth = 100\n"),
     "mask_params must hold one [mask_params.KIND] table per kind listed in mask_kinds"),
    ("suite tune not a table", lambda t: parse_suite(suite_with('samples = 2', 'samples = 2\n'
                                                                'tune = 3')),
     "tune must be a [tune] table, got 3"),
    ("suite datasets not tables", lambda t: parse_suite(
        'name = "x"\nmissing_rates = [0.5]\ndatasets = 3\n[[methods]]\nname = "nearest"\n'),
     "datasets must be one or more [[datasets]] tables"),
    ("suite table without name", lambda t: parse_suite(suite_with('name = "synthetic"',
                                                                  'label = "x"')),
     "every [[datasets]] table needs a 'name'"),
    ("suite missing rate wrapped", lambda t: parse_suite(suite_with("[0.5]", "[1.5]")),
     "suite: missing rate must be in [0, 1) (a fraction of ocean cells"),
    ("suite dataset parameter wrapped", lambda t: parse_suite(suite_with(
        "resolution = 10.0", "resolution = 10.0\ncolour = 1")),
     "suite: unknown parameter(s) colour for dataset 'synthetic'; accepted:"),
    ("dataset parameter unknown", lambda t: make_source("synthetic", colour=1),
     "; and for every dataset: gaps_cover"),
    ("tune without budget", lambda t: TuneConfig(trials=None).check(parse_suite(TINY)),
     "a budget is needed: trials or seconds"),
    # -- observation-system experiments -------------------------------------------------
    ("ose observations not a table", lambda t: ose.parse_observations(3, "s.toml"),
     "[observations] must be a table with 'paths'"),
    ("ose observations unknown key", lambda t: ose.parse_observations(
        {"paths": "a.nc", "colour": 1}, "s.toml"), "unknown key(s) colour in [observations]"),
    ("ose observations format", lambda t: ose.parse_observations(
        {"paths": "a.nc", "format": "xml"}, "s.toml"),
     "[observations] format must be 'auto', 'argo' or 'table', got 'xml'"),
    ("ose withheld fraction in suite", lambda t: ose.check_modes(["profiles"], [0.0], "s.toml"),
     "missing_rates are fractions withheld, in (0, 1); got 0.0"),
    ("ose withheld fraction", lambda t: ose.Withholding("profile", 1.0),
     "the fraction withheld must be in (0, 1), got 1.0"),
    ("ose nothing kept in the ocean", lambda t: withhold(
        t, "2000-01-15,45,100,5,10,a,1\n2000-01-15,45,110,5,10,b,2\n"),
     "no observation kept after withholding (profile, 0.5) lies in the ocean of grid"),
    ("ose one profile", lambda t: withhold(t, "2000-01-15,0,0,5,10,a,1\n"),
     "withholding needs at least 2 profiles (one to withhold, one to keep); the observations "
     "have 1"),
    ("ose no month to score", lambda t: withhold(
        t, "2000-01-15,0,0,5,10,a,1\n2000-01-15,0,10,5,11,b,2\n2000-01-15,10,0,5,12,c,3\n",
        depth=(5.0, 50.0)),
     "no month has both withheld points in the grid's depth range"),
    ("ose too few months", lambda t: withhold(t, "".join(
        f"2000-01-15,{la},{lo},5,{i},p{i},{i}\n" for i, (la, lo) in enumerate(
            [(0, 0), (0, 10), (10, 0), (10, 10)] * 3)), samples=5),
     "samples but only 1 months can be scored after withholding by profile"),
    ("ose validation years", lambda t: ose.parse_observations(
        {"paths": "a.nc", "val_years": [2018, 2005]}, "s.toml"),
     "s.toml: [observations] val_years must be [FIRST, LAST], two years with FIRST <= LAST, "
     "got [2018, 2005]"),
    ("ose tuned without validation years", lambda t: ose.check_tunable(
        {"paths": "a.nc"}, "suite 'argo'"),
     "suite 'argo': an OSE suite is tuned on the observations of its validation years, and "
     "[observations] names none; add val_years"),
    ("ose bad profile policy", lambda t: ose.parse_observations(
        {"paths": "a.nc", "on_bad_profile": "keep"}, "s.toml"),
     "s.toml: [observations] on_bad_profile must be one of"),
    ("ose mask kind", lambda t: ose.check_modes(["random"], [0.5], "s.toml"),
     "in a suite with [observations], mask_kinds are withholding modes"),
    ("ose withholding mode", lambda t: ose.Withholding("profiles", 0.5),
     "unknown withholding mode 'profiles'; expected one of"),
    ("too few samples in the split", lambda t: run_suite(
        parse_suite(suite_with("samples = 2", "samples = 20")), t / "r", progress=False),
     "the suite asks for 20 samples of the test split of dataset 'synthetic', which has"),
    ("suite split", lambda t: parse_suite(suite_with("samples = 2", 'samples = 2\nsplit = "x"')),
     "suite: split must be one of"),
    ("suite empty list", lambda t: parse_suite(suite_with("[0.5]", "[]")),
     "suite: missing_rates must be a non-empty list, got []"),
    ("tune unknown key", lambda t: TuneConfig.from_suite(
        parse_suite(TINY + "[tune]\ncolour = 1\n")),
     "suite 'tiny': unknown key(s) colour in [tune]; expected:"),
    ("tune trials", lambda t: TuneConfig(trials=0).check(parse_suite(TINY)),
     "[tune]: trials must be a positive integer, got 0"),
    ("tune seconds", lambda t: TuneConfig(trials=None, seconds=-1.0).check(parse_suite(TINY)),
     "[tune]: seconds must be a positive number, got -1.0"),
    ("tune strategy", lambda t: TuneConfig(strategy="guess").check(parse_suite(TINY)),
     "[tune]: strategy must be one of"),
    ("tune chooses None for a parameter without that default",
     lambda t: tune._check_none_is_default("kriging", "variogram_model"),
     "= None cannot be written to a suite file (TOML has no None) and is not the default"),
    # -- results store ---------------------------------------------------------------------
    ("store folder under a file", lambda t: atomic_write(
        csv(t, "x") / "sub" / "f.txt", lambda tmp: tmp.write_text("x")),
     "cannot write results to"),
    ("store metadata not JSON", lambda t: ResultsStore(
        csv(t, "{", "metadata.json").parent).metadata(), "metadata.json' is not valid JSON"),
    ("store lock under a file", lambda t: ResultsStore(csv(t, "x") / "store").lock().__enter__(),
     "cannot write results to"),
    ("report output is a file", lambda t: write_report(None, csv(t, "x", "report")),
     "is a file; give a folder"),
    # -- gridded files ------------------------------------------------------------------------
    ("paths empty", lambda t: cf.resolve_paths([]),
     "dataset parameter paths is empty; expected a file, a glob or a list"),
    ("time with missing values", lambda t: cf.CFSource(str(cf_file(
        t, lambda ds: ds.assign_coords(time=("time", np.where(
            np.arange(ds.time.size) == 3, np.nan, ds.time.values), ds.time.attrs))))),
     "has missing or infinite values; expected a time stamp for every step"),
    ("depth not monotonic", lambda t: cf.CFSource(str(cf_file(
        t, lambda ds: ds.assign_coords(depth=("depth", [5.0, 500.0, 200.0], ds.depth.attrs))))),
     "is not monotonic or not below the surface"),
    ("value outside the sea-water range", lambda t: cf.CFSource(str(cf_file(
        t, lambda ds: with_values(ds, "thetao", (2, 0, 3, 4), 120.0)))),
     "°C at 2000-03, depth 5 m, lat -55, lon 45; sea-water temperatures lie within"),
    ("time units not understood", lambda t: cf.CFSource(str(cf_file(
        t, lambda ds: with_attrs(ds, "time", units="fortnights")))),
     "has units 'fortnights'; expected 'UNITS since DATE' or month numbers 1-12"),
    ("depth units not understood", lambda t: cf.CFSource(str(cf_file(
        t, lambda ds: with_attrs(ds, "depth", units="furlongs")))),
     "has units 'furlongs'; expected m or cm"),
    ("file cut short after it was scanned", lambda t: cf.read_native(
        shortened_after_layout(t / "a.nc"), np.arange(3)),
     "(truncated or damaged file?): IndexError"),
    ("split fractions not shares", lambda t: cf.CFSource(str(write(t / "a.nc")),
                                                         split_fractions=[0.5, 0.5]),
     "dataset parameter split_fractions must be [train, val, test] shares of the time steps"),
    ("split fractions and years", lambda t: cf.CFSource(
        str(write(t / "a.nc")), split_fractions=[0.5, 0.25, 0.25], test_years=2001),
     "split_fractions replaces the *_years, *_months and *_dates parameters"),
    ("curvilinear source on its native grid", lambda t: cf.CFSource(str(curvilinear(t))),
     "the source is on a curvilinear grid; set the dataset parameter grid to a resolution"),
    ("cmip6 runs on their native grids", lambda t: CMIP6Source(
        [str(cmip6_run(t, "A")), str(cmip6_run(t, "B"))], grid="native", depths=None),
     "several CMIP6 runs need a common target"),
    ("years not a pair", lambda t: cf.year_range([2000, 2001, 2002], "train_years"),
     "dataset parameter train_years must be a year or [first, last] years"),
    ("months out of range", lambda t: cf.month_list([0, 13], "test_months"),
     "dataset parameter test_months must be a list of months 1-12"),
    ("dates not dates", lambda t: cf.date_range(["soon", "later"], "test_dates"),
     "must be [first, last] dates such as ['2000-01-01', '2000-01-07']"),
    ("dates reversed", lambda t: cf.date_range(["2000-02-01", "2000-01-01"], "test_dates"),
     "dataset parameter test_dates must have its first date before its last"),
    ("files overlap in time", lambda t: cf.CFSource(
        [str(write(t / "a.nc", months=[0, 1, 2])), str(write(t / "b.nc", months=[2, 3]))]),
     "the files of dataset 'netcdf' overlap in time (duplicated time steps)"),
    ("gappy not a bool", lambda t: cf.CFSource(str(write(t / "a.nc")), gappy="yes"),
     "dataset parameter gappy must be true or false, got 'yes'"),
    ("region reversed", lambda t: cf.CFSource(str(write(t / "a.nc")), lat_range=[10, -10]),
     "dataset parameter lat_range must be [south, north] degrees with the first below"),
    ("region wider than the globe", lambda t: cf.CFSource(str(write(t / "a.nc")),
                                                          lon_range=[-300, 300]),
     "dataset parameter lon_range spans more than 360 degrees"),
    ("target grid not understood", lambda t: cf.CFSource(str(write(t / "a.nc")), grid="fine"),
     "grid must be 'native', 'en4', a resolution in degrees or a Grid, got 'fine'"),
    ("target depths not ascending", lambda t: cf.CFSource(str(write(t / "a.nc")),
                                                          depths=[50, 10]),
     "depths must be 'en4' or an ascending list of depths in metres"),
    ("target depths below the source", lambda t: regrid.target_depths(
        [5000.0], np.array([5.0, 50.0])), "no target level lies within the source's depth range"),
    ("cmip6 file without model", lambda t: run_key(nc(t, "thetao_x.nc", thetao=1)),
     "cannot tell its model and member; expected global attributes source_id"),
    ("synthetic years", lambda t: make_source("synthetic", resolution=10.0, test_years=0),
     "synthetic dataset parameter test_years must be >= 1, got 0"),
    # -- grids ---------------------------------------------------------------------------------
    ("resolution not dividing 180", lambda t: regular_axes(7.0),
     "grid resolution must divide 180 degrees, got 7.0"),
    ("grid latitude beyond the pole", lambda t: grid_of(lat=(80.0, 95.0)),
     "grid lat must lie in [-90, 90] degrees north"),
    ("grid depth above the surface", lambda t: grid_of(depth=(-5.0,)),
     "grid depth must be in metres, positive down"),
    ("grid axis empty", lambda t: grid_of(lat=()),
     "grid lat must be a non-empty 1-D array, got shape (0,)"),
    ("field values of another shape", lambda t: grid_of().field(
        np.zeros((1, 2, 2, 2)), [np.datetime64("2000-01-15")]),
     "field values must have shape (time, depth, lat, lon) = (1, 1, 2, 2), got (1, 2, 2, 2)"),
    ("gappy field with an infinity", lambda t: grid_of().check_field(grid_of().field(
        [[[[1.0, np.inf], [1.0, 1.0]]]], [np.datetime64("2000-01-15")]), gappy=True),
     "field has infinite values (first at time index 0, depth 5 m, lat 0, lon 10)"),
    ("gappy field with an empty month", lambda t: grid_of().check_field(grid_of().field(
        np.full((1, 1, 2, 2), np.nan), [np.datetime64("2000-01-15")]), gappy=True),
     "field has no observed ocean cell at time index 0; a gappy field needs at least one"),
    ("field of another shape", lambda t: grid_of().check_field(
        grid_of(lat=(0.0, 10.0, 20.0)).field(np.zeros((1, 1, 3, 2)), [np.datetime64(
            "2000-01-15")])), "field has shape (1, 3, 2) per time step; the grid"),
    ("field on other coordinates", lambda t: grid_of().check_field(
        grid_of(lat=(0.0, 20.0)).field(np.zeros((1, 1, 2, 2)), [np.datetime64("2000-01-15")])),
     "field lat coordinate differs from the grid's"),
    # -- observations and masks --------------------------------------------------------------
    ("argo index without columns", lambda t: observed.read_argo_index(
        csv(t, "# comment\na,b\n1,2\n", "index.txt")), "is not an Argo profile index: no column"),
    ("en4 file without variables", lambda t: observed.read_en4_profiles(nc(t, "en4.nc", x=1)),
     "is not an EN4 profile file: no variable(s)"),
    ("argo index unreadable", lambda t: observed.read_argo_index(t),
     "could not be read as an Argo profile index"),
    ("observation suffix", lambda t: points.read_observations(str(csv(t, "x", "obs.txt"))),
     "cannot tell the observation format from the suffix '.txt'"),
    ("qc flags empty", lambda t: points.read_observations("a.nc", qc_flags=[]),
     "qc_flags must be a non-empty list of Argo QC flags 0-9, got []"),
    ("observation file absent", lambda t: points.read_table(t / "none.csv"),
     "observation file"),
    ("parquet unreadable", lambda t: points.read_table(csv(t, "x", "obs.parquet")),
     "obs.parquet' could not be read as a CSV or Parquet table"),
    ("table with text for numbers", lambda t: points.read_table(
        csv(t, ROWS + "2000-01-15,north,0,5,10,a,1\n")),
     "column 'lat' has 1 non-numeric value(s) (first 'north' in data row 1); expected numbers"),
    ("table with an empty value", lambda t: points.read_table(
        csv(t, ROWS + "2000-01-15,0,0,,10,a,1\n")),
     "column 'depth' has 1 empty value(s); expected a number in every row"),
    ("table with an unreadable time", lambda t: points.read_table(
        csv(t, ROWS + "someday,0,0,5,10,a,1\n")),
     "column 'time' has unreadable time(s) (first 'someday' in data row 1)"),
    ("positions match", lambda t: observed.Positions(match="week"),
     "positions mask parameter match must be 'month' or 'calendar_month', got 'week'"),
    ("positions mask without times", lambda t: observed.Positions().month_profiles(None),
     "the positions mask needs the time of each sample"),
    ("positions mask without a grid", lambda t: observed.snap_to_ocean(None, None, None),
     "the positions mask needs the grid of each sample"),
    ("clouds scale", lambda t: observed.Clouds(scale_deg=0),
     "clouds mask parameter scale_deg must be > 0, got 0"),
    ("table lacks columns", lambda t: points.ObservationTable(pd.DataFrame({"lat": [1.0]})),
     "observation table lacks column(s)"),
    ("observation format", lambda t: points.read_observations("a.nc", format="xml"),
     "observation format must be 'auto', 'argo' or 'table', got 'xml'"),
    ("qc flags not numbers", lambda t: points.read_observations("a.nc", qc_flags=["good"]),
     "qc_flags must be a list of Argo QC flags 0-9, got ['good']"),
    ("argo file without variables", lambda t: points.read_argo(nc(t, "argo.nc", TEMP=1)),
     "is not an Argo profile file: no variable(s)"),
    ("column mapping to unknown names", lambda t: points.read_table(
        csv(t, ROWS), columns={"temperature": "t"}),
     "observation columns mapping names unknown schema column(s) ['temperature']"),
    ("table without a column", lambda t: points.read_table(csv(t, "time,lat\n1,2\n")),
     "has no column(s) 'lon', 'depth', 'value'"),
    ("table with duplicated depths", lambda t: points.read_table(
        csv(t, ROWS + "2000-01-15,0,0,5,10,a,1\n2000-01-15,0,0,5,11,a,1\n"),
        on_bad_profile="error"), "1 profile(s) have duplicated depths"),
    ("table with nothing usable", lambda t: points.read_table(
        csv(t, ROWS + "2000-01-15,0,0,5,10,a,1\n2000-01-15,0,0,5,11,a,1\n")),
     "obs.csv': no usable observation"),
    # -- methods -----------------------------------------------------------------------------
    ("covariance model", lambda t: correlation("cubic", np.zeros(2)),
     "unknown covariance model 'cubic'; expected one of"),
    ("climatology of a level without data", lambda t: make_method("climatology").fit(
        grid_of(depth=(5.0, 50.0)).field(np.stack([np.ones((12, 2, 2)), np.full(
            (12, 2, 2), np.nan)], axis=1), MONTHS), grid_of(depth=(5.0, 50.0))),
     "the training data has no value at level 50 m; climatology needs at least one"),
    ("kriging variant", lambda t: fitted("kriging", variant="simple"),
     "kriging variant must be one of"),
    ("reconmost start", lambda t: fitted("reconmost", start="middle"),
     "start must be one of"),
    ("sampling steps", lambda t: respace(linear_schedule(), 0),
     "sampling steps must be in 1 .. 1000, got 0"),
    ("prior normalisation", lambda t: Normaliser.fit("rank", np.zeros((1, 1, 2, 2)),
                                                     np.array([1]), np.ones((1, 2, 2), bool),
                                                     False),
     "normalisation must be one of"),
    ("guidance", lambda t: guided_sample(None, None, torch.zeros(1), torch.zeros(1),
                                         guidance="psychic"),
     "guidance must be one of"),
    ("dineof filter too strong for the spacing", lambda t: laplacian_filter(
        np.array([0.0, 0.5, 1.0]), 0.4, 1),
     "dineof filter_alpha must be at most half the square of the smallest time step"),
    ("dineof filter out of range", lambda t: fitted("dineof", filter_alpha=0.9),
     "dineof filter_alpha must be between 0 and 0.5 (months²), got 0.9"),
    ("kriging fit_on", lambda t: fitted("kriging", fit_on="test"),
     "kriging fit_on must be 'train' or 'obs', got 'test'"),
    ("kriging 3-d fit on obs", lambda t: fitted("kriging", variant="ordinary3d", fit_on="obs"),
     "kriging fit_on must be 'train' for variant 'ordinary3d', got 'obs'"),
    ("kriging depth scale", lambda t: fitted("kriging", depth_scale=-1.0),
     "kriging depth_scale must be None or a positive number (degrees per metre), got -1.0"),
    ("reconmost members", lambda t: fitted("reconmost", members=0),
     "members must be >= 1, got 0"),
    ("reconmost strength", lambda t: guided_sample(None, None, torch.zeros(1), torch.zeros(1),
                                                    strength=0.0),
     "strength must be in (0, 1], got 0.0"),
    ("checkpoint absent", lambda t: checkpoint.load_file(t / "none.pt"),
     "none.pt' does not exist; "),
    ("checkpoint of another program", lambda t: checkpoint.load_file(
        torch_file(t, {"weights": 1})), "is not a reconbench ReconMOST checkpoint"),
    ("checkpoint of another version", lambda t: checkpoint.load_file(torch_file(
        t, {"metadata": {"format": checkpoint.FORMAT, "format_version": -1}})),
     "has format version -1; this reconbench reads version"),
    ("training preset", lambda t: preset("huge"), "unknown preset 'huge'; known presets:"),
    ("training resumed with other settings", lambda t: [
        train(ToySource(months=24), PRIOR, t / "p.pt", steps=s, seed=s, progress=False,
              resume=s > 1) for s in (1, 2)], "cannot resume from"),
    ("training on an empty train split", lambda t: train(ToySource(months=0), PRIOR, t / "p.pt",
                                                         steps=1, progress=False),
     "has an empty train split; training needs train months"),
    ("guidance not a table with paths", lambda t: parse_guidance({"split": "all"}, "suite"),
     "suite: [observations.guidance] must be a table of a dataset source's parameters"),
    ("guidance levels not a list", lambda t: parse_guidance({"paths": "g.nc", "levels": 10},
                                                            "suite"),
     "suite: [observations.guidance] levels must be a list of depths in m, got 10"),
    ("guidance split without time steps", lambda t: load_guidance(
        parse_guidance({"paths": str(write(t / "g.nc")), "split": "val"}, "suite"),
        cf.CFSource(str(write(t / "g.nc"))).grid),
     "g.nc' has no time step in its val split; expected a field with time steps"),
    ("guidance levels of another count", lambda t: _target_levels(
        [5.0, 50.0], np.array([5.0]), np.array([5.0, 50.0]), "g.nc"),
     "g.nc: levels [5.0, 50.0] give 2 depths for its 1 levels; expected one depth per level"),
    ("guidance levels on one grid level", lambda t: _target_levels(
        [5.0, 5.0], np.array([0.0, 1.0]), np.array([5.0, 50.0]), "g.nc"),
     "g.nc: two of its levels stand for the same OSE grid level"),
    ("spectral box south of north", lambda t: parse_suite(
        TINY + '[spectral]\nboxes = [{name = "b", lon = [0, 10], lat = [50, 20]}]\n'),
     "lat must be [south, north] with south < north and lon [west, east] with west != east"),
    ("CF months read out of order", lambda t: cf.CFSource(str(write(t / "f.nc"))).read_months(
        "train", np.array([1, 0])), "read_months needs ascending time-step indices"),
    ("daily sea resolution", lambda t: write_daily_sea(t / "d.nc", resolution=0.0),
     "daily sea: resolution must be > 0 and n_days >= 2, got 0.0 and 1461"),
    ("daily sea ranges", lambda t: write_daily_sea(t / "d.nc", lat_range=(40.0, 30.0)),
     "daily sea: lat_range and lon_range must be [south, north] and [west, east], got "
     "[40.0, 30.0] and [-20.0, -10.0]"),
    ("dineof train memory", lambda t: fitted("dineof", train_memory_mb=0.0),
     "dineof train_memory_mb must be a positive number of MB or None, got 0.0"),
    ("prior normalisation, streamed", lambda t: Normaliser.fit_streamed(
        "rank", None, np.array([1]), np.ones((1, 2, 2), bool), False),
     "normalisation must be one of"),
    ("soft-mask kernel", lambda t: smoothed_residual(
        torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2),
        soft_mask=True, kernel="box"), "kernel must be one of"),
]


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no numpy warning before the line
@pytest.mark.parametrize(("call", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_in_one_line(tmp_path, call, fragment):
    with pytest.raises(InputError) as info:
        call(tmp_path)
    message = str(info.value)
    assert fragment in message and "\n" not in message, message


# (id, command-line arguments, a fragment of the one-line message)
CLI_CASES = [
    ("--param without =", ["reconstruct", "o.nc", "--train", "t.nc", "-m", "nearest",
                           "-o", "r.nc", "--param", "window"],
     "--param expects KEY=VALUE, got 'window'"),
    ("--rates not numbers", ["report", ".", "--rates", "half"],
     "--rates expects numbers separated by commas, got 'half'"),
    ("reconstruct without observations", ["reconstruct", "--train", "t.nc", "-m", "nearest",
                                          "-o", "r.nc"],
     "reconstruct needs either an observations NetCDF file (OBS) or point files (--points)"),
    ("reconstruct without training", ["reconstruct", "o.nc", "-m", "nearest", "-o", "r.nc"],
     "reconstruct needs exactly one of --train (a NetCDF file) and --train-dataset"),
]


@pytest.mark.parametrize(("args", "fragment"), [c[1:] for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_command_line_refuses_in_one_line(tmp_path, args, fragment):
    before = sorted(tmp_path.iterdir())
    assert_user_error(cli(*args, cwd=tmp_path), fragment)
    assert sorted(tmp_path.iterdir()) == before  # nothing written



def delayed_mode_without_adjusted(ds):
    ds["DATA_MODE"][:] = np.full(ds["DATA_MODE"].shape, b"D")
    ds.renameVariable("TEMP_ADJUSTED", "TEMP_ADJUSTED_LOST")


@pytest.mark.parametrize(("change", "fragment"), [
    (delayed_mode_without_adjusted, "profiles but the file has no TEMP_ADJUSTED"),
    (lambda ds: ds["JULD"].setncattr("units", "fortnights"),
     "JULD could not be decoded as times (units 'fortnights'); expected 'days since ...'"),
], ids=["delayed mode without adjusted values", "undecodable JULD"])
def test_spoilt_argo_file_is_refused_in_one_line(shared_data, tmp_path, change, fragment):
    real = sorted((shared_data / "argo_profiles").glob("*_prof.nc"))[0]
    spoilt = tmp_path / "argo_prof.nc"
    spoilt.write_bytes(real.read_bytes())
    with netCDF4.Dataset(spoilt, "r+") as ds:
        change(ds)
    with pytest.raises(InputError) as info:
        points.read_argo(spoilt)
    assert fragment in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_dask_worker_does_not_derive_a_land_mask(tmp_path):
    script = ("import numpy as np; from reconbench.datasets import landmask; "
              "landmask.forbid_derivation(); "
              "landmask.surface_ocean(np.arange(-85.0, 90, 10), np.arange(5.0, 360, 10))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "RECONBENCH_CACHE": str(tmp_path)}, timeout=300)
    assert "InputError: the land mask of a 18 x 36 grid is not in the cache" in out.stderr
    assert "this process may not derive it" in out.stderr.strip().splitlines()[-1]


def test_a_cluster_without_dask_is_refused(tmp_path):
    script = ("import sys; sys.modules['distributed'] = None  # Dask's cluster, not installed\n"
              "from reconbench.benchmark.runner import Workbench, scheduler_for\n"
              "scheduler_for('local:2', Workbench())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    last = out.stderr.strip().splitlines()[-1]
    assert "InputError: --scheduler local:2 needs Dask (" in last
    assert "install it with pip install 'reconbench[dask]'" in last
