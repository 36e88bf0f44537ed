"""Two results stores side by side: a before/after report with differences.

Cells are matched on (dataset, mask kind, method, missing rate); a method or
rate in only one store shows "–" on the other side. Differences are B − A, so a
negative change in MSE or seconds is an improvement of B over A.
"""

from __future__ import annotations

import math

import pandas as pd

from reconbench.benchmark.store import ResultsStore
from reconbench.errors import InputError
from reconbench.reports import figures, stats, tables
from reconbench.reports.document import Plot, Report, Section
from reconbench.reports.report import load_rows, run_facts
from reconbench.reports.tables import Entry, Table


def _change(a: Entry, b: Entry) -> tuple[Entry, Entry]:
    """B − A and the change in % of A."""
    diff = b.mean - a.mean
    percent = 100 * diff / a.mean if a.mean else math.nan
    return Entry(diff, fmt="+.3g"), Entry(percent, fmt="+.1f")


def _side_by_side(a: pd.DataFrame, b: pd.DataFrame, key: tuple) -> list[Entry]:
    entries = [tables.entry(a, key), tables.entry(b, key)]
    return entries + list(_change(*entries))


def headline_tables(a: pd.DataFrame, b: pd.DataFrame, methods: list[str]) -> list[Table]:
    """Masked MSE on evaluation points of A and B, per missing rate and method."""
    columns = ("A", "B", "B − A", "change (%)")
    result = []
    for dataset, kind, block in stats.by_dataset_kind(pd.concat([a, b])):
        rates = sorted(set(block.index.get_level_values("missing_rate")))
        present = [m for m in methods if m in block.index.get_level_values("method")]
        title = (f"Masked MSE (°C²) on evaluation points, all levels, run A vs run B. Dataset "
                 f"{dataset}, {kind} masks; A and B are mean ± sd over samples; negative "
                 f"changes are improvements of B; bold: lowest in each column at each rate.")
        sections = [[((tables.percent(r) if i == 0 else "", m),
                      _side_by_side(a, b, (dataset, kind, m, r)))
                     for i, m in enumerate(present)] for r in rates]
        result.append(Table(f"compare-headline-{tables.slug(dataset)}-{tables.slug(kind)}",
                            title, ("missing", "method"), columns, sections).mark_best())
    return result


def cost_table(a: pd.DataFrame, b: pd.DataFrame, methods: list[str]) -> Table:
    """Seconds per field of A and B per dataset and method."""
    section = []
    for dataset, method in sorted(set(a.index) | set(b.index),
                                  key=lambda k: (k[0], methods.index(k[1]))):
        pair = [Entry(f.loc[(dataset, method), "seconds_per_field"],
                      f.loc[(dataset, method), "seconds_per_field_std"])
                if (dataset, method) in f.index else Entry(math.nan) for f in (a, b)]
        section.append(((dataset, method), pair + list(_change(*pair))))
    return Table("compare-cost", "Seconds per field (wall clock, mean ± sd over cells), run A "
                 "vs run B; negative changes are speed-ups of B; bold: lowest in each column.",
                 ("dataset", "method"), ("A", "B", "B − A", "change (%)"),
                 [section]).mark_best()


def changes(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """One sentence per (dataset, mask kind, missing rate) with each method's change."""
    both = a.add_suffix("_a").join(b.add_suffix("_b"), how="inner")  # same columns in both
    sentences = []
    for (dataset, kind, rate), block in both.groupby(level=["dataset", "mask_kind",
                                                             "missing_rate"]):
        parts = [f"{method} {row.mean_a:.3g} → {row.mean_b:.3g} °C² "
                 f"({100 * (row.mean_b - row.mean_a) / row.mean_a:+.1f} %)"
                 for (_, _, method, _), row in block.iterrows()]
        sentences.append(f"{dataset}, {kind} masks, {100 * rate:g} % missing: "
                         + "; ".join(parts) + ".")
    return sentences


def build_comparison(store_a: ResultsStore, store_b: ResultsStore) -> Report:
    """The report comparing run A (``store_a``, e.g. before) with run B (after)."""
    rows_a, rows_b = load_rows(store_a), load_rows(store_b)
    methods = stats.method_order(rows_a, store_a.metadata())  # A's colours, as in A's report
    methods += [m for m in stats.method_order(rows_b, store_b.metadata()) if m not in methods]
    styles = figures.method_styles(methods)
    mse_a = stats.over_samples(rows_a, "mse", "evaluation")
    mse_b = stats.over_samples(rows_b, "mse", "evaluation")
    if not mse_a.index.intersection(mse_b.index).size:
        raise InputError(f"results stores {str(store_a.root)!r} and {str(store_b.root)!r} have "
                         f"no (dataset, mask kind, method, missing rate) in common")
    plots = []
    for dataset, kind, block in stats.by_dataset_kind(mse_b):
        if (dataset, kind) not in mse_a.droplevel(["method", "missing_rate"]).index:
            continue
        title = f"{dataset}, {kind} masks"
        plots.append(Plot(f"compare-error-vs-rate-{tables.slug(dataset)}-{tables.slug(kind)}",
                          f"Masked MSE on evaluation points, run A dashed with hollow markers, "
                          f"run B solid ({title}).",
                          figures.error_vs_rate(block, styles, title,
                                                baseline=mse_a.xs((dataset, kind)),
                                                labels=("A", "B"))))
    facts = [("A", str(store_a.root)), ("B", str(store_b.root))]
    for label, store, rows in (("A", store_a, rows_a), ("B", store_b, rows_b)):
        facts += [(f"{label}: {name}", value) for name, value in run_facts(store.metadata(), rows)
                  if name in ("suite", "config hash", "git commit", "runs", "versions")]
    sections = [Section("Masked MSE on evaluation points",
                        "Differences are B − A: negative is better for B.",
                        headline_tables(mse_a, mse_b, methods), plots),
                Section("Cost", "", [cost_table(stats.cost(rows_a), stats.cost(rows_b),
                                                methods)])]
    return Report(f"reconbench comparison: {store_a.root.name} (A) vs {store_b.root.name} (B)",
                  facts, changes(mse_a, mse_b), sections)
