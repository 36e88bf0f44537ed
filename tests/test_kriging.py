"""Kriging: exact at observations, PyKrige's own answer, and a recovered variogram range."""

import numpy as np
import pytest
from pykrige.ok import OrdinaryKriging
from test_oi import gaussian_draws, series, surface_grid

from reconbench.methods import make_method

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


def test_agrees_with_pykrige_called_directly():
    rng = np.random.default_rng(1)
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
    direct, _ = ok.execute("points", lon2.ravel(), lat2.ravel())  # all points, no window
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
