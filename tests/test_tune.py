"""reconbench tune: trials on the validation split only, the optimum found, the
chosen parameters written back as a suite that runs, on the Dask scheduler too."""

import json
import tempfile
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import LocalCluster

from reconbench.benchmark.cells import Workbench
from reconbench.benchmark.runner import run_metadata, run_suite
from reconbench.benchmark.samples import sample_indices
from reconbench.benchmark.store import ResultsStore
from reconbench.benchmark.suite import Component, parse_suite
from reconbench.benchmark.trials import fit_groups, split_jobs
from reconbench.benchmark.tune import (
    TuneConfig,
    plan_trials,
    search_space,
    tune_suite,
    tuned_suite_text,
)
from reconbench.cli import main
from reconbench.datasets.build import make_source
from reconbench.datasets.masks import MaskSpec
from reconbench.datasets.source import register_source
from reconbench.datasets.synthetic import SyntheticOcean
from reconbench.errors import ConfigError, InputError, ReconbenchError
from reconbench.methods.climatology import Climatology
from reconbench.methods.oi import OptimalInterpolation
from reconbench.methods.registry import register_method

#: every split a PoisonedOcean was asked for, one a line (a file: trials run in worker
#: processes, which inherit this path)
READS = Path(tempfile.mkdtemp()) / "reads.txt"


@register_source("poisoned-synthetic")
class PoisonedOcean(SyntheticOcean):
    """The synthetic ocean whose test split must never be read (a test double)."""

    def _load_split(self, which):
        with READS.open("a") as log:
            log.write(which + "\n")
        if which == "test":
            raise AssertionError("the tuner read the test split")
        return super()._load_split(which)

    def split_times(self, which):
        if which == "test":
            raise AssertionError("the tuner read the test split's times")
        return super().split_times(which)


OFFSETS = [-1.0, -0.5, 0.0, 0.5, 1.0]


@register_method("offset-climatology")
class OffsetClimatology(Climatology):
    """The climatology plus a constant (°C): validation MSE is a parabola in ``offset``."""

    search_space = {"offset": OFFSETS}

    def __init__(self, offset: float = 1.0):
        self.offset = offset

    def reconstruct(self, obs):
        recon = super().reconstruct(obs)
        return recon + np.float32(self.offset)


DATASET = """
[[datasets]]
name = "{source}"
label = "tiny"
resolution = 10.0
train_years = 2
val_years = 2
test_years = 1
"""
SUITE = """
name = "tiny"
samples = 2
seeds = [0]
missing_rates = [0.5, 0.9]
[tune]
seeds = [7]
samples = 2
[[methods]]
name = "offset-climatology"
[[methods]]
name = "climatology"
""" + DATASET


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    READS.unlink(missing_ok=True)
    suite = parse_suite(SUITE.format(source="poisoned-synthetic"))
    root = tmp_path_factory.mktemp("tune") / "tiny-tune"
    config = TuneConfig.from_suite(suite)
    outcomes = tune_suite(suite, root, config, progress=False)
    return suite, config, root, outcomes


def expected_scores(suite, config) -> dict[float, float]:
    """The validation score of each offset computed here, from the truth and masks alone:
    pooled masked MSE on evaluation points, averaged over samples and rates."""
    source = SyntheticOcean(resolution=10.0, train_years=2, val_years=2, test_years=1)
    val = source.split("val")
    truth = val.isel(time=sample_indices(val["time"].values, config.samples)).values
    train = source.split("train")
    clim = np.stack([train.values[m::12].mean(axis=0) for m in range(12)])
    months = pd.DatetimeIndex(val["time"].values[sample_indices(val["time"].values,
                                                                config.samples)]).month
    error0 = clim[months - 1] - truth  # climatology minus truth (time, depth, lat, lon)
    ocean = source.grid.ocean
    scores = {}
    for offset in OFFSETS:
        per = []
        for rate in suite.missing_rates:
            for seed in config.seeds:
                guidance = MaskSpec("random", rate, seed).build(source.grid, truth.shape[0],
                                                                val["time"].values)
                for t in range(truth.shape[0]):
                    points = ocean & ~guidance[t]
                    per.append(np.mean((error0[t][points] + offset) ** 2))
        scores[offset] = float(np.mean(per))
    return scores


