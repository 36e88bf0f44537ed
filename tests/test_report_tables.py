"""Table builders and renderings on a hand-made results store: exact output, bold cells."""

import math

import pandas as pd
import pytest
from report_store import hand_rows

from reconbench.reports import stats, tables

METHODS = ["alpha", "beta"]

HEADLINE_TITLE = ("Masked MSE (°C²) on evaluation points (the held-out ocean cells), all levels "
                  "pooled. Dataset toy, random masks; mean ± sd over 2 samples; bold: lowest in "
                  "each column.")


def headline():
    (table,) = tables.headline_tables(hand_rows(), METHODS)
    return table


def test_headline_markdown():
    assert tables.to_markdown(headline()) == f"""**{HEADLINE_TITLE}**

| method | 50 % missing | 90 % missing |
|---|---:|---:|
| alpha | 2.00 ± 1.41 | **5.00 ± 1.41** |
| beta | **1.00 ± 0.71** | 7.00 ± 1.41 |
"""


def test_headline_latex():
    caption = HEADLINE_TITLE.replace("°C²", r"$^\circ$C$^2$").replace("±", r"$\pm$")
    comment = r"% reconbench table headline-toy-random; needs \usepackage{booktabs}"
    assert tables.to_latex(headline()) == rf"""{comment}
\begin{{table}}[htbp]
\centering
\caption{{{caption}}}
\label{{tab:headline-toy-random}}
\begin{{tabular}}{{lrr}}
\toprule
method & 50 \% missing & 90 \% missing \\
\midrule
alpha & 2.00 $\pm$ 1.41 & \textbf{{5.00 $\pm$ 1.41}} \\
beta & \textbf{{1.00 $\pm$ 0.71}} & 7.00 $\pm$ 1.41 \\
\bottomrule
\end{{tabular}}
\end{{table}}
"""


def test_headline_csv():
    assert tables.to_csv(headline()) == """method,column,mean,sd,n,best
alpha,50 % missing,2.0,1.4142135623730951,2,0
alpha,90 % missing,5.0,1.4142135623730951,2,1
beta,50 % missing,1.0,0.7071067811865476,2,1
beta,90 % missing,7.0,1.4142135623730951,2,0
"""


def bold_cells(table):
    return {(labels, column) for section in table.sections for labels, entries in section
            for column, e in zip(table.columns, entries, strict=True) if e.bold}


def test_breakdown_bolds_per_rate_and_labels_paper_mse():
    (table,) = tables.breakdown_tables(hand_rows(), METHODS)
    assert table.columns == ("masked MSE, evaluation", "masked MSE, guidance",
                             "paper MSE, evaluation", "paper MSE, guidance", "paper MSE, total")
    assert "Paper MSE is the ReconMOST paper's number" in table.title
    assert [labels for labels, _ in table.sections[1]] == [("90 %", "alpha"),
                                                           ("", "beta")]
    bold = bold_cells(table)
    assert (("50 %", "alpha"), "masked MSE, evaluation") not in bold
    assert (("", "beta"), "masked MSE, evaluation") in bold
    assert (("90 %", "alpha"), "paper MSE, total") in bold
    entry = table.sections[0][1][1][4]  # 50 %, beta, paper total: 0.5 x (0.5, 1.5)
    assert entry.text() == "0.500 ± 0.354"


def test_depth_table_bolds_the_best_method_of_each_level():
    (table,) = tables.depth_tables(hand_rows(), METHODS, [0.5])
    assert table.index == ("depth (m)",) and table.columns == ("alpha", "beta")
    assert bold_cells(table) == {(("10",), "alpha"), (("100",), "beta")}
    assert "| 10 | **1.00 ± 0.71** | 1.50 ± 1.06 |" in tables.to_markdown(table)


def test_cost_table():
    (table,) = tables.cost_tables(hand_rows(), METHODS)
    assert table.columns == ("seconds per field", "peak memory (MiB)", "fit time (s)")
    assert tables.to_markdown(table).endswith(
        "| alpha | 0.250 ± 0.000 | 300 | **2.00** |\n"
        "| beta | **0.00200 ± 0.00000** | **250** | 5.00 |\n")


def test_no_bold_without_competition_and_latex_escapes():
    rows = hand_rows()
    rows = rows[rows["method"] == "alpha"].replace({"alpha": "my_method"})
    (table,) = tables.headline_tables(rows, ["my_method"])
    assert not bold_cells(table)
    assert r"my\_method & 2.00 $\pm$ 1.41" in tables.to_latex(table)


def test_method_order_follows_the_suite_file():
    meta = {"suite_toml": "[[methods]]\nname = 'beta'\n[[methods]]\nname = 'x'\nlabel = 'alpha'"}
    assert stats.method_order(hand_rows(), meta) == ["beta", "alpha"]
    assert stats.method_order(hand_rows()) == ["alpha", "beta"]


def test_chosen_rates_and_depths():
    assert stats.chosen_rates([0.95, 0.5, 0.925, 0.9]) == [0.5, 0.925, 0.95]
    assert stats.chosen_rates([0.5, 0.9], [0.9]) == [0.9]
    assert stats.chosen_depths([5.0, 400.0, 600.0, 2000.0]) == [5.0, 400.0]
    assert stats.chosen_depths([5.0, 400.0], [1000]) == [400.0]


def test_over_samples_counts_samples():
    summary = stats.over_samples(hand_rows(), "mse")
    assert isinstance(summary, pd.DataFrame)
    assert summary.loc[("toy", "random", "beta", 0.9)].tolist() == [7.0, 2 ** 0.5, 2]


@pytest.mark.parametrize("mean, std, text", [
    (2.94e-17, math.nan, "2.94e-17"), (2.94e-17, 1e-18, "2.94e-17 ± 1.00e-18"),
    (-3.1e-5, math.nan, "-3.10e-05"), (1.234e7, math.nan, "1.23e+07"),
    (0.000123, math.nan, "0.000123"), (0.0, math.nan, "0.00"), (12.345, 0.5, "12.3 ± 0.5"),
])
def test_tiny_and_huge_means_are_written_in_scientific_notation(mean, std, text):
    assert tables.Entry(mean, std).text() == text
