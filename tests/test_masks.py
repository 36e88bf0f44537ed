"""Observation masks: exact missing rates, reproducibility, profiles, fallback, errors."""

import numpy as np
import pytest

from reconbench.datasets.grid import Grid, regular_axes
from reconbench.datasets.masks import MaskSpec
from reconbench.errors import InputError


@pytest.fixture(scope="module")
def grid():
    lat, lon = regular_axes(6.0)
    rng = np.random.default_rng(3)
    depth = np.array([5.0, 50.0, 200.0, 1000.0])
    floor = rng.uniform(0, 2000, (lat.size, lon.size))
    land = rng.random((lat.size, lon.size)) < 0.3
    ocean = (depth[:, None, None] < floor) & ~land
    return Grid(lat, lon, depth, ocean)


@pytest.mark.parametrize("rate", [0.0, 0.5, 0.9, 0.925, 0.99])
def test_random_exact_rate_per_level(grid, rate):
    mask = MaskSpec("random", rate, seed=1).build(grid, 3)
    assert mask.shape == (3, *grid.shape)
    assert not (mask & ~grid.ocean).any()
    n_ocean = grid.ocean.sum(axis=(1, 2))
    expected = np.maximum(np.round((1 - rate) * n_ocean), 1)
    np.testing.assert_array_equal(mask.sum(axis=(2, 3)), np.broadcast_to(expected, (3, 4)))


def test_reproducible_and_independent(grid):
    a = MaskSpec("random", 0.9, seed=7).build(grid, 4)
    b = MaskSpec("random", 0.9, seed=7).build(grid, 4)
    np.testing.assert_array_equal(a, b)
    # a longer batch extends a shorter one
    np.testing.assert_array_equal(MaskSpec("random", 0.9, seed=7).build(grid, 2), a[:2])
    assert not np.array_equal(a, MaskSpec("random", 0.9, seed=8).build(grid, 4))
    assert not np.array_equal(a[0], a[1])  # a new draw for every sample
    assert not np.array_equal(a[0, 0], a[0, 1] & grid.ocean[0])  # and every level


def test_profiles_are_columns_from_the_surface(grid):
    rate = 0.8
    mask = MaskSpec("profiles", rate, seed=2).build(grid, 3)
    for sample in mask:
        observed = sample.sum()
        target = (1 - rate) * grid.ocean.sum()
        assert target <= observed <= target + grid.depth.size  # within one column
        # a column observed at a level is observed at every level above it
        for k in range(1, grid.depth.size):
            assert not (sample[k] & ~sample[k - 1]).any()
    # rates counted over ocean cells: fewer observations at a higher rate
    assert MaskSpec("profiles", 0.95, seed=2).build(grid, 1).sum() < mask[0].sum()


def test_fallback_gives_every_level_a_point(grid):
    spec = MaskSpec("random", 0.999, seed=0)
    mask, n_fallback = spec.build_with_report(grid, 2)
    assert (mask.sum(axis=(2, 3)) >= 1).all()
    # levels whose round((1 - r) n) is 0 got exactly one point each
    n_ocean = grid.ocean.sum(axis=(1, 2))
    assert n_fallback == 2 * int((np.round(0.001 * n_ocean) == 0).sum())


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, "a lot", None])
def test_bad_missing_rate(rate):
    with pytest.raises(InputError, match=r"missing rate must be"):
        MaskSpec("random", rate)


def test_unknown_kind():
    with pytest.raises(InputError, match="unknown mask kind 'stripes'; known kinds: clouds, "
                                         "positions, profiles, random"):
        MaskSpec("stripes", 0.5)