def test_the_tuner_never_reads_the_test_split(tuned):
    reads = READS.read_text().split()
    assert "val" in reads and "train" in reads and "test" not in reads
    rows = ResultsStore(tuned[2]).rows()
    assert set(rows.split) == {"val"} and set(rows.seed) == {7}


def test_it_finds_the_known_optimum(tuned):
    suite, config, _, outcomes = tuned
    outcome = next(o for o in outcomes if o.label == "offset-climatology")
    trials = outcome.trials.set_index("trial")
    # trial 0 is the suite's own setting (offset 1.0); then the other offsets, in grid order
    assert json.loads(trials.loc[0, "params"]) == {}
    searched = [json.loads(s).get("offset", 1.0) for s in trials.searched]
    assert sorted(searched) == OFFSETS
    expected = expected_scores(suite, config)
    for offset, score in zip(searched, trials.val_mse, strict=True):
        assert score == pytest.approx(expected[offset], rel=1e-5)
    best = min(expected, key=expected.get)
    assert outcome.chosen == ({"offset": best} if best != 1.0 else {})
    assert best == 0.0  # the climatology's validation bias is far below 0.25 °C
    assert (trials.fit_seconds >= 0).all() and (trials.seconds_per_field > 0).all()


def test_a_method_without_search_space_keeps_its_setting(tuned):
    outcome = next(o for o in tuned[3] if o.label == "climatology")
    assert len(outcome.trials) == 1 and outcome.chosen == {}


def test_the_store_holds_every_trial(tuned):
    root = tuned[2]
    table = pd.read_csv(root / "trials.csv")
    assert len(table) == 5 + 1 and table.finished.all()
    assert {"method", "trial", "searched", "params", "val_mse", "fit_seconds",
            "seconds_per_field", "peak_rss_mb"} <= set(table.columns)
    meta = ResultsStore(root).metadata()
    assert meta["split"] == "val" and meta["tune"]["config"]["seeds"] == [7]


def test_chosen_parameters_round_trip_through_the_suite_file(tuned, tmp_path):
    suite, config, root, outcomes = tuned
    text = tuned_suite_text(suite, outcomes, config, root)
    path = tmp_path / "tiny-tuned.toml"
    path.write_text(text)
    again = parse_suite(path.read_text())
    assert again.name == "tiny-tuned" and again.config_hash != suite.config_hash
    method = next(m for m in again.methods if m.label == "offset-climatology")
    assert method.params == {"offset": 0.0}
    assert again.tuned["methods"]["offset-climatology"]["chosen"] == {"offset": 0.0}
    assert again.tuned["split"] == "val"
    assert run_metadata(again, ResultsStore(tmp_path / "run"), {})["tuned"] == again.tuned
    # unchanged apart from the parameters, the name and the provenance
    original = tomllib.loads(SUITE.format(source="poisoned-synthetic"))
    written = tomllib.loads(text)
    assert written["datasets"] == original["datasets"] and written["tune"] == original["tune"]


def test_a_suite_search_table_replaces_the_default_and_is_checked():
    suite = parse_suite(SUITE.format(source="synthetic").replace(
        '[[methods]]\nname = "climatology"', '[[methods]]\nname = "linear"\n'
                                             '[methods.search]\nwrap_degrees = [30, 90]'))
    assert search_space(suite, suite.methods[1]) == {"wrap_degrees": [30, 90]}
    assert search_space(suite, suite.methods[0]) == {"offset": OFFSETS}
    bad = parse_suite(SUITE.format(source="synthetic").replace(
        '[[methods]]\nname = "climatology"', '[[methods]]\nname = "linear"\n'
                                             '[methods.search]\nwrap = [30, 90]'))
    with pytest.raises(InputError, match="unknown parameter.*wrap.*accepted: wrap_degrees"):
        search_space(bad, bad.methods[1])
    with pytest.raises(ConfigError, match="non-empty lists"):
        parse_suite(SUITE.format(source="synthetic") + "\n[[methods]]\nname = 'oi'\n"
                    "[methods.search]\nn_neighbours = 16\n")


