"""A dataset larger than a memory budget goes through a suite from its cache: the peak
resident memory of the run does not grow with the number of months (real processes,
their peak RSS from the kernel)."""

import resource
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from reconbench.datasets.build import make_uncached_source
from reconbench.datasets.zarr_cache import build_cache, cache_folder

pytestmark = pytest.mark.slow  # run first: see conftest.py

#: Extra memory (MB) the run on the long dataset may take over the run on the short one.
BUDGET_MB = 25

PEAK = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def suite_text(train_years: int) -> str:
    return f"""
name = "ooc"
samples = 2
seeds = [0]
missing_rates = [0.9]
[[datasets]]
name = "synthetic"
resolution = 4
train_years = {train_years}
val_years = 1
test_years = 1
seed = 21
[[methods]]
name = "climatology"
[[methods]]
name = "dineof"
train_months = 120
train_memory_mb = 1.0
"""


def params(train_years: int) -> dict:
    return {"resolution": 4, "train_years": train_years, "val_years": 1, "test_years": 1,
            "seed": 21}


@pytest.fixture
def caches():
    sources = [make_uncached_source("synthetic", **params(y)) for y in (1, 24)]
    for source in sources:
        build_cache(source)
    yield sources
    for source in sources:
        shutil.rmtree(cache_folder(source), ignore_errors=True)
        source.cache_path.unlink(missing_ok=True)


def peak_rss_mb(suite, results) -> float:
    out = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "reconbench",
                          "run", str(suite), "--results", str(results), "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1]) / 1024  # ru_maxrss is in kB on Linux


def test_a_dataset_larger_than_the_budget_goes_through_a_suite(caches, tmp_path):
    short, long = caches
    train_mb = [4 * s.split_times("train").size * np.prod(s.grid.shape) / 1e6
                for s in (short, long)]
    assert train_mb[1] - train_mb[0] > 2 * BUDGET_MB  # the extra months exceed the budget
    peaks = []
    for years in (1, 24):
        (tmp_path / f"s{years}.toml").write_text(suite_text(years))
        peaks.append(peak_rss_mb(tmp_path / f"s{years}.toml", tmp_path / f"r{years}"))
    assert peaks[1] - peaks[0] <= BUDGET_MB, (peaks, train_mb)
    rows = pd.read_parquet(tmp_path / "r24" / "results.parquet")
    assert set(rows.method) == {"climatology", "dineof"}
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0
