"""Kriging: exact at observations, PyKrige's own answer, a recovered variogram range, and
the universal (linear drift) and 3-D variants."""

import numpy as np
import pytest
from pykrige.ok import OrdinaryKriging
from pykrige.ok3d import OrdinaryKriging3D
from test_oi import gaussian_draws, series, surface_grid

from reconbench.datasets.grid import Grid, regular_axes
from reconbench.methods import make_method
from reconbench.methods.kriging import local_xy

KM_PER_DEGREE = 6371.0 * np.pi / 180.0


def sparse_obs(grid, rng, fraction, field):
    seen = rng.random(field.shape) < fraction
    return seen, series(grid, np.where(seen, field, np.nan))


def test_exact_at_observed_points_without_nugget():
    rng = np.random.default_rng(0)
    grid = surface_grid()
    train = series(grid, np.zeros((12, *grid.shape)))
    kriging = make_method("kriging", variogram_parameters={"psill": 1.0, "range": 40.0,
                                                           "nugget": 0.0}).fit(train, grid)
    truth = gaussian_draws(grid, 1, 2000.0, 1.0, rng)
    seen, obs = sparse_obs(grid, rng, 0.15, truth)
    out = kriging.reconstruct(obs).values
    np.testing.assert_allclose(out[seen], truth[seen], atol=1e-4)
    assert np.isfinite(out).all()


def spherical_case(seed):
    """Our tiled kriging with a fixed spherical variogram on ~10 % of one level, the
    observations, and PyKrige's global ordinary kriging of all points: (mean, ss)."""
    rng = np.random.default_rng(seed)
    grid = surface_grid()
    train = series(grid, np.zeros((12, *grid.shape)))
    params = {"psill": 0.8, "range": 30.0, "nugget": 0.05}
    kriging = make_method("kriging", variogram_model="spherical", variogram_parameters=params,
                          n_closest_points=1000, tile=5).fit(train, grid)
    truth = gaussian_draws(grid, 1, 1500.0, 1.0, rng)
    seen, obs = sparse_obs(grid, rng, 0.1, truth)
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    ok = OrdinaryKriging(lon2[seen[0, 0]], lat2[seen[0, 0]], truth[0, 0][seen[0, 0]],
                         variogram_model="spherical", variogram_parameters=params,
                         coordinates_type="geographic")
    return kriging, obs, ok.execute("points", lon2.ravel(), lat2.ravel())  # no window


def test_agrees_with_pykrige_called_directly():
    kriging, obs, (direct, _) = spherical_case(1)
    # every tile's window holds all ~65 observations: the tiles reproduce the global system
    out = kriging.reconstruct(obs).values[0, 0]
    np.testing.assert_allclose(out.ravel(), np.asarray(direct), atol=1e-5)


def test_fitted_variogram_recovers_the_range():
    # exp(-d^2 / (2 L^2)) is PyKrige's gaussian model with range = sqrt(2) * 7/4 * L
    rng = np.random.default_rng(2)
    grid = surface_grid(6.0)
    length_km = 1200.0
    train = series(grid, gaussian_draws(grid, 24, length_km, 1.0, rng))
    kriging = make_method("kriging", variogram_model="gaussian", fit_months=12,
                          max_fit_points=500).fit(train, grid)
    level = kriging.fitted_params()["levels"][0]
    expected = np.sqrt(2) * 7 / 4 * length_km / KM_PER_DEGREE
    assert level["source"] == "fit"
    assert level["range"] == pytest.approx(expected, rel=0.3)
    assert kriging.fitted_params()["subsampled_fits"] == 12


def test_fit_on_obs_falls_back_to_train_for_sparse_levels():
    rng = np.random.default_rng(3)
    grid = surface_grid()
    train = series(grid, gaussian_draws(grid, 24, 2000.0, 1.0, rng))
    kriging = make_method("kriging", fit_on="obs", fit_months=1).fit(train, grid)
    truth = gaussian_draws(grid, 2, 2000.0, 1.0, rng)
    values = np.full(truth.shape, np.nan)
    values[0] = np.where(rng.random(truth.shape[1:]) < 0.2, truth[0], np.nan)  # ~130 points
    values[1, 0, 3, 4:7] = truth[1, 0, 3, 4:7]  # 3 points: too few to fit
    out = kriging.reconstruct(series(grid, values)).values
    assert np.isfinite(out).all()
    record = kriging.fitted_params()
    assert record["obs_fits"] == 1 and record["obs_fallbacks_to_train"] == 1


def regional_grid(n_levels=1, resolution=10.0):
    """Ocean between 50°S and 50°N, 100°E and 260°E: no window crosses the seam or a pole."""
    lat, lon = regular_axes(resolution)
    inside = (np.abs(lat)[:, None] < 50) & (lon[None, :] > 100) & (lon[None, :] < 260)
    depth = 10.0 * 4.0 ** np.arange(n_levels)
    return Grid(lat, lon, depth, np.broadcast_to(inside, (n_levels, *inside.shape)).copy())


