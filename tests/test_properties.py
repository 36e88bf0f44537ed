"""Property-based tests (hypothesis) of masks and metrics on small random grids."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reconbench.benchmark.metrics import score
from reconbench.datasets.grid import Grid
from reconbench.datasets.masks import MaskSpec

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def grids(draw):
    """A small grid whose ocean shrinks with depth (some levels may be dry)."""
    n_depth, n_lat, n_lon = draw(st.integers(1, 4)), draw(st.integers(2, 8)), draw(
        st.integers(2, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    floor = rng.integers(0, n_depth + 1, size=(n_lat, n_lon))  # wet levels per column
    floor[0, 0] = max(floor[0, 0], 1)  # a grid needs at least one ocean cell
    ocean = np.arange(n_depth)[:, None, None] < floor[None]
    lat = np.linspace(-80, 80, n_lat)
    lon = np.linspace(0, 350, n_lon)
    return Grid(lat, lon, 10.0 * np.arange(1, n_depth + 1), ocean)


rates = st.floats(0.0, 0.999, allow_nan=False)
seeds = st.integers(0, 2**31 - 1)


@SETTINGS
@given(grid=grids(), rate=rates, seed=seeds, n=st.integers(1, 3))
def test_random_masks_hit_the_missing_rate_exactly_per_level(grid, rate, seed, n):
    guidance, fallbacks = MaskSpec("random", rate, seed).build_with_report(grid, n)
    assert not (guidance & ~grid.ocean).any()
    n_ocean = grid.ocean.sum(axis=(1, 2))
    expected = np.round((1 - rate) * n_ocean)
    expected = np.where((n_ocean > 0) & (expected == 0), 1, expected)  # empty-level fallback
    np.testing.assert_array_equal(guidance.sum(axis=(2, 3)), np.tile(expected, (n, 1)))
    assert fallbacks == n * int(((n_ocean > 0) & (np.round((1 - rate) * n_ocean) == 0)).sum())


@SETTINGS
@given(grid=grids(), rate=rates, seed=seeds, kind=st.sampled_from(["random", "profiles"]),
       n=st.integers(1, 3), extra=st.integers(1, 3))
def test_masks_are_reproducible_and_nested(grid, rate, seed, kind, n, extra):
    spec = MaskSpec(kind, rate, seed)
    short = spec.build(grid, n)
    np.testing.assert_array_equal(short, MaskSpec(kind, rate, seed).build(grid, n))
    np.testing.assert_array_equal(spec.build(grid, n + extra)[:n], short)  # a longer batch
    # extends a shorter one: sample i does not depend on how many samples are drawn


@st.composite
def scored(draw):
    """A grid, a truth, a reconstruction and a guidance mask."""
    grid = draw(grids())
    rng = np.random.default_rng(draw(seeds))
    shape = (2, *grid.shape)
    truth = rng.normal(10, 5, shape)
    recon = truth + rng.normal(0, 1, shape)
    guidance = MaskSpec("random", draw(rates), draw(seeds)).build(grid, 2)
    return grid, truth, recon, guidance


def scores(grid, truth, recon, guidance, rate=0.5):
    rows = score(truth, recon, guidance, grid.ocean, grid.depth, grid.lat, rate)
    return rows.set_index(["sample", "depth", "point_set", "metric"]).value


@SETTINGS
@given(case=scored(), noise=st.floats(-1e3, 1e3, allow_nan=False))
def test_masked_scores_ignore_values_off_their_points(case, noise):
    grid, truth, recon, guidance = case
    evaluation = grid.ocean & ~guidance
    changed = np.where(evaluation, recon, recon + noise)  # touch everything but evaluation
    changed[:, ~grid.ocean] = np.nan  # land values of any kind are ignored too
    a, b = scores(grid, truth, recon, guidance), scores(grid, truth, changed, guidance)
    evaluation_rows = a.index.get_level_values("point_set") == "evaluation"
    np.testing.assert_array_equal(a[evaluation_rows].to_numpy(), b[evaluation_rows].to_numpy())


@SETTINGS
@given(case=scored())
def test_paper_mse_is_masked_mse_times_point_fraction(case):
    grid, truth, recon, guidance = case
    s = scores(grid, truth, recon, guidance)
    n_cells = grid.lat.size * grid.lon.size
    for point_set in ("evaluation", "guidance", "ocean"):
        for sample in (0, 1):
            for depth in grid.depth:
                key = (sample, depth, point_set)
                n = s[(*key, "n_points")]
                paper = s[(*key, "mse_paper")]
                expected = 0.0 if n == 0 else s[(*key, "mse")] * n / n_cells
                np.testing.assert_allclose(paper, expected, rtol=1e-12, atol=1e-12)
