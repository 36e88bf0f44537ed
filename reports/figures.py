"""Paper-style figures of method scores: error vs missing rate, error vs depth,
cost vs accuracy, ensemble spread vs error, interval coverage and PSD scores.

Every builder returns a :class:`matplotlib.figure.Figure` (made without pyplot,
so nothing depends on a display or a global state) or ``None`` when the store
has nothing to draw. Each method keeps one colour and one marker in every figure
of a report (:func:`method_styles`, the Okabe–Ito colour-blind-safe palette), and
the marker keeps methods apart in greyscale print too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter, ScalarFormatter

from reconbench.benchmark.spectral import WAVELENGTH_EDGES_KM
from reconbench.reports import stats

#: Okabe & Ito (2008) colours, safe for the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

DEPTH_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
MSE_LABEL = "masked MSE on evaluation points (°C²)"


def method_styles(methods: list[str]) -> dict[str, dict]:
    """Matplotlib keyword arguments (colour, marker) of each method, by its position."""
    return {m: {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)]}
            for i, m in enumerate(methods)}


def _figure(width: float, height: float, ncols: int = 1,
            sharey: bool = False) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False, sharey=sharey)[0]
    return fig, list(axes)


def _at(frame: pd.DataFrame, level: str, value) -> pd.DataFrame:
    return frame.xs(value, level=level) if value in frame.index.get_level_values(level) \
        else frame.iloc[:0]


def error_vs_rate(summary: pd.DataFrame, styles: dict[str, dict], title: str,
                  baseline: pd.DataFrame | None = None,
                  labels: tuple[str, str] = ("before", "after")) -> Figure:
    """Masked MSE (log scale) against the missing rate, one line per method.

    ``summary`` is :func:`stats.over_samples` of one dataset and mask kind,
    indexed by (method, missing_rate); bars show ± 1 sd over samples. With a
    ``baseline`` of the same form (an earlier run), it is drawn dashed with hollow
    markers and ``labels`` name the two runs in the legend.
    """
    fig, (ax,) = _figure(6.4, 4.2)
    runs = [(summary, {}, labels[1] if baseline is not None else "")]
    if baseline is not None:
        runs.insert(0, (baseline, {"linestyle": "--", "markerfacecolor": "none"}, labels[0]))
    for frame, look, run in runs:
        for method, style in styles.items():
            block = _at(frame, "method", method)
            if block.empty:
                continue
            ax.errorbar(100 * block.index.to_numpy(), block["mean"],
                        yerr=block["std"].fillna(0), label=f"{method} {run}".strip(),
                        capsize=3, linewidth=1.5, markersize=5, **style, **look)
    ax.set_yscale("log")
    ax.set_xlabel("missing rate (%)")
    ax.set_ylabel(MSE_LABEL)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="method", fontsize="small")
    return fig


def error_vs_depth(summary: pd.DataFrame, rates: list[float], styles: dict[str, dict],
                   title: str) -> Figure:
    """Profiles of masked MSE against depth, one panel per missing rate.

    ``summary`` is :func:`stats.over_samples` with ``by_depth`` of one dataset and
    mask kind, indexed by (method, missing_rate, depth); shading shows ± 1 sd.
    """
    fig, axes = _figure(3.2 * len(rates) + 1.2, 4.6, ncols=len(rates), sharey=True)
    for ax, rate in zip(axes, rates, strict=True):
        at_rate = _at(summary, "missing_rate", rate)
        for method, style in styles.items():
            block = _at(at_rate, "method", method)
            if block.empty:
                continue
            depth, mean, std = block.index.to_numpy(), block["mean"], block["std"].fillna(0)
            ax.plot(mean, depth, label=method, linewidth=1.5, markersize=4, **style)
            ax.fill_betweenx(depth, (mean - std).clip(lower=mean / 10), mean + std,
                             color=style["color"], alpha=0.15, linewidth=0)
        ax.set_xscale("log")
        ax.set_title(f"{100 * rate:g} % missing")
        ax.set_xlabel(MSE_LABEL.replace(" on ", "\non "))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_yscale("log")
    depths = summary.index.get_level_values("depth")
    axes[0].set_yticks([d for d in DEPTH_TICKS if depths.min() <= d <= depths.max()] or
                       [depths.min()])
    axes[0].yaxis.set_major_formatter(ScalarFormatter())
    axes[0].yaxis.set_minor_formatter(NullFormatter())
    axes[0].invert_yaxis()
    axes[0].set_ylabel("depth (m)")
    axes[-1].legend(title="method", fontsize="small")
    fig.suptitle(title)
    return fig


def cost_vs_accuracy(cost: pd.DataFrame, summary: pd.DataFrame, rate: float,
                     styles: dict[str, dict], title: str) -> Figure:
    """Masked MSE at one missing rate against seconds per field, one point per method.

    ``cost`` is :func:`stats.cost` of one dataset (indexed by method); ``summary``
    as for :func:`error_vs_rate`.
    """
    fig, (ax,) = _figure(6.4, 4.2)
    at_rate = _at(summary, "missing_rate", rate)
    for method, style in styles.items():
        if method not in cost.index or method not in at_rate.index:
            continue
        x, y = cost.loc[method, "seconds_per_field"], at_rate.loc[method]
        ax.errorbar(x, y["mean"], yerr=0 if np.isnan(y["std"]) else y["std"], label=method,
                    capsize=3, markersize=8, linestyle="none", **style)
        ax.annotate(method, (x, y["mean"]), textcoords="offset points", xytext=(6, 6),
                    fontsize="small", color=style["color"])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("seconds per field (wall clock)")
    ax.set_ylabel(MSE_LABEL)
    ax.set_title(f"{title}, {100 * rate:g} % missing")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def spread_vs_error(rows: pd.DataFrame, styles: dict[str, dict], title: str) -> Figure | None:
    """For ensemble methods: spread against RMSE per sample, and CRPS against missing rate.

    Uses the all-levels rows on evaluation points with metric ``spread`` (°C) and
    ``crps`` (°C); a panel is drawn for each that exists, ``None`` when neither does.
    A well-calibrated ensemble has its points on the 1:1 line of the first panel.
    """
    sel = rows[(rows["point_set"] == "evaluation") & rows["depth"].isna() & (rows["sample"] >= 0)]
    has = {m: (sel["metric"] == m).any() for m in ("spread", "crps")}
    if not any(has.values()):
        return None
    fig, axes = _figure(5.2 * sum(has.values()), 4.2, ncols=sum(has.values()))
    panels = iter(axes)
    if has["spread"]:
        ax = next(panels)
        wide = sel[sel["metric"].isin(["spread", "rmse"])].pivot_table(
            index=["method", "cell", "sample"], columns="metric", values="value").dropna()
        for method, style in styles.items():
            if method in wide.index:
                points = wide.loc[method]
                ax.scatter(points["spread"], points["rmse"], label=method, s=18, alpha=0.8,
                           color=style["color"], marker=style["marker"])
        low, high = wide.min().min(), wide.max().max()
        ax.plot([low, high], [low, high], color="0.4", linestyle="--", linewidth=1, label="1:1")
        ax.set_xlabel("ensemble spread on evaluation points (°C)")
        ax.set_ylabel("RMSE of the ensemble mean (°C)")
        ax.set_title("spread vs error (one point per sample)")
        ax.grid(True, alpha=0.3)
        ax.legend(title="method", fontsize="small")
    if has["crps"]:
        ax = next(panels)
        crps = stats.over_samples(rows, "crps").groupby(level=["method", "missing_rate"]).mean()
        for method, style in styles.items():
            block = _at(crps, "method", method)
            if not block.empty:
                ax.errorbar(100 * block.index.to_numpy(), block["mean"],
                            yerr=block["std"].fillna(0), label=method, capsize=3, **style)
        ax.set_xlabel("missing rate (%)")
        ax.set_ylabel("CRPS on evaluation points (°C)")
        ax.set_title("CRPS vs missing rate")
        ax.grid(True, alpha=0.3)
        ax.legend(title="method", fontsize="small")
    fig.suptitle(title)
    return fig


def calibration(rows: pd.DataFrame, rate: float, styles: dict[str, dict],
                title: str) -> Figure | None:
    """Spread/skill against the missing rate, and rank (ensembles) or PIT (Gaussian)
    histograms at ``rate``, pooled over levels and samples on evaluation points.

    ``rows`` are one dataset's and mask kind's; ``None`` when no method has
    ``spread_skill`` rows. Histograms are drawn as each bin's share times the number
    of bins, so that a calibrated method lies on 1 whatever its bin count.
    """
    sel = rows[(rows["point_set"] == "evaluation") & rows["depth"].isna()
               & (rows["sample"] >= 0)]
    ratio = stats.over_samples(sel, "spread_skill").groupby(level=["method",
                                                                  "missing_rate"]).mean()
    if ratio.empty:
        return None
    fig, (left, right) = _figure(10.4, 4.2, ncols=2)
    for method, style in styles.items():
        block = _at(ratio, "method", method)
        if not block.empty:
            left.errorbar(100 * block.index.to_numpy(), block["mean"],
                          yerr=block["std"].fillna(0), label=method, capsize=3, **style)
    left.axhline(1.0, color="0.4", linestyle="--", linewidth=1)
    left.set_xlabel("missing rate (%)")
    left.set_ylabel("spread / skill (1 = calibrated)")
    left.set_title("spread / skill vs missing rate")
    left.grid(True, alpha=0.3)
    left.legend(title="method", fontsize="small")
    at_rate = sel[np.isclose(sel["missing_rate"], rate)]
    for method, style in styles.items():
        mine = at_rate[at_rate["method"] == method]
        for prefix, kind in (("rank_", "rank"), ("pit_", "PIT")):
            names = sorted(m for m in mine["metric"].unique() if m.startswith(prefix)
                           and m[len(prefix):].isdigit())
            if not names:
                continue
            shares = mine[mine["metric"].isin(names)].groupby("metric")["value"].mean()
            density = shares[names].to_numpy() * len(names)
            centres = (np.arange(len(names)) + 0.5) / len(names)
            right.step(np.append(centres - 0.5 / len(names), 1.0),
                       np.append(density, density[-1]), where="post", color=style["color"],
                       label=f"{method} ({kind}, {len(names)} bins)")
    right.axhline(1.0, color="0.4", linestyle="--", linewidth=1)
    right.set_xlabel("normalised rank or PIT")
    right.set_ylabel("share × number of bins (1 = flat)")
    right.set_title(f"rank / PIT histograms at {100 * rate:g} % missing")
    right.grid(True, alpha=0.3)
    right.legend(fontsize="small")
    fig.suptitle(title)
    return fig


def error_by_month(rows: pd.DataFrame, rate: float, styles: dict[str, dict],
                   title: str) -> Figure | None:
    """Masked MSE on evaluation points per month at one missing rate, one line per method:
    the pairs the summary's sign and Wilcoxon tests compare (mask seeds averaged per
    month). ``rows`` are one dataset's and mask kind's; ``None`` without samples."""
    sel = rows[(rows["metric"] == "mse") & (rows["point_set"] == "evaluation")
               & rows["depth"].isna() & (rows["sample"] >= 0)
               & np.isclose(rows["missing_rate"], rate)]
    if sel.empty:
        return None
    wide = sel.pivot_table(index="time", columns="method", values="value", aggfunc="mean")
    fig, (ax,) = _figure(6.4, 4.2)
    x = np.arange(len(wide))
    for method, style in styles.items():
        if method in wide:
            ax.plot(x, wide[method], label=method, linewidth=1.2, markersize=5, **style)
    ax.set_xticks(x, [str(t)[:7] for t in wide.index], rotation=45, ha="right",
                  fontsize="small")
    ax.set_yscale("log")
    ax.set_xlabel("month")
    ax.set_ylabel(MSE_LABEL)
    ax.set_title(f"{title}, {100 * rate:g} % missing, per month")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="method", fontsize="small")
    return fig


def coverage_vs_rate(rows: pd.DataFrame, styles: dict[str, dict],
                     title: str) -> Figure | None:
    """Coverage of the central 50 % and 90 % intervals against the missing rate, one panel
    per interval, one line per method, the nominal coverage dashed.

    Uses the all-levels rows on evaluation points (metrics ``coverage_50``,
    ``coverage_90``) of one dataset and mask kind; bars show ± 1 sd over samples.
    ``None`` when no method has coverage rows.
    """
    panels = [(metric, nominal) for metric, nominal in (("coverage_50", 0.5),
                                                        ("coverage_90", 0.9))
              if (rows["metric"] == metric).any()]
    if not panels:
        return None
    fig, axes = _figure(5.2 * len(panels), 4.2, ncols=len(panels))
    for ax, (metric, nominal) in zip(axes, panels, strict=True):
        summary = stats.over_samples(rows, metric).groupby(level=["method",
                                                                  "missing_rate"]).mean()
        for method, style in styles.items():
            block = _at(summary, "method", method)
            if not block.empty:
                ax.errorbar(100 * block.index.to_numpy(), block["mean"],
                            yerr=block["std"].fillna(0), label=method, capsize=3, **style)
        ax.axhline(nominal, color="0.4", linestyle="--", linewidth=1,
                   label=f"nominal {nominal:g}")
        ax.set_ylim(0, 1)
        ax.set_xlabel("missing rate (%)")
        ax.set_ylabel(f"share of points inside the central {100 * nominal:g} % interval")
        ax.set_title(f"{100 * nominal:g} % interval coverage")
        ax.grid(True, alpha=0.3)
        ax.legend(title="method", fontsize="small")
    fig.suptitle(title)
    return fig


def spectral_scores(rows: pd.DataFrame, rate: float, styles: dict[str, dict],
                    title: str) -> Figure | None:
    """PSD score against zonal wavelength at one missing rate, one line per method, one
    panel for the whole grid and one per regional box; each method's effective resolution
    (where its score crosses 0.5, dashed) is marked by a vertical line in its colour.

    Uses the spectral rows (all levels pooled, metrics ``psd_score_KK`` and
    ``effective_resolution_km``) of one dataset and mask kind, averaged over mask seeds;
    ``None`` when there are none.
    """
    sel = rows[rows["point_set"].str.startswith("spectral") & rows["depth"].isna()
               & np.isclose(rows["missing_rate"], rate)]
    scores = sel[sel["metric"].str.fullmatch(r"psd_score_\d\d")]
    if scores.empty:
        return None
    centres = np.sqrt(WAVELENGTH_EDGES_KM[:-1] * WAVELENGTH_EDGES_KM[1:])
    regions = sorted(scores["point_set"].unique(), key=lambda p: (p != "spectral", p))
    fig, axes = _figure(4.6 * len(regions) + 2.0, 4.2, ncols=len(regions), sharey=True)
    for ax, region in zip(axes, regions, strict=True):
        mine = sel[sel["point_set"] == region]
        for method, style in styles.items():
            curve = mine[(mine["method"] == method) & mine["metric"].str.startswith("psd_")]
            if curve.empty:
                continue
            curve = curve.groupby("metric")["value"].mean()
            ax.plot(centres[curve.index.str[-2:].astype(int)], curve.to_numpy(), label=method,
                    linewidth=1.5, markersize=4, **style)
            resolution = mine[(mine["method"] == method)
                              & (mine["metric"] == "effective_resolution_km")]["value"].mean()
            if np.isfinite(resolution):
                ax.axvline(resolution, color=style["color"], linestyle=":", linewidth=1.2)
        ax.axhline(0.5, color="0.4", linestyle="--", linewidth=1, label="score 0.5")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.set_ylim(max(-1.0, ax.get_ylim()[0]), 1.05)
        ax.set_xlabel("zonal wavelength (km)")
        ax.set_title("whole grid" if region == "spectral" else
                     f"box {region.removeprefix('spectral:')}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("PSD score 1 − PSD(error) / PSD(truth)")
    axes[-1].legend(title="method", fontsize="small", loc="upper left",
                    bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"{title}, {100 * rate:g} % missing\n(dotted: effective resolution)")
    return fig
