"""The runner end to end on a small synthetic ocean: rows, masks, no leaks, resume."""

import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_suite import TINY_DATASET, tiny_suite

import reconbench
from reconbench.benchmark.runner import git_commit, run_suite
from reconbench.benchmark.samples import sample_indices
from reconbench.benchmark.store import COLUMNS, ResultsStore
from reconbench.benchmark.suite import parse_suite
from reconbench.datasets.build import make_source
from reconbench.errors import ReconbenchError
from reconbench.methods.base import Method
from reconbench.methods.registry import register_method

SUITE = tiny_suite(["climatology", "spy", ("spy", "spy-again")], [0.5, 0.9], seeds=[0, 1],
                   dataset_label="tiny")
SEEN: list = []  # every batch of observations a Spy was shown, in order


@register_method("spy")
class Spy(Method):
    """Records what it is shown and answers with the observed mean (a test double)."""

    def reconstruct(self, obs):
        SEEN.append(obs.copy())
        return obs.copy(data=np.full(obs.shape, np.nanmean(obs.values), dtype=np.float32))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    SEEN.clear()
    root = tmp_path_factory.mktemp("results") / "tiny"
    return run_suite(parse_suite(SUITE), root, progress=False)


@pytest.fixture(scope="module")
def source():
    return make_source("synthetic", **TINY_DATASET)


def test_rows_are_complete(store, source):
    rows = pd.read_parquet(store.root / "results.parquet")
    assert list(rows.columns) == COLUMNS
    n_levels = source.grid.depth.size
    n_cells = 3 * 2 * 2  # methods x rates x seeds
    per_sample = (n_levels + 1) * (3 * 8 + 1)  # 3 point sets x (6 metrics, n_points, coverage)
    # plus the paper total; per cell 4 cost rows and the spectral rows (effective resolution
    # per level + pooled, and the pooled PSD score of each wavelength bin a segment reaches)
    spectral = rows[rows.point_set == "spectral"]
    resolution = spectral[spectral.metric == "effective_resolution_km"]
    assert len(resolution) == n_cells * (n_levels + 1) and (spectral["sample"] == -1).all()
    psd = spectral[spectral.metric != "effective_resolution_km"]
    assert psd.metric.str.fullmatch(r"psd_score_\d\d").all() and psd.depth.isna().all()
    assert len(rows) == n_cells * (2 * per_sample + 4) + len(spectral)
    assert rows.groupby("cell").ngroups == n_cells
    headline = rows[(rows.metric == "mse") & (rows.point_set == "evaluation")]
    assert headline.value.notna().all() and (headline.value > 0).all()
    assert set(rows[rows.point_set == "cost"].metric) == {"fit_seconds", "seconds_per_field",
                                                          "peak_rss_mb", "scoring_seconds"}
    assert pd.read_csv(store.root / "results.csv").shape == rows.shape


def test_methods_see_only_the_guidance_points(store, source):
    # each spy label saw 4 batches, in order r=0.5 s0, s1, r=0.9 s0, s1
    batches = SEEN
    assert len(batches) == 8
    ocean = source.grid.ocean
    for obs, rate in zip(batches[:4], [0.5, 0.5, 0.9, 0.9], strict=True):
        finite = np.isfinite(obs.values)
        assert not (finite & ~ocean).any()
        expected = np.maximum(np.round((1 - rate) * ocean.sum(axis=(1, 2))), 1)
        np.testing.assert_array_equal(finite.sum(axis=(2, 3)), np.tile(expected, (2, 1)))


def test_every_method_gets_the_same_masks_and_truth(store):
    rows = pd.read_parquet(store.root / "results.parquet")
    n = rows[rows.metric == "n_points"].pivot_table(
        index=["missing_rate", "seed", "sample", "depth", "point_set"], columns="method",
        values="value")
    assert (n.nunique(axis=1) == 1).all()
    a, b = SEEN[0], SEEN[4]  # first batch of "spy" and of "spy-again"
    np.testing.assert_array_equal(np.isfinite(a.values), np.isfinite(b.values))
    np.testing.assert_array_equal(a.values, b.values)


def test_samples_and_fields_are_kept(store, source):
    test = source.split("test")
    idx = sample_indices(test["time"].values, 2)
    # one year, two samples: April and October (stratified over the calendar months)
    np.testing.assert_array_equal(test["time"].dt.month.values[idx], [4, 10])
    truth = store.truth("tiny")
    np.testing.assert_allclose(truth.values, test.isel(time=idx[0]).values, equal_nan=True)
    rows = pd.read_parquet(store.root / "results.parquet")
    first_seed = rows[(rows.seed == 0) & (rows.method == "climatology")].cell.unique()
    for key in first_seed:
        fields = store.reconstruction(key)
        assert fields["reconstruction"].shape == source.grid.shape
        assert int(fields["guidance"].sum()) > 0
    assert not (store.root / "fields" / f"{rows[rows.seed == 1].cell.iloc[0]}.nc").exists()


def test_metadata(store):
    meta = store.metadata()
    assert meta["suite"] == "tiny" and meta["seeds"] == [0, 1]
    assert {"numpy", "xarray", "torch", "python"} <= set(meta["versions"])
    assert meta["grids"]["tiny"]["n_lat"] == 18 and len(meta["runs"]) == 1


def test_written_files_get_the_usual_permissions(store):
    # atomic writes go through mkstemp files (mode 0600); the store must still be
    # readable like any file this process writes (0666 less the umask)
    umask = os.umask(0)
    os.umask(umask)
    written = [store.root / "results.parquet", store.root / "results.csv",
               store.root / "metadata.json", *store.cells_dir.iterdir()]
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o666 & ~umask}


def test_rerun_skips_finished_cells(store):
    before = {p.name: p.stat().st_mtime_ns for p in store.cells_dir.iterdir()}
    SEEN.clear()
    run_suite(parse_suite(SUITE), store.root, progress=False)
    assert SEEN == []  # nothing was reconstructed again
    assert {p.name: p.stat().st_mtime_ns for p in store.cells_dir.iterdir()} == before
    assert len(store.metadata()["runs"]) == 1  # a run that lands no cell records nothing


@register_method("broken")
class Broken(Method):
    """Returns NaN over the ocean (a test double)."""

    def reconstruct(self, obs):
        return obs.copy(data=np.full(obs.shape, np.nan, dtype=np.float32))


def test_a_failing_method_keeps_earlier_results(tmp_path):
    suite = parse_suite(SUITE.replace('name = "spy"\nlabel = "spy-again"', 'name = "broken"'))
    with pytest.raises(ReconbenchError, match="method 'broken' returned .* NaN"):
        run_suite(suite, tmp_path / "r", progress=False)
    store = ResultsStore(tmp_path / "r")
    assert set(store.rows().method) == {"climatology", "spy"}  # finished before the failure
    assert len(list(store.cells_dir.glob("*.parquet"))) == 8


def test_bad_method_parameter_writes_nothing(tmp_path):
    with pytest.raises(ReconbenchError, match=r"unknown parameter\(s\) window"):
        suite = parse_suite(SUITE.replace('name = "climatology"',
                                          'name = "climatology"\nwindow = 3'))
        run_suite(suite, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_git_commit_is_the_source_checkouts_wherever_the_run_starts(tmp_path, monkeypatch):
    """Provenance names the reconbench code that ran, not a git repository the user
    happens to start the command in."""
    source = Path(reconbench.__file__).resolve().parent
    expected = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                              text=True)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    if expected.returncode:
        assert git_commit() == "unknown"
    else:
        assert git_commit() == expected.stdout.strip()
