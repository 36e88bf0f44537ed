"""Which months of a split a suite scores: stratified over calendar months and years.

A suite scores ``samples`` months of its split. Spreading them evenly in time
can land on one season (six samples over ten years are all winters), so the
samples are stratified instead:

* calendar months: with c distinct calendar months in the split, sample j
  (j = 0 .. n - 1) takes the calendar month of slot floor((j + 1/2) c / n), so
  any n >= c covers every calendar month (each month floor(n / c) or one more
  times) and a smaller n spreads over the year (4 samples: February, May,
  August, November, one per season);
* years: sample j takes, among the months of its calendar month, the one
  nearest the fraction (j + 1/2) / n of the split, so the samples also spread
  over the years (12 samples over ten years: January of the first year ...
  December of the last).

A calendar month with no unused month left (more samples than years) gives its
sample to the nearest unused month of any calendar month, after every calendar
month has had its first sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconbench.errors import ReconbenchError


def sample_indices(times: np.ndarray, n_samples: int) -> np.ndarray:
    """Indices (n_samples,) into ``times`` (N,) of the months to score, ascending.

    ``times`` are the split's time stamps (datetime64 or cftime), in time order.
    """
    n_available = len(times)
    if n_samples > n_available:
        raise ReconbenchError(f"the suite asks for {n_samples} samples but the split has only "
                              f"{n_available} months")
    month = calendar_months(times)
    months = np.unique(month)
    slot = np.floor((np.arange(n_samples) + 0.5) * months.size / n_samples).astype(int)
    target = (np.arange(n_samples) + 0.5) / n_samples * (n_available - 1)
    # the first sample of every calendar month is placed before any second one
    rank = np.array([np.sum(slot[:j] == slot[j]) for j in range(n_samples)])
    used = np.zeros(n_available, dtype=bool)
    chosen = []
    for j in np.lexsort((np.arange(n_samples), rank)):
        candidates = np.flatnonzero((month == months[slot[j]]) & ~used)
        if candidates.size == 0:
            candidates = np.flatnonzero(~used)
        pick = candidates[np.argmin(np.abs(candidates - target[j]))]
        used[pick] = True
        chosen.append(pick)
    return np.sort(np.array(chosen, dtype=int))


def calendar_months(times: np.ndarray) -> np.ndarray:
    """Calendar month 1..12 of each time stamp (N,), datetime64 or cftime."""
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64):
        return pd.DatetimeIndex(times).month.to_numpy()
    return np.array([t.month for t in times])


def season_of(month: int) -> str:
    """The meteorological season of calendar month ``month`` (1..12): DJF, MAM, JJA or SON."""
    return ("DJF", "MAM", "JJA", "SON")[(month % 12) // 3]
