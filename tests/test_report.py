"""Whole reports from a results store: files written, comparisons, and bad input."""

import numpy as np
import pandas as pd
import pytest
from report_store import hand_rows, write_store

from reconbench.benchmark.store import ResultsStore
from reconbench.errors import InputError
from reconbench.reports import stats
from reconbench.reports.compare import build_comparison
from reconbench.reports.report import (
    CLEAR_WIN_P,
    build_report,
    to_markdown,
    winners,
    write_report,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def written(store):
    return write_report(build_report(store), store.root / "report")


def test_report_writes_every_file(written):
    names = {p.relative_to(written).as_posix() for p in written.rglob("*") if p.is_file()}
    assert {"report.md", "report.html"} <= names
    for stem in ("headline-toy-random", "breakdown-toy-random", "depth-toy-random-r50",
                 "depth-toy-random-r90", "cost-toy"):
        assert {f"tables/{stem}.{s}" for s in ("md", "tex", "csv")} <= names
    for stem in ("error-vs-rate-toy-random", "error-vs-depth-toy-random",
                 "cost-vs-accuracy-toy-random", "maps-toy-random-r90-10m"):
        assert {f"figures/{stem}.{s}" for s in ("png", "pdf")} <= names
    assert not any("spread" in n for n in names)


def test_html_is_self_contained(written):
    page = (written / "report.html").read_text()
    n_figures = len(list((written / "figures").glob("*.png")))
    assert page.count('src="data:image/png;base64,') == n_figures
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "0123456789abcdef" in page and 'name="viewport"' in page


def test_markdown_report_has_summary_tables_and_figures(store):
    report = build_report(store)
    text = to_markdown(report)
    assert text.startswith("# reconbench results: suite hand\n")
    assert "- **git commit**: 0123456789abcdef" in text
    assert "| beta | **1.00 ± 0.71** | 7.00 ± 1.41 |" in text
    assert "![" in text and "(figures/error-vs-rate-toy-random.png)" in text
    assert "No method in this store states its uncertainty" in text
    # effective resolution: 1000 km x the first sample's headline value; beta 500 km at 50 %
    assert "| beta | **500** | 6000 |" in text
    assert [s.heading for s in report.sections][:2] == [
        "Headline: masked MSE on evaluation points", "Masked vs paper-style MSE"]


def test_winners():
    assert winners(hand_rows()) == [
        "At 50 % missing, **beta** has the lowest masked MSE (1.00 ± 0.71 °C²), 2× lower than "
        "alpha, and lower in 1 of 1 months (mask seeds averaged per month; two-sided "
        "sign test p = 1, Wilcoxon signed-rank p = 1, n = 1: not a clear win).",
        "At 90 % missing, **alpha** has the lowest masked MSE (5.00 ± 1.41 °C²), 1.4× lower than "
        "beta, and lower in 1 of 1 months (mask seeds averaged per month; two-sided "
        "sign test p = 1, Wilcoxon signed-rank p = 1, n = 1: not a clear win)."]


def sample_rows(scores: dict[str, list[float]], seeds=(0,)) -> pd.DataFrame:
    """All-level masked MSE rows of one dataset, mask kind and rate: method -> per sample
    (samples numbered within each seed, seeds in turn)."""
    per_seed = len(next(iter(scores.values()))) // len(seeds)
    return pd.DataFrame([dict(dataset="toy", mask_kind="random", missing_rate=0.925,
                              method=method, seed=seeds[i // per_seed], sample=i % per_seed,
                              time=f"2000-{i % per_seed + 1:02d}-16",
                              depth=np.nan, point_set="evaluation", metric="mse", value=v)
                         for method, values in scores.items() for i, v in enumerate(values)])


def test_paired_comparison_averages_seeds_per_month_and_drops_ties():
    # 4 months x 2 seeds; per month a - b averages to -0.1, -0.2, 0 (a tie), +0.05
    rows = sample_rows({"a": [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0],
                        "b": [1.1, 2.3, 3.0, 3.9, 1.1, 2.1, 3.0, 4.0]}, seeds=(0, 1))
    pair = stats.paired(rows, "a", "b")
    assert (pair.wins, pair.n, pair.ties) == (2, 3, 1)
    assert pair.p == pytest.approx(1.0)  # two-sided: 2 * P(X >= 2), X ~ Binomial(3, 1/2), capped
    # Wilcoxon on (-0.1, -0.2, +0.05): ranks 2, 3 negative, 1 positive: W = 1, exact p = 0.5
    assert pair.p_wilcoxon == pytest.approx(0.5)
    assert stats.paired(rows, "b", "a").wins == 1
    # months only one method has are left out
    partial = rows[~((rows["method"] == "b") & (rows["sample"] == 3))]
    assert stats.paired(partial, "a", "b").n == 2


def test_clear_win_rate_under_no_difference_stays_nominal():
    """Seeded simulation: 12 months x 3 mask seeds, months far apart, seeds of a month
    correlated, two methods with the same error distribution (and some exact ties): the
    share of experiments called a clear win (two-sided p < 0.05) stays at most 5 %."""
    rng = np.random.default_rng(2024)
    months, seeds, trials = 12, 3, 2000
    calls = 0
    for _ in range(trials):
        month = rng.lognormal(0, 0.5, (months, 1))  # how hard each month is
        shared = rng.normal(0, 0.05, (months, 1))   # what the seeds of a month share
        a = month + shared + rng.normal(0, 0.02, (months, seeds))
        b = month + shared + rng.normal(0, 0.02, (months, seeds))
        tie = rng.random(months) < 0.1
        b[tie] = a[tie]
        wide = pd.DataFrame({"a": a.mean(axis=1), "b": b.mean(axis=1)})
        calls += stats.paired_months(wide, "a", "b").p < CLEAR_WIN_P
    rate = calls / trials
    # the sign test is discrete, so its rate is below 5 %; 3 sd of a 5 % rate is 1.5 %
    assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials), rate


def test_a_win_in_every_month_is_clear_although_the_sds_overlap():
    months = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    rows = sample_rows({"a": months, "b": [m + 0.1 for m in months]})
    (sentence,) = winners(rows)
    assert sentence == ("At 92.5 % missing, **a** has the lowest masked MSE (3.50 ± 1.87 °C²), "
                        "2.8 % lower than b, and lower in 6 of 6 months (mask seeds averaged per "
                        "month; two-sided sign test p = 0.031, Wilcoxon signed-rank p = 0.031, "
                        "n = 6).")


def test_ensemble_store_gets_a_spread_figure(tmp_path):
    report = build_report(write_store(tmp_path, ensemble=True))
    (plot,) = [p for s in report.sections for p in s.plots if p.name == "spread-vs-error"]
    assert len(plot.figure.axes) == 2
    (section,) = [s for s in report.sections if s.heading == "Uncertainty"]
    assert [p.name for p in section.plots] == ["calibration-toy-random", "coverage-toy-random",
                                               "spread-vs-error"]
    (table,) = section.tables
    text = to_markdown(report)
    # CRPS = 0.3 x the headline: beta 0.3 ± 0.212 at 50 %; only CRPS is ranked
    assert ("| 50 % | beta | **0.300 ± 0.212** | 0.200 ± 0.141 | 0.100 ± 0.071 | "
            "0.150 ± 0.106 |") in text
    assert [labels for labels, _ in table.sections[0]] == [("50 %", "beta"), ("", "alpha")]


def test_comparison(tmp_path, store):
    later = write_store(tmp_path / "b")
    rows = hand_rows()
    rows.loc[(rows["method"] == "beta") & (rows["metric"] == "mse"), "value"] /= 2
    later.write_cell("beta-0.9", rows[rows["cell"] == "beta-0.9"])
    later.write_cell("beta-0.5", rows[rows["cell"] == "beta-0.5"])
    report = build_comparison(store, later)
    text = to_markdown(report)
    assert "| 90 % | beta | 7.00 ± 1.41 | **3.50 ± 0.71** | **-3.5** | **-50.0** |" in text
    assert "|  | alpha | **5.00 ± 1.41** | 5.00 ± 1.41 | +0 | +0.0 |" in text
    assert "beta 7 → 3.5 °C² (-50.0 %)" in report.summary[1]
    out = write_report(report, tmp_path / "cmp")
    assert (out / "figures" / "compare-error-vs-rate-toy-random.png").is_file()
    assert (out / "tables" / "compare-cost.tex").is_file()


def test_bad_input_is_one_clear_error(tmp_path, store):
    with pytest.raises(InputError, match="does not exist"):
        build_report(ResultsStore(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="is not a results store"):
        build_report(ResultsStore(tmp_path))
    costs_only = hand_rows().query("point_set == 'cost'")
    ResultsStore(tmp_path).write_cell("c", costs_only)
    with pytest.raises(InputError, match="has no scores yet"):
        build_report(ResultsStore(tmp_path))
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is a file"):
        write_report(build_report(store), tmp_path / "file")
    with pytest.raises(InputError, match="missing rate.*0.7 are not in the results"):
        build_report(store, rates=[0.7])




def test_spectral_section_has_the_psd_figure_and_the_box_table(tmp_path):
    report = build_report(write_store(tmp_path, spectral=True))
    (section,) = [s for s in report.sections if s.heading == "Spectral effective resolution"]
    assert [p.name for p in section.plots] == ["psd-score-toy-random"]
    assert [t.name for t in section.tables] == ["spectral-toy-random",
                                                "spectral-boxes-toy-random"]
