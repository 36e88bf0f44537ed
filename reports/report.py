"""The comparison report of one results store, and how any report is written to disk.

A :class:`Report` is a title, facts about the run, a few summary sentences and
sections of tables and figures. :func:`build_report` makes it from a results
store alone; :func:`write_report` writes it into a folder::

    report.md          Markdown: facts, summary, tables, links to the figures
    report.html        one self-contained page (figures embedded)
    tables/NAME.md|tex|csv
    figures/NAME.png|pdf
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from reconbench.benchmark.store import ResultsStore, atomic_write
from reconbench.errors import InputError
from reconbench.reports import figures, maps, stats, tables
from reconbench.reports.document import Plot, Report, Section
from reconbench.reports.html import to_html


def load_rows(store: ResultsStore) -> pd.DataFrame:
    """The rows of a store that has scores, or an :class:`InputError` saying what is wrong."""
    if not store.root.is_dir():
        raise InputError(f"results folder {str(store.root)!r} does not exist")
    rows = store.rows()
    if not (rows["point_set"] != "cost").any():
        raise InputError(f"results store {str(store.root)!r} has no scores yet (no finished "
                         f"cell); run 'reconbench run SUITE --results {store.root}'")
    return rows


def run_facts(metadata: dict, rows: pd.DataFrame) -> list[tuple[str, str]]:
    """What was run, where and when, as (name, value) pairs."""
    facts = [("suite", f"{metadata.get('suite', ', '.join(rows['suite'].unique()))}"
                       + (f" — {metadata['description']}" if metadata.get("description") else ""))]
    for key, name in (("config_hash", "config hash"), ("git_commit", "git commit"),
                      ("split", "split"), ("samples", "samples per cell")):
        if key in metadata:
            facts.append((name, str(metadata[key])))
    months = sorted(t[:7] for t in rows["time"].unique() if t)
    if months:
        facts.append(("months scored", ", ".join(months)))
    facts.append(("mask seeds", ", ".join(map(str, sorted(rows["seed"].unique())))))
    facts.append(("mask kinds", ", ".join(sorted(rows["mask_kind"].unique()))))
    facts.append(("missing rates", ", ".join(f"{r:g}" for r in sorted(rows["missing_rate"]
                                                                       .unique()))))
    params = rows.drop_duplicates("method").set_index("method")["params"]
    facts.append(("methods", "; ".join(f"{m} {p}" if p not in ("{}", "") else m
                                       for m, p in params.items())))
    for label, grid in metadata.get("grids", {}).items():
        depths = grid.get("depth_m", [])
        facts.append((f"grid of {label}",
                      f"{grid.get('name', '?')}: {grid.get('n_lat')} lat × {grid.get('n_lon')} "
                      f"lon × {len(depths)} levels"
                      + (f" ({depths[0]:g}–{depths[-1]:g} m)" if depths else "")))
    if metadata.get("tuned"):
        tuned = metadata["tuned"]
        facts.append(("tuned settings", f"chosen on the {tuned.get('split', 'val')} split by "
                                        f"'reconbench tune' (store {tuned.get('store', '?')}, "
                                        f"{tuned.get('finished', '?')})"))
    if metadata.get("versions"):
        facts.append(("versions", ", ".join(f"{k} {v}" for k, v in
                                            sorted(metadata["versions"].items()))))
    started = [run.get("started", "") for run in metadata.get("runs", [])]
    if started:
        facts.append(("runs", f"{len(started)}, first {min(started)}, last {max(started)}"))
    facts.append(("report written", datetime.now(UTC).isoformat(timespec="seconds")))
    return facts


#: The two-sided sign-test p-value under which a method's win over the runner-up is called clear.
CLEAR_WIN_P = 0.05


def winners(rows: pd.DataFrame) -> list[str]:
    """One sentence per (dataset, mask kind, missing rate): which method wins the headline.

    The win over the runner-up is judged month by month (same months, same
    masks; mask seeds averaged within each month, ties dropped): clear when a
    two-sided sign test gives p < :data:`CLEAR_WIN_P`; the Wilcoxon signed-rank p
    on the same differences is given beside it. The sd over samples would mostly
    measure how hard each month is for every method, so it is not used.
    """
    summary = stats.over_samples(rows, "mse", "evaluation")
    blocks = summary.groupby(level=["dataset", "mask_kind"])
    sentences = []
    for (dataset, kind), block in blocks:
        lead = f"{dataset}, {kind} masks: at" if blocks.ngroups > 1 else "At"
        for rate, at_rate in block.groupby(level="missing_rate"):
            ranked = at_rate.droplevel(["dataset", "mask_kind", "missing_rate"])
            ranked = ranked.dropna(subset=["mean"]).sort_values("mean")
            if ranked.empty:
                continue
            best = ranked.iloc[0]
            text = (f"{lead} {100 * rate:g} % missing, **{ranked.index[0]}** has the lowest "
                    f"masked MSE ({tables.Entry(best['mean'], best['std']).text()} °C²)")
            if len(ranked) > 1:
                second = ranked.iloc[1]
                ratio = second["mean"] / best["mean"] if best["mean"] > 0 else float("inf")
                if ratio < 1.1:  # "1× lower" says nothing: a small lead as a percentage
                    lower = f"{100 * (1 - best['mean'] / second['mean']):.2g} % lower"
                else:
                    lower = f"{ratio:.3g}× lower"
                text += f", {lower} than {ranked.index[1]}"
                at = rows[(rows["dataset"] == dataset) & (rows["mask_kind"] == kind)
                          & (rows["missing_rate"] == rate)]
                pair = stats.paired(at, ranked.index[0], ranked.index[1])
                ties = f", {pair.ties} tied" if pair.ties else ""
                text += (f", and lower in {pair.wins} of {pair.n} months (mask seeds averaged "
                         f"per month{ties}; two-sided sign test p = {pair.p:.2g}, Wilcoxon "
                         f"signed-rank p = {pair.p_wilcoxon:.2g}, n = {pair.n}")
                text += ")" if pair.p < CLEAR_WIN_P else ": not a clear win)"
            sentences.append(text + ".")
    return sentences


def build_report(store: ResultsStore, rates: list[float] | None = None,
                 depths: list[float] | None = None) -> Report:
    """The report of one results store.

    ``rates``: missing rates of the per-depth tables and profiles (default
    :func:`stats.chosen_rates`); ``depths``: levels (m) of the maps (default
    :func:`stats.chosen_depths`).
    """
    rows = load_rows(store)
    metadata = store.metadata()
    methods = stats.method_order(rows, metadata)
    styles = figures.method_styles(methods)
    rates = stats.chosen_rates(rows["missing_rate"].unique(), rates)
    headline = stats.over_samples(rows, "mse", "evaluation")
    by_depth = stats.over_samples(rows, "mse", "evaluation", by_depth=True)
    costs = stats.cost(rows)

    rate_plots, depth_plots, map_plots, cost_plots, calibration_plots = [], [], [], [], []
    spectral_plots = []
    for dataset, kind, block in stats.by_dataset_kind(headline):
        stem, title = f"{tables.slug(dataset)}-{tables.slug(kind)}", f"{dataset}, {kind} masks"
        rate_plots.append(Plot(f"error-vs-rate-{stem}", f"Masked MSE on evaluation points "
                               f"against the missing rate ({title}); bars: ± 1 sd over samples.",
                               figures.error_vs_rate(block, styles, title)))
        depth_block = by_depth.xs((dataset, kind), level=["dataset", "mask_kind"])
        if depth_block.index.get_level_values("depth").nunique() > 1:  # no profile of one level
            depth_plots.append(Plot(f"error-vs-depth-{stem}", f"Masked MSE on evaluation points "
                                    f"per level ({title}); shading: ± 1 sd over samples.",
                                    figures.error_vs_depth(depth_block, rates, styles, title)))
        rate = stats.headline_rate(block.index.get_level_values("missing_rate"))
        subset = rows[(rows["dataset"] == dataset) & (rows["mask_kind"] == kind)]
        monthly = figures.error_by_month(subset, rate, styles, title)
        if monthly is not None:
            rate_plots.append(Plot(f"error-by-month-{stem}", f"Masked MSE on evaluation points "
                                   f"month by month at {100 * rate:g} % missing ({title}; mask "
                                   f"seeds averaged per month): the pairs the summary's tests "
                                   f"compare.", monthly))
        calibration = figures.calibration(subset, rate, styles, title)
        if calibration is not None:
            calibration_plots.append(Plot(
                f"calibration-{stem}", f"Spread / skill against the missing rate (bars: ± 1 sd "
                f"over samples) and rank or PIT histograms at {100 * rate:g} % missing, on "
                f"evaluation points ({title}); calibrated: on the dashed lines.", calibration))
        spectral = figures.spectral_scores(subset, rate, styles, title)
        if spectral is not None:
            spectral_plots.append(Plot(
                f"psd-score-{stem}", f"PSD score against zonal wavelength at {100 * rate:g} % "
                f"missing ({title}; all levels pooled, mean over mask seeds), for the whole "
                f"grid and each regional box; dotted: each method's effective resolution, "
                f"where its score falls to 0.5.", spectral))
        coverage = figures.coverage_vs_rate(subset, styles, title)
        if coverage is not None:
            calibration_plots.append(Plot(
                f"coverage-{stem}", f"Share of evaluation points inside each method's central "
                f"50 % and 90 % intervals against the missing rate ({title}; bars: ± 1 sd over "
                f"samples); calibrated: on the dashed nominal lines.", coverage))
        if dataset in costs.index.get_level_values("dataset"):
            cost_plots.append(Plot(f"cost-vs-accuracy-{stem}", f"Masked MSE at {100 * rate:g} % "
                                   f"missing against seconds per field ({title}).",
                                   figures.cost_vs_accuracy(costs.xs(dataset), block, rate,
                                                            styles, title)))
        sample = maps.load_sample(store, rows, dataset, kind, rate, methods)
        if sample is None:
            continue
        date = str(sample.truth["time"].values)[:10] if "time" in sample.truth.coords else "?"
        for depth in stats.chosen_depths(sample.truth["depth"].to_numpy(), depths):
            map_title = f"{title}, {100 * rate:g} % missing, first sample ({date})"
            map_plots.append(Plot(f"maps-{stem}-r{100 * rate:g}-{depth:.0f}m",
                                  f"Truth, observations, reconstructions and errors at "
                                  f"{depth:.0f} m ({map_title}, first mask seed).",
                                  maps.field_maps(sample, depth, styles, map_title)))

    spread = figures.spread_vs_error(rows, styles, "stated uncertainty")
    ose_section = ([Section("At withheld observations",
                            "An observing-system experiment: real observations were withheld, "
                            "each method reconstructed from the rest, and its field was "
                            "interpolated to the withheld points (docs/observations.md).",
                            tables.withheld_tables(rows, methods))]
                   if (rows["point_set"] == stats.WITHHELD).any() else [])
    sections = ose_section + [
        Section("Headline: masked MSE on evaluation points",
                "Evaluation points are the ocean cells a method did not see. Masked MSE is the "
                "mean squared error over them (°C², all levels pooled).",
                tables.headline_tables(rows, methods), rate_plots),
        Section("Masked vs paper-style MSE", "", tables.breakdown_tables(rows, methods)),
        Section("Error by depth", "", tables.depth_tables(rows, methods, rates), depth_plots),
        Section("Maps", "" if map_plots else "The store keeps no fields to map.",
                plots=map_plots),
        Section("Cost", "", tables.cost_tables(rows, methods), cost_plots),
        Section("Spectral effective resolution",
                "The smallest zonal scale each method recovers (ocean data challenges' PSD "
                "score), from the cell's samples.", tables.spectral_tables(rows, methods),
                spectral_plots),
        Section("Uncertainty", "" if spread else "No method in this store states its "
                "uncertainty (a variance or an ensemble); nothing to show.",
                tables.uncertainty_tables(rows, methods),
                calibration_plots + ([Plot("spread-vs-error", "Stated spread against the error "
                                           "of the mean, one point per sample, and CRPS.",
                                           spread)] if spread else [])),
    ]
    return Report(f"reconbench results: suite {metadata.get('suite', rows['suite'].iloc[0])}",
                  run_facts(metadata, rows), winners(rows), sections)


def to_markdown(report: Report) -> str:
    """The report as Markdown; figures are linked as ``figures/NAME.png``."""
    lines = [f"# {report.title}", ""] + [f"- {s}" for s in report.summary] + [""]
    lines += ["## Run", ""] + [f"- **{name}**: {value}" for name, value in report.facts] + [""]
    for section in report.sections:
        lines += [f"## {section.heading}", ""] + ([section.text, ""] if section.text else [])
        lines += [tables.to_markdown(t) for t in section.tables]
        lines += [f"![{p.caption}](figures/{p.name}.png)\n\n*{p.caption}*\n"
                  for p in section.plots]
    return "\n".join(lines)


def write_report(report: Report, output: Path) -> Path:
    """Write ``report`` into the folder ``output`` (see the module docstring); returns it."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise InputError(f"report output {str(output)!r} is a file; give a folder")
    images = {}
    for section in report.sections:
        for table in section.tables:
            for suffix, render in (("md", tables.to_markdown), ("tex", tables.to_latex),
                                   ("csv", tables.to_csv)):
                text = render(table)
                atomic_write(output / "tables" / f"{table.name}.{suffix}",
                             lambda tmp, text=text: tmp.write_text(text))
        for plot in section.plots:
            for suffix in ("png", "pdf"):
                atomic_write(output / "figures" / f"{plot.name}.{suffix}",
                             lambda tmp, p=plot, s=suffix: p.figure.savefig(tmp, format=s,
                                                                            dpi=150))
            images[plot.name] = (output / "figures" / f"{plot.name}.png").read_bytes()
    markdown, page = to_markdown(report), to_html(report, images)
    atomic_write(output / "report.md", lambda tmp: tmp.write_text(markdown))
    atomic_write(output / "report.html", lambda tmp: tmp.write_text(page))
    return output