@pytest.mark.parametrize("n_levels", [1, 3])
def test_universal_reproduces_a_linear_trend(n_levels):
    rng = np.random.default_rng(4)
    grid = regional_grid(n_levels)
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    train = series(grid, np.zeros((12, *grid.shape)))
    params = {"psill": 1.0, "range": 30.0, "nugget": 0.0}
    trend = np.stack([1.0 + 0.02 * (k + 1) * lon2 - 0.03 * lat2 for k in range(n_levels)])
    truth = np.where(grid.ocean, trend, np.nan)[None]
    seen, obs = sparse_obs(grid, rng, 0.15, truth)
    universal = make_method("kriging", variant="universal", variogram_parameters=params,
                            n_closest_points=12, tile=3).fit(train, grid)
    out = universal.reconstruct(obs).values
    ocean = np.broadcast_to(grid.ocean, out.shape)
    np.testing.assert_allclose(out[ocean], truth[ocean], atol=1e-4)  # exact for a plane
    np.testing.assert_allclose(out[seen & ocean], truth[seen & ocean], atol=1e-6)
    assert universal.fitted_params()["drift_fallbacks"] == 0
    ordinary = make_method("kriging", variogram_parameters=params, n_closest_points=12,
                           tile=3).fit(train, grid)
    assert np.abs(ordinary.reconstruct(obs).values - truth)[ocean].max() > 0.05


@pytest.mark.parametrize("n_levels", [1, 2])
def test_ordinary3d_agrees_with_pykrige_called_directly(n_levels):
    rng = np.random.default_rng(5)
    grid = regional_grid(n_levels)
    surface = surface_grid()
    draws = gaussian_draws(surface, 12 + n_levels, 2000.0, 1.0, rng)
    train = series(grid, np.concatenate([draws[:12] * (1.0 - 0.3 * k)
                                         for k in range(n_levels)], axis=1))
    params = {"psill": 0.9, "range": 25.0, "nugget": 0.0}
    method = make_method("kriging", variant="ordinary3d", variogram_parameters=params,
                         depth_scale=0.05, n_closest_points=10_000, tile=100).fit(train, grid)
    truth = np.concatenate([draws[12 + k:13 + k] for k in range(n_levels)], axis=1)
    truth = np.where(grid.ocean, truth, np.nan)
    seen, obs = sparse_obs(grid, rng, 0.08, truth)
    seen &= grid.ocean
    out = method.reconstruct(obs).values[0]
    np.testing.assert_allclose(out[seen[0]], truth[0][seen[0]], atol=1e-5)  # no nugget: exact
    # one tile per level: the same local projection for every target
    background = method.background_[obs["time"].dt.month.values[0] - 1]
    scale = np.array(method.fitted_params()["level_scale"])[:, None, None] * np.ones(grid.shape)
    lat3 = np.broadcast_to(grid.lat[None, :, None], grid.shape)
    lon3 = np.broadcast_to(grid.lon[None, None, :], grid.shape)
    depth3 = np.broadcast_to(grid.depth[:, None, None] * 0.05, grid.shape)
    x, y = local_xy(lat3, lon3, float(grid.lat.mean()), float(grid.lon.mean()))
    z = (truth[0] - background) / scale
    ok = OrdinaryKriging3D(x[seen[0]], y[seen[0]], depth3[seen[0]], z[seen[0]],
                           variogram_model="exponential", variogram_parameters=params)
    ocean = grid.ocean
    direct, _ = ok.execute("points", x[ocean], y[ocean], depth3[ocean])
    expected = background[ocean] + scale[ocean] * np.asarray(direct)
    np.testing.assert_allclose(out[ocean], expected, atol=1e-4)


