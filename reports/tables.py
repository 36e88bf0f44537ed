"""Paper-style tables built from the rows of a results store, and their renderings.

A :class:`Table` is format-free: label columns, value columns and sections of
rows whose entries are means ± sd over samples (see :mod:`.stats`). The builders
make the four kinds of table a report shows:

- ``headline``: methods x missing rates, masked MSE on evaluation points;
- ``breakdown``: per missing rate and method, the masked MSE on evaluation and
  guidance points beside the ReconMOST paper-style MSE on evaluation, guidance
  and "total" (labelled so that nobody confuses the two kinds of number);
- ``depth``: levels x methods at one missing rate, masked MSE on evaluation points;
- ``cost``: seconds per field, peak memory and fit time per method.

The best (lowest) value is in bold: per column where columns are missing rates
or scores, per row where columns are methods (depth tables), so that bold always
marks the best method. Renderings: Markdown, LaTeX (booktabs, ready for
``\\input``), CSV (tidy numbers) and HTML.
"""

from __future__ import annotations

import html
import io
import math
import re
from dataclasses import dataclass, field, replace

import pandas as pd

from reconbench.reports import stats

#: The breakdown table's columns: (metric, point set, header).
BREAKDOWN = (("mse", "evaluation", "masked MSE, evaluation"),
             ("mse", "guidance", "masked MSE, guidance"),
             ("mse_paper", "evaluation", "paper MSE, evaluation"),
             ("mse_paper", "guidance", "paper MSE, guidance"),
             ("mse_paper", "total", "paper MSE, total"))

SIGNIFICANT = 3  # significant digits of a mean in every table

#: Decimal exponents [low, high) of the means written in fixed notation.
SCIENTIFIC_FROM = (-4, 6)

PAPER_NOTE = ("Paper MSE is the ReconMOST paper's number: squared errors summed over the "
              "points and divided by every cell of the level, land included, then averaged "
              "over levels; total = r · evaluation + (1 − r) · guidance. It is smaller than "
              "the masked MSE (sum over the points / number of points) by about the fraction "
              "of the level the points cover: never compare one with the other.")


@dataclass(frozen=True)
class Entry:
    """One table cell: a mean, its sd over ``n`` samples, bold or not."""

    mean: float
    std: float = math.nan
    n: int = 0
    bold: bool = False
    fmt: str = ""  # a format for the mean alone (e.g. "+.1f"), else as below

    def text(self) -> str:
        """``mean ± sd`` to 3 significant digits of the mean (``mean`` alone without an
        sd, "–" without a mean); the sd gets the mean's decimals. A mean below 1e-4 or
        from 1e6 on in magnitude (0 apart) is written in scientific notation, the sd too."""
        if math.isnan(self.mean):
            return "–"
        if self.fmt:
            return format(self.mean, self.fmt)
        magnitude = math.floor(math.log10(abs(self.mean))) if self.mean else 0
        if not SCIENTIFIC_FROM[0] <= magnitude < SCIENTIFIC_FROM[1]:
            spec = f".{SIGNIFICANT - 1}e"
            if math.isnan(self.std):
                return format(self.mean, spec)
            return f"{format(self.mean, spec)} ± {format(self.std, spec)}"
        decimals = max(0, SIGNIFICANT - 1 - magnitude)
        if math.isnan(self.std):
            return f"{self.mean:.{decimals}f}"
        return f"{self.mean:.{decimals}f} ± {self.std:.{decimals}f}"


@dataclass
class Table:
    """A table: ``sections`` are lists of ``(labels, entries)`` rows."""

    name: str  # file stem, e.g. "headline-synthetic-4deg-random"
    title: str  # what the numbers are, one paragraph
    index: tuple[str, ...]  # headers of the label columns
    columns: tuple[str, ...]  # headers of the value columns
    sections: list[list[tuple[tuple[str, ...], list[Entry]]]] = field(default_factory=list)
    best_along: str = "column"  # "column" or "row": where the lowest mean is bold
    unranked: tuple[int, ...] = ()  # columns never bolded (errors on guidance points)

    def mark_best(self) -> Table:
        """Set ``bold`` on the lowest mean of each column (or row) of each section."""
        for section in self.sections:
            if self.best_along == "row":
                for i, (labels, entries) in enumerate(section):
                    section[i] = (labels, _bold_lowest(entries))
            else:
                columns = [[row[1][j] for row in section] if j in self.unranked
                           else _bold_lowest([row[1][j] for row in section])
                           for j in range(len(self.columns))]
                for i, (labels, _) in enumerate(section):
                    section[i] = (labels, [col[i] for col in columns])
        return self


