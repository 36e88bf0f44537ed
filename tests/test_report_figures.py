"""Every figure builds from a small store and has the expected axes and labels."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from report_store import hand_rows, write_store

from reconbench.benchmark.spectral import WAVELENGTH_EDGES_KM
from reconbench.benchmark.store import ResultsStore
from reconbench.reports import figures, maps, stats

METHODS = ["alpha", "beta"]
STYLES = figures.method_styles(METHODS)


def headline():
    return stats.over_samples(hand_rows(), "mse").xs(("toy", "random"))


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_method_styles_are_distinct_and_stable():
    styles = figures.method_styles(["a", "b", "c"])
    assert styles["a"] == STYLES["alpha"]
    assert len({s["color"] for s in styles.values()}) == 3
    assert len({s["marker"] for s in styles.values()}) == 3


def test_error_vs_rate():
    fig = figures.error_vs_rate(headline(), STYLES, "toy, random masks")
    (ax,) = fig.axes
    assert isinstance(fig, Figure) and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "missing rate (%)" and ax.get_ylabel() == figures.MSE_LABEL
    assert legend_texts(ax) == METHODS
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [50, 90] and line.get_color() == STYLES["alpha"]["color"]


def test_error_vs_rate_with_a_baseline():
    fig = figures.error_vs_rate(headline(), STYLES, "t", baseline=headline() * 2,
                                labels=("A", "B"))
    assert legend_texts(fig.axes[0]) == ["alpha A", "beta A", "alpha B", "beta B"]


def test_error_vs_depth():
    by_depth = stats.over_samples(hand_rows(), "mse", by_depth=True).xs(("toy", "random"))
    fig = figures.error_vs_depth(by_depth, [0.5, 0.9], STYLES, "toy")
    assert [ax.get_title() for ax in fig.axes] == ["50 % missing", "90 % missing"]
    ax = fig.axes[0]
    assert ax.get_ylabel() == "depth (m)" and ax.get_xscale() == "log"
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # depth increases downwards
    assert list(ax.get_lines()[0].get_ydata()) == [10.0, 100.0]


def test_cost_vs_accuracy():
    cost = stats.cost(hand_rows()).xs("toy")
    fig = figures.cost_vs_accuracy(cost, headline(), 0.9, STYLES, "toy")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "seconds per field (wall clock)" and ax.get_xscale() == "log"
    assert ax.get_title() == "toy, 90 % missing"
    assert [t.get_text() for t in ax.texts] == METHODS


def test_spread_vs_error_only_for_ensembles():
    assert figures.spread_vs_error(hand_rows(), STYLES, "t") is None
    fig = figures.spread_vs_error(hand_rows(ensemble=True), STYLES, "t")
    spread, crps = fig.axes
    assert spread.get_xlabel() == "ensemble spread on evaluation points (°C)"
    assert spread.get_ylabel() == "RMSE of the ensemble mean (°C)"
    assert len(spread.collections) == 2 and "1:1" in legend_texts(spread)
    assert crps.get_ylabel() == "CRPS on evaluation points (°C)"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("store"))


def test_field_maps(store):
    sample = maps.load_sample(store, hand_rows(), "toy", "random", 0.9, ["beta", "alpha"])
    assert list(sample.reconstructions) == ["beta", "alpha"]
    fig = maps.field_maps(sample, 90.0, STYLES, "toy")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["truth", titles[1]] and titles[1].startswith("observations (")
    assert titles[2:6] == ["beta: reconstruction", titles[3], "alpha: reconstruction",
                           titles[5]] and titles[3].startswith("beta: error (RMSE ")
    assert fig.axes[2].title.get_color() == STYLES["beta"]["color"]
    colorbars = [ax.get_ylabel() or ax.get_xlabel() for ax in fig.axes[6:]]
    assert colorbars == ["recon. − truth (°C)", "recon. − truth (°C)", "temperature (°C)"]
    assert fig.get_suptitle() == "toy, level 100 m"
    truth_mesh, error_mesh = fig.axes[0].collections[0], fig.axes[3].collections[0]
    assert truth_mesh.get_cmap().name == "thermal" and error_mesh.get_cmap().name == "balance"
    assert error_mesh.norm.vmin == -error_mesh.norm.vmax
    # each method's own scale: ± its 99th percentile of |error| (alpha's noise is half beta's)
    level = sample.truth.sel(depth=90.0, method="nearest")
    for ax, method in ((fig.axes[3], "beta"), (fig.axes[5], "alpha")):
        error = sample.reconstructions[method].sel(depth=level.depth) - level
        assert ax.collections[0].norm.vmax == pytest.approx(
            np.nanpercentile(np.abs(error), 99))
    assert fig.axes[5].collections[0].norm.vmax < error_mesh.norm.vmax
    # latitude / longitude ticks, guidance points drawn as dots
    assert "60°E" in [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert "30°N" in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    observed = (sample.guidance.sel(depth=level.depth) > 0) & level.notnull()
    (dots,) = [c for c in fig.axes[1].collections if c.get_label() == "guidance points"]
    assert len(dots.get_offsets()) == int(observed.sum()) > 0


def test_maps_skip_a_store_without_fields(tmp_path):
    assert maps.load_sample(ResultsStore(tmp_path), hand_rows(), "toy", "random", 0.9,
                            METHODS) is None


def test_error_by_month_draws_one_line_per_method_with_seeds_averaged():
    rows = hand_rows()
    fig = figures.error_by_month(rows, 0.9, STYLES, "toy")
    (ax,) = fig.axes
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    # both hand samples are January 2000: one month, the mean of the two samples
    assert lines["alpha"].tolist() == [5.0] and lines["beta"].tolist() == [7.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2000-01"]
    assert figures.error_by_month(rows, 0.3, STYLES, "toy") is None


def test_coverage_vs_rate_has_a_panel_per_interval_and_the_nominal_lines():
    assert figures.coverage_vs_rate(hand_rows(), STYLES, "t") is None
    fig = figures.coverage_vs_rate(hand_rows(ensemble=True), STYLES, "toy")
    fifty, ninety = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["50 % interval coverage",
                                                   "90 % interval coverage"]
    assert fifty.get_xlabel() == "missing rate (%)" and fifty.get_ylim() == (0, 1)
    assert sorted(legend_texts(fifty)) == METHODS + ["nominal 0.5"]
    assert sorted(legend_texts(ninety)) == METHODS + ["nominal 0.9"]
    # coverage_50 = 0.1 x the headline: alpha's samples (1, 3) at 50 % -> mean 0.2
    alpha = fifty.containers[0].lines[0]
    assert list(alpha.get_xdata()) == [50, 90]
    np.testing.assert_allclose(np.asarray(alpha.get_ydata(), float), [0.2, 0.5])
    nominal = [line for line in ninety.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in nominal] == [[0.9, 0.9]]


def test_spectral_scores_have_a_panel_per_region_and_mark_the_effective_resolution():
    assert figures.spectral_scores(hand_rows(), 0.5, STYLES, "t") is None
    fig = figures.spectral_scores(hand_rows(spectral=True), 0.5, STYLES, "toy")
    whole, gulf = fig.axes
    assert [whole.get_title(), gulf.get_title()] == ["whole grid", "box gulf"]
    assert whole.get_xscale() == "log" and whole.get_xlabel() == "zonal wavelength (km)"
    centres = np.sqrt(WAVELENGTH_EDGES_KM[:-1] * WAVELENGTH_EDGES_KM[1:])
    alpha = whole.get_lines()[0]
    np.testing.assert_allclose(alpha.get_xdata(), centres[[8, 9, 10]])
    np.testing.assert_allclose(alpha.get_ydata(), [0.3, 0.7, 0.95])
    # effective resolution at 50 %: 1000 x alpha's first sample (1.0) on the whole grid,
    # twice that in the box; dotted, in the method's colour
    marks = [line for line in gulf.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in marks] == [2000.0, 1000.0]
    assert marks[0].get_color() == STYLES["alpha"]["color"]
    assert "score 0.5" in legend_texts(gulf)


def test_spectral_box_table_has_a_section_per_box():
    from reconbench.reports import tables

    whole, boxes = tables.spectral_tables(hand_rows(spectral=True), METHODS)
    assert whole.name == "spectral-toy-random" and boxes.name == "spectral-boxes-toy-random"
    assert boxes.index == ("box", "method")
    (section,) = boxes.sections
    assert [labels for labels, _ in section] == [("gulf", "alpha"), ("", "beta")]
    # alpha's box resolution: 2000 x samples' first value (1 at 50 %, 4 at 90 %)
    assert [e.mean for e in section[0][1]] == [2000.0, 8000.0]
    assert [e.bold for e in section[1][1]] == [True, False]  # beta finer at 50 %
    assert len(tables.spectral_tables(hand_rows(), METHODS)) == 1
