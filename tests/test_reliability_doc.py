"""docs/reliability.md cannot drift: its matrix has one row per place the package raises
InputError or ConfigError, with the message as the code writes it and a test that exists
and asserts that message; the README states the number of rows."""

import re

from reliability_matrix import ROOT, asserted, code_sites, doc_rows, shown, source_of_test

SITES = code_sites()
ROWS = doc_rows()


def test_every_raise_site_has_its_row_and_every_row_its_site():
    code = {s.site for s in SITES}
    missing, stale = sorted(code - set(ROWS)), sorted(set(ROWS) - code)
    assert not missing and not stale, (
        f"docs/reliability.md lacks rows for {missing} and has rows for sites that are gone: "
        f"{stale}; run python tests/reliability_matrix.py and name the new rows' tests")


def test_every_row_shows_the_message_the_code_writes():
    differ = [s.site for s in SITES if s.site in ROWS and ROWS[s.site][0] != shown(s.pattern)]
    assert not differ, f"messages changed at {differ}: run python tests/reliability_matrix.py"


def test_every_row_names_a_test_that_asserts_its_message():
    absent, silent = [], []
    for site in SITES:
        test = ROWS.get(site.site, ("", ""))[1]
        source = None if test.startswith("—") else source_of_test(test)
        if source is None:
            absent.append(f"{site.site}: {test}")
        elif not asserted(site, source, SITES):
            silent.append(f"{site.site}: {test}")
    assert not absent, f"rows whose test does not exist: {absent}"
    assert not silent, f"rows whose test does not assert the message: {silent}"


def test_the_readme_states_the_count():
    readme = (ROOT / "README.md").read_text()
    counts = re.findall(r"(\d+) bad-input cases", readme)
    assert counts == [str(len(ROWS))], (counts, len(ROWS))


def test_the_matrix_reader_sees_a_known_site():
    """The reader itself: a site of the CF reader, its filled-in values and its test."""
    (site,) = [s for s in SITES if s.site == "datasets/cf.py::check_times#1"]
    assert "{…}" in site.pattern and " at time step {…} (step {…} is {…})" in site.pattern
    assert "tests/" in ROWS[site.site][1]