def test_budget_in_trials_and_the_random_order():
    suite = parse_suite(SUITE.format(source="synthetic"))
    method = suite.methods[0]
    space = {"offset": OFFSETS}
    grid = plan_trials(method, space, TuneConfig(trials=10))
    assert [t.params for t in grid] == [{}] + [{"offset": o} for o in OFFSETS if o != 1.0]
    few = plan_trials(method, space, TuneConfig(trials=3, seed=1))
    assert len(few) == 3 and few[0].params == {}
    assert few == plan_trials(method, space, TuneConfig(trials=3, seed=1))  # seeded
    with pytest.raises(ConfigError, match="seeds must be mask seeds of the tuning's own"):
        TuneConfig.from_suite(suite, seeds=[0])
    with pytest.raises(ConfigError, match="unknown key.*budget"):
        TuneConfig.from_suite(parse_suite(SUITE.format(source="synthetic").replace(
            "[tune]", "[tune]\nbudget = 3")))


def test_the_seconds_budget_stops_new_trials(tmp_path):
    suite = parse_suite(SUITE.format(source="synthetic"))
    config = TuneConfig.from_suite(suite, trials=None, seconds=1e-9)
    [outcome] = tune_suite(suite, tmp_path / "t", config, only=["offset-climatology"],
                           progress=False)
    # the first cell ends the budget: no trial is complete, the suite's setting stays
    assert outcome.trials.finished.sum() == 0 and len(outcome.trials) == 5
    assert outcome.chosen == {}


def test_cli_tune_on_workers_and_dask_matches_serial(tmp_path, capsys):
    """The same trials' scores serially, on two worker processes and on a Dask scheduler."""
    text = SUITE.format(source="synthetic").replace(
        '[[methods]]\nname = "offset-climatology"\n[[methods]]\nname = "climatology"',
        '[[methods]]\nname = "dineof"\ntrain_months = 12\n[methods.search]\n'
        'max_modes = [2, 6]')
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        for name, scheduler in (("serial", "serial"), ("local:2", "local:2"),
                                ("dask", cluster.scheduler_address)):
            assert main(["tune", str(path), "--results", str(tmp_path / name), "--no-progress",
                         "--scheduler", scheduler]) == 0
    out = capsys.readouterr().out
    assert "| dineof |" in out and "tiny-tuned.toml" in out
    serial, workers, dask = (pd.read_csv(tmp_path / s / "trials.csv").set_index("searched")
                             for s in ("serial", "local:2", "dask"))
    assert len(serial) == 3 and (serial.status == "finished").all()
    pd.testing.assert_series_equal(workers.val_mse, serial.val_mse, rtol=1e-6)
    pd.testing.assert_series_equal(dask.val_mse, serial.val_mse, rtol=1e-6)
    serial = serial.val_mse
    best = json.loads(serial.idxmin())
    run = parse_suite((tmp_path / "local:2" / "tiny-tuned.toml").read_text())
    assert run.methods[0].params == {"train_months": 12, **best}


def test_cli_errors_are_one_line(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE.format(source="synthetic"))
    assert main(["tune", str(path), "--methods", "nope", "--results", str(tmp_path / "x")]) == 2
    assert "has no method labelled nope" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(ReconbenchError):
        TuneConfig.from_suite(parse_suite(SUITE.format(source="synthetic")), trials=0)


@register_method("sleepy-climatology")
class SleepyClimatology(Climatology):
    """The climatology after a nap of ``nap`` seconds per reconstruction (a test double)."""

    search_space = {"nap": [0.0]}

    def __init__(self, nap: float = 600.0):
        self.nap = nap

    def reconstruct(self, obs):
        time.sleep(self.nap)
        return super().reconstruct(obs)