def _bold_lowest(entries: list[Entry]) -> list[Entry]:
    means = [e.mean for e in entries if not math.isnan(e.mean)]
    if len(means) < 2:
        return list(entries)
    return [replace(e, bold=bool(e.mean == min(means))) for e in entries]


def slug(text: str) -> str:
    """``text`` made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(text)).strip("-")


def percent(rate: float) -> str:
    """``0.925`` -> ``"92.5 %"``."""
    return f"{100 * rate:g} %"


def rate_label(rate: float) -> str:
    """``0.925`` -> ``"92.5 % missing"``."""
    return f"{percent(rate)} missing"


def depth_label(depth: float) -> str:
    """Level depth in metres as a table label."""
    return f"{depth:.1f}" if depth < 10 else f"{depth:.0f}"


def _samples(n: pd.Series) -> str:
    low, high = int(n.min()), int(n.max())
    return f"{high} samples" if low == high else f"{low}–{high} samples"


def entry(stats_frame: pd.DataFrame, key: tuple) -> Entry:
    if key not in stats_frame.index:
        return Entry(math.nan)
    mean, std, n = stats_frame.loc[key, ["mean", "std", "n"]]
    return Entry(float(mean), float(std), int(n))


def headline_tables(rows: pd.DataFrame, methods: list[str]) -> list[Table]:
    """Masked MSE on evaluation points, methods x missing rates, per dataset and mask kind."""
    return rate_tables(stats.over_samples(rows, "mse", "evaluation"), methods, "headline",
                       lambda dataset, kind, block: (
                           f"Masked MSE (°C²) on evaluation points (the held-out ocean cells), "
                           f"all levels pooled. Dataset {dataset}, {kind} masks; mean ± sd over "
                           f"{_samples(block['n'])}; bold: lowest in each column."))


def rate_tables(summary: pd.DataFrame, methods: list[str], name: str, title) -> list[Table]:
    """One table of methods x missing rates per dataset and mask kind of ``summary`` (mean,
    std, n by :data:`stats.KEYS`); ``title(dataset, kind, block)`` writes each title."""
    tables = []
    for dataset, kind, block in stats.by_dataset_kind(summary):
        rates = sorted(set(block.index.get_level_values("missing_rate")))
        present = [m for m in methods if m in block.index.get_level_values("method")]
        section = [((m,), [entry(block, (m, r)) for r in rates]) for m in present]
        tables.append(Table(f"{name}-{slug(dataset)}-{slug(kind)}", title(dataset, kind, block),
                            ("method",), tuple(rate_label(r) for r in rates),
                            [section]).mark_best())
    return tables


def breakdown_tables(rows: pd.DataFrame, methods: list[str]) -> list[Table]:
    """Masked and paper-style MSE on evaluation, guidance and total, per missing rate."""
    summaries = [stats.over_samples(rows, metric, point_set) for metric, point_set, _ in BREAKDOWN]
    tables = []
    for dataset, kind, block in stats.by_dataset_kind(summaries[0]):
        rates = sorted(set(block.index.get_level_values("missing_rate")))
        present = [m for m in methods if m in block.index.get_level_values("method")]
        title = (f"Masked and paper-style MSE (°C²), all levels, per missing rate. Dataset "
                 f"{dataset}, {kind} masks; mean ± sd over {_samples(block['n'])}; bold: lowest "
                 f"in each column at each missing rate, except on guidance points, where an "
                 f"exact interpolator scores 0 trivially. {PAPER_NOTE}")
        sections = [[((percent(r) if i == 0 else "", m),
                      [entry(s, (dataset, kind, m, r)) for s in summaries])
                     for i, m in enumerate(present)] for r in rates]
        tables.append(Table(f"breakdown-{slug(dataset)}-{slug(kind)}", title,
                            ("missing", "method"), tuple(h for _, _, h in BREAKDOWN),
                            sections, unranked=tuple(i for i, (_, point_set, _) in
                                                     enumerate(BREAKDOWN)
                                                     if point_set == "guidance")).mark_best())
    return tables


def depth_tables(rows: pd.DataFrame, methods: list[str], rates: list[float]) -> list[Table]:
    """Masked MSE on evaluation points per level (rows) and method (columns), per rate."""
    summary = stats.over_samples(rows, "mse", "evaluation", by_depth=True)
    tables = []
    for dataset, kind, block in stats.by_dataset_kind(summary):
        present = [m for m in methods if m in block.index.get_level_values("method")]
        for rate in rates:
            at_rate = block[block.index.get_level_values("missing_rate") == rate]
            if at_rate.empty:
                continue
            depths = sorted(set(at_rate.index.get_level_values("depth")))
            title = (f"Masked MSE (°C²) on evaluation points per level at {rate_label(rate)}. "
                     f"Dataset {dataset}, {kind} masks; mean ± sd over "
                     f"{_samples(at_rate['n'])}; bold: lowest at each level.")
            section = [((depth_label(d),), [entry(at_rate, (m, rate, d)) for m in present])
                       for d in depths]
            tables.append(Table(f"depth-{slug(dataset)}-{slug(kind)}-r{100 * rate:g}", title,
                                ("depth (m)",), tuple(present), [section],
                                best_along="row").mark_best())
    return tables


def cost_tables(rows: pd.DataFrame, methods: list[str]) -> list[Table]:
    """Seconds per field, peak memory and fit time per method, per dataset."""
    costs = stats.cost(rows)
    tables = []
    for dataset, block in costs.groupby(level="dataset"):
        block = block.droplevel("dataset")
        title = (f"Cost on dataset {dataset}: wall-clock seconds to reconstruct one field "
                 f"(mean ± sd over cells), peak resident memory of the process while "
                 f"reconstructing (MiB, highest over cells) and time to fit the method once "
                 f"(s); bold: lowest in each column.")
        section = [((m,), [Entry(c.seconds_per_field, c.seconds_per_field_std),
                           Entry(c.peak_rss_mb), Entry(c.fit_seconds)])
                   for m in methods if m in block.index for c in [block.loc[m]]]
        tables.append(Table(f"cost-{slug(dataset)}", title, ("method",),
                            ("seconds per field", "peak memory (MiB)", "fit time (s)"),
                            [section]).mark_best())
    return tables


#: The uncertainty table's columns: (metric, header); only CRPS is ranked.
UNCERTAINTY = (("crps", "CRPS (°C)"), ("spread_skill", "spread / skill"),
               ("coverage_50", "coverage of 50 %"), ("coverage_90", "coverage of 90 %"))


def uncertainty_tables(rows: pd.DataFrame, methods: list[str]) -> list[Table]:
    """CRPS, spread/skill and interval coverage per missing rate, for the methods that
    state an uncertainty (the others have no such rows and no line here)."""
    summaries = [stats.over_samples(rows, metric, "evaluation") for metric, _ in UNCERTAINTY]
    tables = []
    for dataset, kind, block in stats.by_dataset_kind(summaries[0]):
        rates = sorted(set(block.index.get_level_values("missing_rate")))
        present = [m for m in methods if m in block.index.get_level_values("method")]
        title = (f"Scores of the stated uncertainty on evaluation points, all levels pooled. "
                 f"Dataset {dataset}, {kind} masks; mean ± sd over {_samples(block['n'])}. "
                 f"CRPS: fair ensemble estimator or Gaussian closed form (°C, lower is better; "
                 f"bold: lowest). Spread / skill: root mean predicted variance over the RMSE "
                 f"of the mean (1 = calibrated). Coverage: share of points inside the central "
                 f"50 % and 90 % intervals (nominal 0.5 and 0.9). Methods without uncertainty "
                 f"are not listed.")
        sections = [[((percent(r) if i == 0 else "", m),
                      [entry(s, (dataset, kind, m, r)) for s in summaries])
                     for i, m in enumerate(present)] for r in rates]
        tables.append(Table(f"uncertainty-{slug(dataset)}-{slug(kind)}", title,
                            ("missing", "method"), tuple(h for _, h in UNCERTAINTY), sections,
                            unranked=(1, 2, 3)).mark_best())
    return tables


def spectral_tables(rows: pd.DataFrame, methods: list[str]) -> list[Table]:
    """Effective resolution (km, all levels' spectra pooled), methods x missing rates; and,
    where the suite names regional boxes, one table with a section per box."""
    sel = rows[rows["point_set"].str.startswith("spectral")
               & (rows["metric"] == "effective_resolution_km") & rows["depth"].isna()]
    summary = sel[sel["point_set"] == "spectral"].groupby(stats.KEYS)["value"].agg(
        mean="mean", std="std", n="count")
    tables = rate_tables(summary, methods, "spectral", lambda dataset, kind, block: (
        f"Effective resolution (km): the zonal wavelength where the PSD score 1 − "
        f"PSD(error) / PSD(truth) falls to 0.5, spectra along ocean segments of "
        f"every level and sample pooled. Dataset {dataset}, {kind} masks; mean ± sd "
        f"over mask seeds; – where no scale is resolved; bold: finest."))
    boxed = sel[sel["point_set"] != "spectral"].assign(
        box=lambda f: f["point_set"].str.removeprefix("spectral:"))
    by_box = boxed.groupby(["box", *stats.KEYS])["value"].agg(mean="mean", std="std", n="count")
    for (dataset, kind), block in by_box.groupby(level=["dataset", "mask_kind"]):
        block = block.droplevel(["dataset", "mask_kind"])
        rates = sorted(set(block.index.get_level_values("missing_rate")))
        sections = []
        for box in block.index.get_level_values("box").unique():
            mine = block.xs(box, level="box")
            present = [m for m in methods if m in mine.index.get_level_values("method")]
            sections.append([((box if i == 0 else "", m), [entry(mine, (m, r)) for r in rates])
                             for i, m in enumerate(present)])
        tables.append(Table(
            f"spectral-boxes-{slug(dataset)}-{slug(kind)}",
            f"Effective resolution (km) within each regional box the suite names, on the "
            f"zonal ocean segments inside the box, spectra of every level and sample pooled. "
            f"Dataset {dataset}, {kind} masks; mean ± sd over mask seeds; – where no scale is "
            f"resolved (or no segment fits the box); bold: finest in each box.",
            ("box", "method"), tuple(rate_label(r) for r in rates), sections).mark_best())
    return tables


# -- renderings ------------------------------------------------------------------------------
def to_markdown(table: Table) -> str:
    """A bold caption line and a pipe table."""
    lines = [f"**{table.title}**", "",
             "| " + " | ".join(table.index + table.columns) + " |",
             "|" + "---|" * len(table.index) + "---:|" * len(table.columns)]
    for section in table.sections:
        for labels, entries in section:
            cells = [f"**{e.text()}**" if e.bold else e.text() for e in entries]
            lines.append("| " + " | ".join(list(labels) + cells) + " |")
    return "\n".join(lines) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "°C²": r"$^\circ$C$^2$", "°": r"$^\circ$", "±": r"$\pm$",
          "×": r"$\times$", "−": r"$-$", "·": r"$\cdot$", "Δ": r"$\Delta$", "–": "--",
          "→": r"$\to$"}
_LATEX_SIGNS = re.compile("|".join(map(re.escape, sorted(_LATEX, key=len, reverse=True))))


def latex_escape(text: str) -> str:
    """Plain text (with the few Unicode signs the tables use) as LaTeX."""
    return _LATEX_SIGNS.sub(lambda m: _LATEX[m.group()], text)


def to_latex(table: Table) -> str:
    """A ``table`` float with a booktabs ``tabular``; needs ``\\usepackage{booktabs}``."""
    def row(cells):
        return " & ".join(cells) + r" \\"

    lines = [f"% reconbench table {table.name}; needs \\usepackage{{booktabs}}",
             r"\begin{table}[htbp]", r"\centering",
             f"\\caption{{{latex_escape(table.title)}}}", f"\\label{{tab:{table.name}}}",
             f"\\begin{{tabular}}{{{'l' * len(table.index)}{'r' * len(table.columns)}}}",
             r"\toprule", row(latex_escape(h) for h in table.index + table.columns)]
    for section in table.sections:
        lines.append(r"\midrule")
        for labels, entries in section:
            cells = [latex_escape(e.text()) for e in entries]
            cells = [f"\\textbf{{{c}}}" if e.bold else c
                     for c, e in zip(cells, entries, strict=True)]
            lines.append(row([latex_escape(label) for label in labels] + cells))
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """Tidy numbers: the label columns, then ``column, mean, sd, n, best``, one line an entry."""
    records = []
    for section in table.sections:
        for labels, entries in section:
            current = list(labels)
            for header, e in zip(table.columns, entries, strict=True):
                records.append(current + [header, e.mean, e.std, e.n or None, int(e.bold)])
    frame = pd.DataFrame(records, columns=[*table.index, "column", "mean", "sd", "n", "best"])
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


NUM = ' class="num"'


def to_html(table: Table) -> str:
    """A captioned HTML table that scrolls sideways on a narrow screen."""
    def cells(tag, texts, cls=""):
        return "".join(f"<{tag}{cls}>{t}</{tag}>" for t in texts)

    head = cells("th", map(html.escape, table.index)) + cells(
        "th", map(html.escape, table.columns), NUM)
    body = []
    for section in table.sections:
        rows = []
        for labels, entries in section:
            values = [f"<strong>{html.escape(e.text())}</strong>" if e.bold
                      else html.escape(e.text()) for e in entries]
            label_cells = cells("th", map(html.escape, labels))
            rows.append(f"<tr>{label_cells}{cells('td', values, NUM)}</tr>")
        body.append("<tbody>" + "".join(rows) + "</tbody>")
    return (f'<figure class="table" id="{table.name}"><figcaption>{html.escape(table.title)}'
            f'</figcaption><div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'{"".join(body)}</table></div></figure>\n')


def withheld_tables(rows: pd.DataFrame, methods: list[str]) -> list[Table]:
    """OSE suites: MSE at withheld observations, methods x withholding fractions, per dataset
    and withholding mode; the title gives the number of points and platforms scored."""
    summary = stats.over_samples(rows, "mse", stats.WITHHELD)
    counts = rows[(rows["point_set"] == stats.WITHHELD) & rows["depth"].isna()
                  & rows["metric"].isin(["n_points", "n_platforms"])]
    tables = []
    for dataset, kind, block in stats.by_dataset_kind(summary):
        rates = sorted(set(block.index.get_level_values("missing_rate")))
        present = [m for m in methods if m in block.index.get_level_values("method")]
        mine = counts[(counts["dataset"] == dataset) & (counts["mask_kind"] == kind)
                      & (counts["method"] == present[0])]
        total = mine.groupby("metric")["value"].sum()
        title = (f"MSE (°C²) at withheld observations: the reconstructions interpolated to "
                 f"{int(total.get('n_points', 0))} withheld points (platform-months: "
                 f"{int(total.get('n_platforms', 0))}), all depths pooled. Dataset {dataset}, "
                 f"withheld by {kind}; mean ± sd over {_samples(block['n'])}; bold: lowest.")
        section = [((m,), [entry(block, (m, r)) for r in rates]) for m in present]
        tables.append(Table(f"withheld-{slug(dataset)}-{slug(kind)}", title, ("method",),
                            tuple(f"{percent(r)} withheld" for r in rates), [section]
                            ).mark_best())
    return tables
