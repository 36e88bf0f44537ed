"""A report of a one-level (surface) run: every figure drawn, no warning leaked."""

import warnings

from cf_files import write

from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.store import ResultsStore
from reconbench.benchmark.suite import parse_suite
from reconbench.reports.report import build_report, write_report


def test_report_of_a_one_level_run_warns_nothing(tmp_path):
    path = write(tmp_path / "sst.nc", depth=None)
    run_suite(parse_suite(f"""
name = "surface"
samples = 2
missing_rates = [0.5, 0.9]
[[datasets]]
name = "netcdf"
paths = "{path}"
train_years = 2000
test_years = 2001
[[methods]]
name = "nearest"
[[methods]]
name = "climatology"
"""), tmp_path / "res", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = build_report(ResultsStore(tmp_path / "res"))
        write_report(report, tmp_path / "report")
    assert (tmp_path / "report" / "report.html").is_file()
    figures = {p.name.split(".")[0] for p in (tmp_path / "report" / "figures").iterdir()}
    assert "error-vs-rate-netcdf-random" in figures
    assert not any(name.startswith("error-vs-depth") for name in figures)  # one level: no profile