def test_the_seconds_budget_stops_a_started_trial(tmp_path):
    """Trial 0 naps ten minutes inside its first cell; the 6 s budget kills it there and
    records it as stopped (no score, no cell); trial 1, on the other worker, finishes."""
    suite = parse_suite(SUITE.format(source="synthetic").replace(
        'name = "offset-climatology"', 'name = "sleepy-climatology"'))
    config = TuneConfig.from_suite(suite, trials=None, seconds=6)
    start = time.perf_counter()
    [outcome] = tune_suite(suite, tmp_path / "t", config, only=["sleepy-climatology"],
                           scheduler="local:2", progress=False)
    assert time.perf_counter() - start < 300  # not the 600 s nap
    trials = outcome.trials.set_index("trial")
    assert trials.loc[0, "status"] == "stopped" and not trials.loc[0, "finished"]
    assert 5 <= trials.loc[0, "seconds"] < 300 and np.isnan(trials.loc[0, "val_mse"])
    assert trials.loc[1, "status"] == "finished" and np.isfinite(trials.loc[1, "val_mse"])
    assert outcome.chosen == {"nap": 0.0}
    stored = pd.read_csv(tmp_path / "t" / "trials.csv").set_index("trial")
    assert stored.loc[0, "status"] == "stopped" and np.isnan(stored.loc[0, "val_mse"])
    assert set(ResultsStore(tmp_path / "t").rows().params.map(json.loads).map(
        lambda p: p["nap"])) == {0.0}


def test_trials_differing_in_predict_params_share_one_fit():
    """OI fitted once and copied with another neighbour count reconstructs exactly as OI
    fitted afresh with that count; trials group by the parameters their fit reads."""
    suite = parse_suite(SUITE.format(source="synthetic") + "\n[[methods]]\nname = 'oi'\n"
                        "n_neighbours = 8\n")
    dataset = suite.datasets[0]
    bench = Workbench()
    first, seconds = bench.fitted(suite, dataset, Component("oi", "oi", {"n_neighbours": 8}))
    again, seconds_again = bench.fitted(suite, dataset, Component("oi", "oi", {"n_neighbours": 16}))
    assert again is not first and again.n_neighbours == 16 and first.n_neighbours == 8
    assert seconds_again == seconds and again.levels_ == first.levels_
    source, truth = bench.samples(replace(suite, split="val"), dataset)
    obs = truth.where(MaskSpec("random", 0.9, 3).build(source.grid, truth.sizes["time"],
                                                       truth["time"].values))
    fresh = OptimalInterpolation(n_neighbours=16).fit(source.split("train"), source.grid)
    np.testing.assert_array_equal(again.reconstruct(obs).values, fresh.reconstruct(obs).values)
    assert not np.array_equal(first.reconstruct(obs).values, fresh.reconstruct(obs).values)
    oi = Component("oi", "oi", {})
    plan = plan_trials(oi, {"n_neighbours": [16, 32, 64], "nugget": [None, 0.05]},
                       TuneConfig(trials=None, seconds=1.0))
    groups = fit_groups(plan)
    assert [len(g) for g in groups] == [3, 3]  # nugget is read by fit, n_neighbours is not
    assert {plan[i].method.params.get("nugget") for i in groups[1]} == {0.05}
    assert split_jobs(groups, 4) == [groups[0][:2], groups[0][2:], groups[1][:2],
                                     groups[1][2:]]


# -- an OSE suite: tuned on the months of its validation years only --------------------------
OSE_SUITE = """
name = "ose"
samples = 2
seeds = [0]
missing_rates = [0.25]
mask_kinds = ["profile"]
[tune]
seeds = [7]
samples = 2
[observations]
paths = "{paths}"
{val_years}
[[datasets]]
name = "synthetic"
label = "tiny"
resolution = 10.0
depths = [5.0, 50.0]
train_years = 2
val_years = 1
test_years = 1
[[methods]]
name = "offset-climatology"
"""


