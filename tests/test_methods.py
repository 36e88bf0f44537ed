"""The reference methods against cases whose answer is known."""

import numpy as np
import pytest
import xarray as xr

from reconbench.datasets.grid import Grid, regular_axes
from reconbench.errors import InputError
from reconbench.methods import make_method


@pytest.fixture(scope="module")
def grid():
    lat, lon = regular_axes(10.0)
    ocean = np.ones((2, lat.size, lon.size), dtype=bool)
    ocean[:, 8:10, 10:14] = False  # a "continent"
    ocean[1, :, 20:24] = False  # a ridge at depth
    return Grid(lat, lon, np.array([5.0, 300.0]), ocean)


def monthly(grid, values_of_month, months):
    time = np.array([f"2001-{m:02d}-15" for m in months], dtype="datetime64[ns]")
    values = np.stack([values_of_month(m) for m in months])
    return grid.field(values, time)


def empty_obs(grid, months):
    return monthly(grid, lambda m: np.full(grid.shape, np.nan), months)


def test_climatology_returns_the_train_monthly_mean(grid):
    # train: two years; month m has value m + 10 k at level k, plus +-1 between years
    def year(offset):
        return lambda m: np.broadcast_to((m + 10.0 * np.arange(2) + offset)[:, None, None],
                                         grid.shape)
    train = xr.concat([monthly(grid, year(-1), range(1, 13)).assign_coords(
        time=np.array([f"2000-{m:02d}-15" for m in range(1, 13)], dtype="datetime64[ns]")),
        monthly(grid, year(1), range(1, 13))], dim="time")
    method = make_method("climatology").fit(train, grid)
    out = method.reconstruct(empty_obs(grid, [3, 7]))
    assert out.dims == ("time", "depth", "lat", "lon")
    np.testing.assert_allclose(out.values[0, 0][grid.ocean[0]], 3.0)
    np.testing.assert_allclose(out.values[1, 1][grid.ocean[1]], 17.0)


def test_nearest_uses_great_circle_distance_across_the_dateline(grid):
    method = make_method("nearest").fit(None, grid)
    obs = empty_obs(grid, [1])
    i = np.flatnonzero(grid.lat == 5.0)[0]
    j_west, j_mid = np.flatnonzero(grid.lon == 355.0)[0], np.flatnonzero(grid.lon == 45.0)[0]
    obs.values[0, :, i, j_west] = 1.0
    obs.values[0, :, i, j_mid] = 2.0
    out = method.reconstruct(obs).values[0, 0, i]
    assert out[np.flatnonzero(grid.lon == 5.0)[0]] == 1.0  # 10° from 355, 40° from 45
    assert out[np.flatnonzero(grid.lon == 35.0)[0]] == 2.0
    assert out[np.flatnonzero(grid.lon == 15.0)[0]] == 1.0


def test_nearest_prefers_the_pole_side_neighbour_at_high_latitude(grid):
    # at 75°N, a point 40° of longitude away is closer than one 20° of latitude away
    method = make_method("nearest").fit(None, grid)
    obs = empty_obs(grid, [1])
    lat = list(grid.lat)
    obs.values[0, :, lat.index(75.0), np.flatnonzero(grid.lon == 145.0)[0]] = 1.0
    obs.values[0, :, lat.index(55.0), np.flatnonzero(grid.lon == 105.0)[0]] = 2.0
    out = method.reconstruct(obs).values[0, 0]
    assert out[lat.index(75.0), np.flatnonzero(grid.lon == 105.0)[0]] == 1.0


def test_linear_is_exact_for_a_linear_field_and_keeps_observations(grid):
    method = make_method("linear").fit(None, grid)
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    plane = 3.0 + 0.02 * lon2 - 0.05 * lat2
    rng = np.random.default_rng(0)
    guidance = rng.random(grid.shape) < 0.3
    obs = empty_obs(grid, [1])
    obs.values[0] = np.where(guidance, plane, np.nan)
    out = method.reconstruct(obs).values[0]
    np.testing.assert_allclose(out[guidance], plane[None].repeat(2, 0)[guidance], rtol=1e-6)
    assert np.isfinite(out).all()
    # inside the hull of the observations (away from the wrap and the caps) it is exact
    interior = (np.abs(lat2) < 50) & (lon2 > 60) & (lon2 < 300)
    np.testing.assert_allclose(out[0][interior], plane[interior], rtol=1e-5)


def test_linear_is_continuous_across_the_dateline(grid):
    method = make_method("linear").fit(None, grid)
    obs = empty_obs(grid, [1])
    for lon, value in ((335.0, 0.0), (25.0, 10.0)):
        obs.values[0, :, :, np.flatnonzero(grid.lon == lon)[0]] = value
    row = method.reconstruct(obs).values[0, 0, 9]
    # across the dateline, 335 -> 25 is 50°: 355° lies 20/50 of the way, 5° 30/50
    assert row[np.flatnonzero(grid.lon == 355.0)[0]] == pytest.approx(4.0, abs=1e-5)
    assert row[np.flatnonzero(grid.lon == 5.0)[0]] == pytest.approx(6.0, abs=1e-5)


def test_linear_falls_back_to_nearest_for_degenerate_points(grid):
    method = make_method("linear").fit(None, grid)
    obs = empty_obs(grid, [1])
    obs.values[0, :, 9, 30] = 7.0  # one point per level: no triangle
    out = method.reconstruct(obs).values
    np.testing.assert_allclose(out[0, 0], 7.0)


def test_a_level_without_observations_is_a_clear_error(grid):
    obs = empty_obs(grid, [1])
    obs.values[0, 0, 3, 3] = 1.0
    with pytest.raises(InputError, match="no observation at time index 0, level index 1"):
        make_method("nearest").fit(None, grid).reconstruct(obs)
