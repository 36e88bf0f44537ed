"""The months a suite scores: stratified over calendar months and years."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconbench.benchmark.runner import Workbench
from reconbench.benchmark.samples import calendar_months, sample_indices, season_of
from reconbench.benchmark.suite import load_suite, shipped_suites
from reconbench.datasets.daily_sea import write_daily_sea
from reconbench.errors import ReconbenchError


def monthly(start: str, n: int) -> np.ndarray:
    """``n`` mid-month time stamps from the month ``start`` on."""
    return (pd.date_range(start, periods=n, freq="MS") + pd.Timedelta(days=14)).to_numpy()


@settings(max_examples=200, deadline=None)
@given(start_year=st.integers(1900, 2100), start_month=st.integers(1, 12),
       n_months=st.integers(12, 720))
def test_twelve_samples_cover_every_calendar_month(start_year, start_month, n_months):
    times = monthly(f"{start_year}-{start_month:02d}", n_months)
    idx = sample_indices(times, 12)
    assert sorted(calendar_months(times[idx])) == list(range(1, 13))


@settings(max_examples=200, deadline=None)
@given(start_month=st.integers(1, 12), n_months=st.integers(1, 400), data=st.data())
def test_any_count_gives_distinct_months_spread_over_the_seasons(start_month, n_months, data):
    times = monthly(f"2000-{start_month:02d}", n_months)
    n = data.draw(st.integers(1, n_months))
    idx = sample_indices(times, n)
    assert idx.size == n and np.unique(idx).size == n and np.all(np.diff(idx) > 0)
    months = calendar_months(times[idx])
    n_distinct = min(n, len(set(calendar_months(times))))
    assert len(set(months)) == n_distinct  # never the same month twice while others are free
    if n_months >= 12:  # a split holding every month: as many seasons as there are samples
        assert len({season_of(m) for m in months}) == min(n, 4)
        # and each month as often as any other, give or take one
        counts = np.bincount(months, minlength=13)[1:]
        if n <= 12 * (n_months // 12):
            assert counts.max() - counts.min() <= 1


def test_known_choices():
    ten_years = monthly("2000-01", 120)
    picked = pd.DatetimeIndex(ten_years[sample_indices(ten_years, 6)]).strftime("%Y-%m")
    # before: 2000-01, 2002-01, 2004-01, 2005-12, 2007-12, 2009-12 (winter only)
    # sample j: the month of its calendar month nearest index (j + 1/2) / 6 * 119
    assert list(picked) == ["2001-02", "2002-04", "2004-06", "2005-08", "2007-10", "2008-12"]
    picked = pd.DatetimeIndex(ten_years[sample_indices(ten_years, 4)]).strftime("%Y-%m")
    assert list(picked) == ["2001-02", "2003-05", "2006-08", "2008-11"]


def test_a_split_of_some_calendar_months_is_stratified_over_those():
    times = monthly("2000-01", 48)
    some = times[np.isin(calendar_months(times), [3, 6, 9, 12])]
    assert sorted(calendar_months(some[sample_indices(some, 4)])) == [3, 6, 9, 12]


def test_too_many_samples_is_an_error():
    with pytest.raises(ReconbenchError, match="asks for 13 samples but the split has only 12"):
        sample_indices(monthly("2000-01", 12), 13)


@pytest.mark.parametrize("name", [n for n in shipped_suites() if not load_suite(n).observations])
def test_no_shipped_suite_scores_one_season_only(name, request, tmp_path, monkeypatch):
    """Every gridded suite (an OSE suite scores the months its observations hold, see
    benchmark/ose.py, not months of a split)."""
    suite = load_suite(name)
    if name == "daily-sea":  # its file is written by reconbench make-daily-sea
        monkeypatch.chdir(tmp_path)
        write_daily_sea("daily_sea.nc", resolution=2.0)
    elif any(d.name != "synthetic" for d in suite.datasets):
        request.getfixturevalue("shared_data")  # real files: skipped without them
    bench = Workbench()
    for dataset in suite.datasets:
        times = bench.source(dataset).split_times(suite.split)
        months = calendar_months(times[sample_indices(times, suite.samples)])
        seasons = {season_of(m) for m in months}
        assert len(seasons) == min(suite.samples, 4), (dataset.label, sorted(months))
