"""Parameters are checked when a suite loads: names (with a "did you mean") and types from
each registered class's ``__init__`` type hints."""

from typing import Literal

import pytest

from reconbench.benchmark.suite import load_suite, parse_suite, shipped_suites
from reconbench.datasets.masks import MASK_KINDS
from reconbench.datasets.source import SOURCES
from reconbench.errors import ConfigError
from reconbench.methods.registry import METHODS
from reconbench.params import describe, did_you_mean, fits, param_hints

SUITE = """
name = "t"
missing_rates = [0.5]
mask_kinds = ["random"]
[[datasets]]
name = "synthetic"
resolution = 4.0
[[methods]]
name = "oi"
"""


@pytest.mark.parametrize("change, message", [
    (('resolution = 4.0', 'resolution = "ten"'),
     "suite: parameter resolution of dataset 'synthetic' must be a number, got 'ten'"),
    (('name = "oi"', 'name = "oi"\nanisotropic = "yes"'),
     "suite: parameter anisotropic of method 'oi' must be a boolean (true or false), got 'yes'"),
    (('name = "oi"', 'name = "oi"\nn_neighbours = 3.5'),
     "suite: parameter n_neighbours of method 'oi' must be an integer, got 3.5"),
    (('name = "oi"', 'name = "krigin"'),
     "did you mean 'kriging'?"),
    (('name = "synthetic"', 'name = "synthetc"'), "did you mean 'synthetic'?"),
    (('["random"]', '["randm"]'), "unknown mask kind 'randm'; known kinds: "),
    (('name = "oi"', 'name = "oi"\nn_neighbors = 3'),
     "unknown parameter(s) n_neighbors for method 'oi'; accepted: "),
])
def test_bad_parameters_are_refused_when_the_suite_loads(change, message):
    with pytest.raises(ConfigError) as info:
        parse_suite(SUITE.replace(*change))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_misspelt_parameter_gets_its_suggestion():
    with pytest.raises(ConfigError, match=r"did you mean 'n_neighbours'\?"):
        parse_suite(SUITE.replace('name = "oi"', 'name = "oi"\nn_neighbors = 3'))
    with pytest.raises(ConfigError, match=r"did you mean 'random'\?"):
        parse_suite(SUITE.replace('["random"]', '["randm"]'))


@pytest.mark.parametrize("name", shipped_suites())
def test_every_shipped_suite_passes_the_checks(name):
    load_suite(name)


@pytest.mark.parametrize("registry", [METHODS, SOURCES, MASK_KINDS], ids=lambda r: r.kind)
def test_every_registered_class_has_readable_hints(registry):
    for name in registry.names():
        param_hints(registry.get(name))  # raises if a hint cannot be evaluated


@pytest.mark.parametrize("value, hint, expected", [
    (True, bool, True), ("yes", bool, False), (1, bool, False),
    (3, int, True), (True, int, False), (3.0, int, False),
    (3, float, True), (2.5, float, True), (False, float, False), ("ten", float, False),
    (None, float | None, True), (1.5, float | None, True), ("x", float | None, False),
    ("a", Literal["a", "b"], True), ("c", Literal["a", "b"], False),
    ([1.0, 2], list[float], True), ([1.0, "x"], list[float], False), (3.0, list[float], False),
])
def test_fits(value, hint, expected):
    assert fits(value, hint) is expected


def test_describe_and_did_you_mean():
    assert describe(float | None) == "a number or none"
    assert describe(list[float]) == "a list of numbers"
    assert did_you_mean("krigin", ["kriging", "oi"]) == "; did you mean 'kriging'?"
    assert did_you_mean("zzz", ["kriging", "oi"]) == ""
