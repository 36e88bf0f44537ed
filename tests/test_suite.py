"""Suite files: parsing, defaults, and one clear error per mistake."""

import pytest

from reconbench.benchmark.runner import cells_of
from reconbench.benchmark.suite import load_suite, parse_suite, shipped_suites
from reconbench.errors import ConfigError

GOOD = """
name = "t"
missing_rates = [0.5, 0.925]
[[datasets]]
name = "synthetic"
resolution = 4.0
[[methods]]
name = "linear"
wrap_degrees = 30
[[methods]]
name = "linear"
label = "linear-nowrap"
wrap_degrees = 0
"""


def test_parse_good_suite():
    suite = parse_suite(GOOD)
    assert suite.missing_rates == (0.5, 0.925) and suite.seeds == (0,) and suite.split == "test"
    assert [m.label for m in suite.methods] == ["linear", "linear-nowrap"]
    assert suite.methods[0].params == {"wrap_degrees": 30}
    assert suite.datasets[0].params == {"resolution": 4.0}
    assert parse_suite(GOOD).config_hash == suite.config_hash
    assert parse_suite(GOOD.replace("0.925", "0.95")).config_hash != suite.config_hash


def test_a_method_can_be_restricted_to_some_datasets():
    text = GOOD + """datasets = ["coarse"]
[[datasets]]
name = "synthetic"
label = "coarse"
resolution = 8.0
"""
    suite = parse_suite(text)
    assert suite.methods[1].datasets == ("coarse",) and suite.methods[1].params == {
        "wrap_degrees": 0}
    pairs = sorted({(c.dataset.label, c.method.label) for c in cells_of(suite)})
    assert pairs == [("coarse", "linear"), ("coarse", "linear-nowrap"), ("synthetic", "linear")]
    assert len(cells_of(suite)) == 3 * len(suite.missing_rates)


def test_shipped_suites_parse():
    assert {"quick", "full"} <= set(shipped_suites())
    for name in shipped_suites():
        assert load_suite(name).name == name


@pytest.mark.parametrize(("text", "message"), [
    ("mising_rates = [0.5]" + GOOD, "unknown key.*mising_rates"),
    (GOOD.replace("missing_rates = [0.5, 0.925]", "missing_rates = [1.0]"),
     r"missing rate must be in \[0, 1\)"),
    (GOOD.replace("missing_rates = [0.5, 0.925]", ""), "missing required key 'missing_rates'"),
    ("mask_kinds = ['stripes']" + GOOD, "unknown mask kind 'stripes'"),
    ("samples = 0" + GOOD, "samples must be a positive integer"),
    ("split = 'training'" + GOOD, "split must be one of"),
    (GOOD.replace('label = "linear-nowrap"', ""), "labels must be unique; repeated: linear"),
    ("name = ", "is not valid TOML"),
    (GOOD + 'datasets = ["synthetic-2deg"]',
     r"method 'linear-nowrap' names unknown dataset label\(s\) synthetic-2deg"),
    (GOOD + 'datasets = "synthetic"',
     "'datasets' of method 'linear-nowrap' must be a non-empty list"),
])
def test_malformed_suites(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_suite(text, "suite.toml")


def test_missing_suite_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_suite(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="no suite named 'nope'"):
        load_suite("nope")


BOXES = """
[spectral]
boxes = [{name = "north", lon = [0, 120], lat = [20, 60]},
         {name = "dateline", lon = [150, -150], lat = [-30, 30], segment_cells = 8}]
"""


def test_spectral_boxes_are_parsed_and_change_the_hash_only_when_given():
    suite = parse_suite(GOOD + BOXES)
    north, dateline = suite.spectral_boxes
    assert (north.name, north.lon, north.lat, north.segment_cells) == (
        "north", (0.0, 120.0), (20.0, 60.0), 16)
    assert dateline.lon == (150.0, -150.0) and dateline.segment_cells == 8
    # a suite without boxes keeps the hash it had before boxes existed
    assert parse_suite(GOOD).spectral_boxes == ()
    assert parse_suite(GOOD).config_hash == "6023a531615e"
    assert suite.config_hash != parse_suite(GOOD).config_hash
    assert cells_of(suite)[0].key != cells_of(parse_suite(GOOD))[0].key


@pytest.mark.parametrize(("boxes", "message"), [
    ('boxes = [{name = "b", lon = [0, 10]}]', "box 'b' needs name, lon, lat"),
    ('boxes = [{name = "b", lon = [0, 10], lat = [50, 20]}]', "with south < north and lon"),
    ('boxes = [{name = "b", lon = [0, 400], lat = [0, 20]}]', r"lon must be \[low, high\]"),
    ('boxes = [{name = "b", lon = [0, 10], lat = [0, 20], segment_cells = 2}]',
     "segment_cells must be an integer >= 4"),
    ('boxes = [{name = "b", lon = [0, 10], lat = [0, 20]}, '
     '{name = "b", lon = [10, 20], lat = [0, 20]}]', "box names must be unique"),
    ('box = []', r"\[spectral\] takes one key"),
    ('boxes = [1, 2]', r"\[spectral\] boxes must be a list of tables, got \[1, 2\]"),
])
def test_malformed_spectral_boxes(boxes, message):
    with pytest.raises(ConfigError, match=message):
        parse_suite(GOOD + "[spectral]\n" + boxes + "\n", "suite.toml")