def write_profiles(path: Path, poison_from: str | None = None) -> None:
    """Profiles of six floats a month, 2000-2003, at ocean cells of the 10° synthetic grid
    on both levels: the train split's climatology plus 0.5 °C plus noise (sd 0.1 °C), so
    that offset-climatology's best offset is 0.5; with ``poison_from`` ("YYYY-MM"),
    1000 °C added from that month on."""
    source = make_source("synthetic", resolution=10.0, depths=[5.0, 50.0], train_years=2,
                         val_years=1, test_years=1)
    grid = source.grid
    climatology = source.split("train").groupby("time.month").mean().values
    rng = np.random.default_rng(0)
    deep = np.argwhere(grid.ocean[-1])
    rows = []
    for month in pd.date_range("2000-01-01", "2003-12-01", freq="MS"):
        for platform in range(6):
            i, j = deep[rng.integers(len(deep))]
            for k, depth in enumerate(grid.depth):
                value = climatology[month.month - 1, k, i, j] + 0.5 + 0.1 * rng.normal()
                rows.append((month + pd.Timedelta(days=14), grid.lat[i], grid.lon[j], depth,
                             value, f"float{platform}"))
    frame = pd.DataFrame(rows, columns=["time", "lat", "lon", "depth", "value", "platform"])
    if poison_from is not None:
        frame.loc[frame.time >= poison_from, "value"] += 1000.0
    frame.to_csv(path, index=False)


def scored_years(rows: pd.DataFrame) -> set[str]:
    """The years of the months scored in ``rows`` (cost rows have no time)."""
    return {time[:4] for time in rows.time if time}


def test_an_ose_suite_is_tuned_on_its_validation_years_only(tmp_path):
    """val_years = [2000, 2001]: the trials score months of 2000-2001 only, and poisoning
    every observation from 2002 on changes no trial's score nor the choice; the tuned
    suite's run scores only months from 2002 on (the poisoned ones)."""
    write_profiles(tmp_path / "clean.csv")
    write_profiles(tmp_path / "poisoned.csv", poison_from="2002-01")
    scores, outcomes = {}, {}
    for name in ("clean", "poisoned"):
        suite = parse_suite(OSE_SUITE.format(paths=tmp_path / f"{name}.csv",
                                             val_years="val_years = [2000, 2001]"))
        config = TuneConfig.from_suite(suite)
        outcomes[name] = tune_suite(suite, tmp_path / f"{name}-tune", config, progress=False)
        assert scored_years(ResultsStore(tmp_path / f"{name}-tune").rows()) == {"2000", "2001"}
        scores[name] = outcomes[name][0].trials.set_index("trial").val_mse
    assert np.isfinite(scores["clean"]).all()
    pd.testing.assert_series_equal(scores["clean"], scores["poisoned"])
    assert outcomes["poisoned"][0].chosen == {"offset": 0.5}
    tuned = parse_suite(tuned_suite_text(suite, outcomes["poisoned"], config,
                                         tmp_path / "poisoned-tune"))
    store = run_suite(tuned, tmp_path / "run", progress=False)
    rows = pd.read_parquet(store.root / "results.parquet")
    assert scored_years(rows) == {"2002", "2003"}
    headline = rows[(rows.point_set == "withheld_obs") & (rows.metric == "mse") & rows.depth.isna()]
    assert (headline.value > 1e5).all()  # the poisoned test months are what the run scores


def test_an_ose_suite_without_validation_years_is_not_tuned(tmp_path):
    write_profiles(tmp_path / "obs.csv")
    suite = parse_suite(OSE_SUITE.format(paths=tmp_path / "obs.csv", val_years=""))
    with pytest.raises(ConfigError, match="an OSE suite is tuned on the observations of its "
                                          "validation years, and .observations. names none"):
        tune_suite(suite, tmp_path / "t", TuneConfig.from_suite(suite), progress=False)
    assert not (tmp_path / "t").exists()