@pytest.mark.parametrize("variant", ["universal", "ordinary3d"])
def test_variants_at_high_missing_rates_fall_back_like_the_2d_path(variant):
    rng = np.random.default_rng(6)
    grid = regional_grid(3)
    train = series(grid, rng.standard_normal((12, *grid.shape)))
    method = make_method("kriging", variant=variant, tile=8).fit(train, grid)
    clim = method.background_
    values = np.full((3, *grid.shape), np.nan)
    ocean_cells = np.argwhere(grid.ocean[0])
    pick = ocean_cells[rng.choice(len(ocean_cells), 6, replace=False)]
    values[0, 0, pick[:, 0], pick[:, 1]] = 1.0 + rng.standard_normal(6)  # level 0: 6 points
    i, j = ocean_cells[0]
    values[0, 1, i, j] = clim[0, 1, i, j] + 0.7  # level 1: one point
    # level 2 at time 0 and all of time 1: no observation; time 2: 2 points in a row
    values[2, 0, i, j:j + 2] = clim[2, 0, i, j:j + 2] + [0.5, 0.5]
    out = method.reconstruct(series(grid, values)).values
    assert np.isfinite(out[:, grid.ocean]).all()
    np.testing.assert_allclose(out[1][grid.ocean], clim[1][grid.ocean], rtol=1e-6)
    if variant == "universal":  # each level on its own, as in the 2-D path
        np.testing.assert_allclose(out[0, 1][grid.ocean[1]], clim[0, 1][grid.ocean[1]] + 0.7,
                                   rtol=1e-6)
        np.testing.assert_allclose(out[0, 2][grid.ocean[2]], clim[0, 2][grid.ocean[2]],
                                   rtol=1e-6)
        # 2 points cannot fit a plane: ordinary kriging (the same value) instead
        np.testing.assert_allclose(out[2, 0][grid.ocean[0]], clim[2, 0][grid.ocean[0]] + 0.5,
                                   rtol=1e-6)
        assert method.fitted_params()["drift_fallbacks"] > 0
    else:  # the levels inform each other: the unobserved level moves off the climatology
        assert np.abs(out[0, 2] - clim[0, 2])[grid.ocean[2]].max() > 1e-3


def test_subsampled_fits_count_each_fit_and_each_reconstruction():
    rng = np.random.default_rng(7)
    grid = surface_grid(6.0)  # 1800 cells
    train = series(grid, gaussian_draws(grid, 24, 1500.0, 1.0, rng))
    kriging = make_method("kriging", fit_on="obs", fit_months=3,
                          max_fit_points=400).fit(train, grid)
    assert kriging.fitted_params()["subsampled_fits"] == 3
    truth = gaussian_draws(grid, 2, 1500.0, 1.0, rng)
    values = truth.copy()
    values[1] = np.where(rng.random(truth.shape[1:]) < 0.1, truth[1], np.nan)  # ~180 points
    for _ in range(2):  # the same figures each time: counts of one reconstruction
        kriging.reconstruct(series(grid, values))
        record = kriging.fitted_params()
        assert record["subsampled_fits"] == 3
        assert record["obs_fits"] == 2 and record["obs_subsampled_fits"] == 1


def test_variance_is_pykriges_ss():
    kriging, obs, (_, ss) = spherical_case(8)
    out = kriging.reconstruct_distribution(obs)
    assert kriging.uncertainty == "variance"
    np.testing.assert_allclose(out["variance"].values[0, 0].ravel(), np.asarray(ss), atol=1e-5)
    np.testing.assert_array_equal(out["mean"].values, kriging.reconstruct(obs).values)


def test_ordinary3d_moving_window_equals_pykrige_with_its_variance():
    rng = np.random.default_rng(9)
    grid = regional_grid(2)
    train = series(grid, np.zeros((12, *grid.shape)))
    params = {"psill": 0.9, "range": 25.0, "nugget": 0.1}
    method = make_method("kriging", variant="ordinary3d", variogram_parameters=params,
                         depth_scale=0.05, n_closest_points=12, tile=100).fit(train, grid)
    draws = gaussian_draws(surface_grid(), 2, 2000.0, 1.0, rng)
    truth = np.where(grid.ocean, np.concatenate([draws[:1], draws[1:]], axis=1), np.nan)
    seen, obs = sparse_obs(grid, rng, 0.15, truth)
    seen &= grid.ocean
    out = method.reconstruct_distribution(obs)
    scale = np.array(method.fitted_params()["level_scale"])[:, None, None] * np.ones(grid.shape)
    lat3 = np.broadcast_to(grid.lat[None, :, None], grid.shape)
    lon3 = np.broadcast_to(grid.lon[None, None, :], grid.shape)
    depth3 = np.broadcast_to(grid.depth[:, None, None] * 0.05, grid.shape)
    x, y = local_xy(lat3, lon3, float(grid.lat.mean()), float(grid.lon.mean()))
    ok = OrdinaryKriging3D(x[seen[0]], y[seen[0]], depth3[seen[0]],
                           (truth[0] / scale)[seen[0]], variogram_model="exponential",
                           variogram_parameters=params)
    ocean = grid.ocean
    # PyKrige's own moving window: 12 nearest of all observations, per-target Python loop
    direct, ss = ok.execute("points", x[ocean], y[ocean], depth3[ocean], n_closest_points=12,
                            backend="loop")
    np.testing.assert_allclose(out["mean"].values[0][ocean], scale[ocean] * direct, atol=1e-5)
    np.testing.assert_allclose(out["variance"].values[0][ocean], scale[ocean] ** 2 * ss,
                               atol=1e-5)
