"""Scores averaged over samples: the numbers every table, figure and summary shows.

A results store holds one row per (cell, sample, depth, point set, metric); see
:mod:`reconbench.benchmark.store`. Reports average a score over *samples*
(months x mask seeds of a cell group) and show the mean ± standard deviation
(ddof = 1). Scores over all levels are rows with ``depth`` = NaN; per-level
scores have the level's depth in metres. Cost rows (``point_set`` = "cost") are
one per cell.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest, wilcoxon

from reconbench.errors import InputError

#: How a group of cells is identified in every summary.
KEYS = ["dataset", "mask_kind", "method", "missing_rate"]

#: The point set of an OSE's scores: the withheld real observations.
WITHHELD = "withheld_obs"

#: The missing rate of the ReconMOST paper; reports show it by default.
PAPER_RATE = 0.925


def over_samples(rows: pd.DataFrame, metric: str, point_set: str = "evaluation",
                 by_depth: bool = False) -> pd.DataFrame:
    """Mean, sd and count over samples of one score.

    Returns a DataFrame indexed by :data:`KEYS` (plus ``depth`` when
    ``by_depth``) with columns ``mean``, ``std`` (NaN for one sample) and ``n``.
    """
    sel = rows[(rows["metric"] == metric) & (rows["point_set"] == point_set)
               & (rows["sample"] >= 0)]
    sel = sel[sel["depth"].notna()] if by_depth else sel[sel["depth"].isna()]
    keys = KEYS + (["depth"] if by_depth else [])
    return sel.groupby(keys)["value"].agg(mean="mean", std="std", n="count")


@dataclass(frozen=True)
class PairedComparison:
    """Method a against method b month by month (same months, same masks).

    Mask seeds of one month are averaged first, so each month is one pair; ``n``:
    months compared with a difference (ties dropped); ``wins``: months of those
    where a's score is lower; ``p``: two-sided sign-test p-value of ``wins`` of
    ``n``; ``p_wilcoxon``: two-sided Wilcoxon signed-rank p-value on the same
    non-tied differences (NaN with fewer than one pair); ``ties``: months dropped.
    """

    wins: int
    n: int
    p: float
    p_wilcoxon: float = float("nan")
    ties: int = 0


def paired_months(wide: pd.DataFrame, a: str, b: str) -> PairedComparison:
    """The comparison of columns ``a`` and ``b`` of ``wide`` (one row per month)."""
    diff = (wide[a] - wide[b]).to_numpy()
    ties = int((diff == 0).sum())
    diff = diff[diff != 0]
    n = diff.size
    if n == 0:
        return PairedComparison(0, 0, 1.0, float("nan"), ties)
    wins = int((diff < 0).sum())
    return PairedComparison(wins, n, float(binomtest(wins, n, 0.5).pvalue),
                            float(wilcoxon(diff, alternative="two-sided").pvalue), ties)


def paired(rows: pd.DataFrame, a: str, b: str, metric: str = "mse",
           point_set: str = "evaluation") -> PairedComparison:
    """Compare methods ``a`` and ``b`` month by month on all-level ``metric`` rows.

    ``rows`` must be of one dataset, mask kind and missing rate. The scores of the
    mask seeds of one month (``time``) are averaged before pairing: the seeds share
    the month's truth, so they are not independent samples.
    """
    sel = rows[(rows["metric"] == metric) & (rows["point_set"] == point_set)
               & (rows["sample"] >= 0) & rows["depth"].isna() & rows["method"].isin([a, b])]
    wide = sel.pivot_table(index="time", columns="method", values="value",
                           aggfunc="mean").dropna()
    if wide.empty or a not in wide or b not in wide:
        return PairedComparison(0, 0, 1.0)
    return paired_months(wide, a, b)


def by_dataset_kind(summary: pd.DataFrame):
    """``(dataset, mask kind, block)`` for each pair in a summary of :func:`over_samples`;
    ``block`` keeps the remaining index levels."""
    for (dataset, kind), block in summary.groupby(level=["dataset", "mask_kind"]):
        yield dataset, kind, block.droplevel(["dataset", "mask_kind"])


def cost(rows: pd.DataFrame) -> pd.DataFrame:
    """Cost per (dataset, method) over all its cells.

    Columns: ``seconds_per_field`` and ``seconds_per_field_std`` (mean and sd over
    cells), ``peak_rss_mb`` (the highest over cells, MiB) and ``fit_seconds``
    (mean over cells: the method is fitted once per dataset and run).
    """
    sel = rows[rows["point_set"] == "cost"]
    wide = sel.pivot_table(index=["dataset", "method", "cell"], columns="metric",
                           values="value", aggfunc="first")
    groups = wide.groupby(level=["dataset", "method"])
    return pd.DataFrame({"seconds_per_field": groups["seconds_per_field"].mean(),
                         "seconds_per_field_std": groups["seconds_per_field"].std(),
                         "peak_rss_mb": groups["peak_rss_mb"].max(),
                         "fit_seconds": groups["fit_seconds"].mean()})


def method_order(rows: pd.DataFrame, metadata: dict | None = None) -> list[str]:
    """The methods of ``rows`` in the order of the suite file, then in order of appearance."""
    present = list(dict.fromkeys(rows["method"]))
    try:
        suite = tomllib.loads((metadata or {}).get("suite_toml", ""))
    except tomllib.TOMLDecodeError:
        suite = {}
    listed = [m.get("label", m.get("name")) for m in suite.get("methods", [])]
    return [m for m in listed if m in present] + [m for m in present if m not in listed]


def chosen_rates(available, wanted=None) -> list[float]:
    """The missing rates shown in per-depth tables, profiles and maps.

    ``wanted`` rates must be among ``available``; by default the lowest, the one
    nearest the paper's 92.5 % and the highest.
    """
    available = sorted({float(r) for r in available})
    if wanted:
        missing = [r for r in wanted if not np.isclose(available, r).any()]
        if missing:
            raise InputError(f"missing rate(s) {', '.join(f'{r:g}' for r in missing)} are not in "
                             f"the results; available: {', '.join(f'{r:g}' for r in available)}")
        return sorted(r for r in available if np.isclose(wanted, r).any())
    nearest = min(available, key=lambda r: abs(r - PAPER_RATE))
    return sorted({available[0], nearest, available[-1]})


def headline_rate(available) -> float:
    """The missing rate nearest the paper's 92.5 % (for maps and the cost scatter)."""
    return min((float(r) for r in available), key=lambda r: abs(r - PAPER_RATE))


def chosen_depths(available, wanted=None) -> list[float]:
    """Levels (m) for maps: the nearest to each ``wanted`` depth, by default the
    shallowest and the one nearest 500 m."""
    available = np.asarray(sorted(available), dtype=float)
    targets = wanted if wanted else [available[0], 500.0]
    return sorted({float(available[np.abs(available - t).argmin()]) for t in targets})
