"""Tables of methods x missing rates from the tidy rows of a results store.

Every table states what its numbers are: the metric, the point set, that the
scores are over all levels (points pooled for masked scores, levels averaged for
the paper-style MSE; see :mod:`reconbench.benchmark.metrics`), and that cells
show the mean ± standard deviation over samples (months x mask seeds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRIC_TITLES = {
    "mse": "Masked MSE (°C²)",
    "mse_paper": "Paper-style MSE (°C², sum over the points / all H×W cells of each level)",
    "rmse": "RMSE (°C)",
    "mse_area": "Area-weighted masked MSE (°C², cos-latitude weights)",
}


def summary(rows: pd.DataFrame, metric: str, point_set: str = "evaluation") -> pd.DataFrame:
    """Mean, standard deviation and count over samples of an all-levels score.

    Returns a DataFrame indexed by (dataset, method, mask_kind, missing_rate)
    with columns ``mean``, ``std`` (ddof = 1; NaN for one sample) and ``n``.
    """
    sel = rows[(rows["metric"] == metric) & (rows["point_set"] == point_set)
               & rows["depth"].isna() & (rows["sample"] >= 0)]
    keys = ["dataset", "method", "mask_kind", "missing_rate"]
    return sel.groupby(keys, sort=False)["value"].agg(["mean", "std", "count"]).rename(
        columns={"count": "n"})


def _format(mean: float, std: float, digits: int) -> str:
    if np.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if np.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(rows: pd.DataFrame, metric: str = "mse", point_set: str = "evaluation",
                   digits: int = 4) -> str:
    """Markdown tables, one per (dataset, mask kind): methods x missing rates.

    The lowest mean of each column is in bold. Methods keep the order in which
    they first appear in ``rows``.
    """
    stats = summary(rows, metric, point_set)
    if stats.empty:
        return f"No rows for metric {metric!r} on {point_set} points.\n"
    title = METRIC_TITLES.get(metric, metric)
    parts = []
    for (dataset, kind), block in stats.groupby(level=["dataset", "mask_kind"], sort=False):
        block = block.droplevel(["dataset", "mask_kind"])
        methods = list(dict.fromkeys(block.index.get_level_values("method")))
        rates = sorted(set(block.index.get_level_values("missing_rate")))
        n = int(block["n"].max())
        header = "| method | " + " | ".join(f"{100 * r:g} % missing" for r in rates) + " |"
        lines = [f"**{title}** on {point_set} points, all levels; dataset `{dataset}`, "
                 f"`{kind}` masks; mean ± sd over {n} samples.", "", header,
                 "|---|" + "---:|" * len(rates)]
        best = {r: block.xs(r, level="missing_rate")["mean"].min() for r in rates}
        for method in methods:
            cells = []
            for r in rates:
                if (method, r) not in block.index:
                    cells.append("")
                    continue
                mean, std = block.loc[(method, r), ["mean", "std"]]
                text = _format(mean, std, digits)
                cells.append(f"**{text}**" if mean == best[r] else text)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def markdown_report(rows: pd.DataFrame, metadata: dict) -> str:
    """The first report: headline masked MSE and paper-style MSE on evaluation points."""
    suite = metadata.get("suite", "?")
    lines = [f"# reconbench results: suite `{suite}`", ""]
    if metadata:
        lines += [f"- config hash `{metadata.get('config_hash', '?')}`, git commit "
                  f"`{str(metadata.get('git_commit', '?'))[:12]}`",
                  f"- split `{metadata.get('split', '?')}`, mask seeds {metadata.get('seeds')}",
                  ""]
    lines += ["## Masked MSE on evaluation points (the headline)", "",
              markdown_table(rows, "mse"),
              "## Paper-style MSE on evaluation points", "",
              "The ReconMOST paper's number: zero-filled squared errors summed over the "
              "points and divided by every cell of the level, land included, then averaged "
              "over levels. It is smaller than the masked MSE by roughly the fraction of the "
              "level covered by the points; do not compare it with masked numbers.", "",
              markdown_table(rows, "mse_paper")]
    return "\n".join(lines)
