"""Whole reports from a results store: files written, comparisons, and bad input."""

import pytest
from report_store import hand_rows, write_store

from reconbench.benchmark.store import ResultsStore
from reconbench.errors import InputError
from reconbench.reports.compare import build_comparison
from reconbench.reports.report import build_report, to_markdown, winners, write_report


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
    assert "No method in this store reports ensemble spread" in text
    assert [s.heading for s in report.sections][:2] == [
        "Headline: masked MSE on evaluation points", "Masked vs paper-style MSE"]


def test_winners():
    assert winners(hand_rows()) == [
        "At 50 % missing, **beta** has the lowest masked MSE (1.00 ± 0.71 °C²), 2× lower than "
        "alpha (within one sd over samples: not a clear win).",
        "At 90 % missing, **alpha** has the lowest masked MSE (5.00 ± 1.41 °C²), 1.4× lower than "
        "beta (within one sd over samples: not a clear win)."]


def test_ensemble_store_gets_a_spread_figure(tmp_path):
    report = build_report(write_store(tmp_path, ensemble=True))
    (plot,) = [p for s in report.sections for p in s.plots if p.name == "spread-vs-error"]
    assert len(plot.figure.axes) == 2


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


