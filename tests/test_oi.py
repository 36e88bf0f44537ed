"""Optimal interpolation against closed forms and a field drawn from its own covariance."""

import numpy as np
import pytest

from reconbench.datasets.grid import Grid, regular_axes, unit_vectors
from reconbench.methods import make_method
from reconbench.methods.covariance import EARTH_RADIUS_KM


def surface_grid(resolution=10.0):
    lat, lon = regular_axes(resolution)
    return Grid(lat, lon, np.array([5.0]), np.ones((1, lat.size, lon.size), dtype=bool))


def series(grid, values):
    """A field from (time, depth, lat, lon) values, monthly from January 2000."""
    time = np.datetime64("2000-01-15") + np.arange(len(values)) * np.timedelta64(30, "D")
    return grid.field(values, time.astype("datetime64[ns]"))


def gaussian_draws(grid, n, length_km, sd, rng):
    """n fields (n, 1, lat, lon) with covariance sd^2 exp(-d^2 / (2 L^2)) (chord d)."""
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    u = unit_vectors(lat2, lon2).reshape(-1, 3)
    chord2 = np.maximum(2 - 2 * u @ u.T, 0) * EARTH_RADIUS_KM ** 2
    cov = sd ** 2 * np.exp(-0.5 * chord2 / length_km ** 2) + 1e-8 * np.eye(len(u))
    draws = rng.standard_normal((n, len(u))) @ np.linalg.cholesky(cov).T
    return draws.reshape(n, *grid.shape)


def test_single_observation_gives_the_closed_form():
    grid = surface_grid()
    train = series(grid, np.full((12, *grid.shape), 2.0))  # background 2 °C everywhere
    oi = make_method("oi", model="gaussian", length_scale=1500.0, nugget=0.2, variance=1.5,
                     vertical=False).fit(train, grid)
    obs = series(grid, np.full((1, *grid.shape), np.nan))
    i, j = 9, 18
    obs.values[0, 0, i, j] = 3.0
    out = oi.reconstruct(obs).values[0, 0]
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    u = unit_vectors(lat2, lon2)
    chord2 = (2 - 2 * u @ u[i, j]) * EARTH_RADIUS_KM ** 2
    b_io = 0.8 * 1.5 * np.exp(-0.5 * chord2 / 1500.0 ** 2)  # (1 - nugget) s^2 rho
    expected = 2.0 + b_io / (0.8 * 1.5 + 0.2 * 1.5) * (3.0 - 2.0)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


def test_error_matches_the_analysis_variance_and_beats_linear():
    rng = np.random.default_rng(0)
    grid = surface_grid()
    sd, length, nugget = 1.0, 2000.0, 0.05
    train = series(grid, np.zeros((12, *grid.shape)))  # background 0
    oi = make_method("oi", model="gaussian", length_scale=length, nugget=nugget,
                     variance=sd ** 2 / (1 - nugget), vertical=False,
                     n_neighbours=24).fit(train, grid)
    linear = make_method("linear").fit(train, grid)
    truth = gaussian_draws(grid, 60, length, sd, rng)
    seen = rng.random(truth.shape) < 0.1
    noise = rng.standard_normal(truth.shape) * np.sqrt(nugget * sd ** 2 / (1 - nugget))
    obs = series(grid, np.where(seen, truth + noise, np.nan))
    analysis = oi.reconstruct_distribution(obs)
    oi_err = (analysis["mean"].values - truth)[~seen]
    predicted = analysis["variance"].values[~seen]
    lin_err = (linear.reconstruct(obs).values - truth)[~seen]
    mse = np.mean(oi_err ** 2)
    # 60 independent fields: the MSE's relative sampling error is a few per cent
    assert mse == pytest.approx(predicted.mean(), rel=0.15)
    assert mse < 0.8 * np.mean(lin_err ** 2)


def test_fit_recovers_the_length_scale_and_handles_small_levels():
    rng = np.random.default_rng(1)
    lat, lon = regular_axes(6.0)
    ocean = np.ones((2, lat.size, lon.size), dtype=bool)
    ocean[1] = False
    ocean[1, 10, 10:20] = True  # a level of 10 cells: too few to fit
    grid = Grid(lat, lon, np.array([5.0, 500.0]), ocean)
    surface = surface_grid(6.0)
    draws = gaussian_draws(surface, 48, 1200.0, 0.7, rng)
    train = series(grid, np.concatenate([draws, draws], axis=1))
    oi = make_method("oi", model="gaussian", anisotropic=False).fit(train, grid)
    top, small = oi.fitted_params()["levels"]
    assert top["source"] == "fit" and small["source"] == "default"
    assert top["length_x_km"] == pytest.approx(1200.0, rel=0.2)
    assert top["nugget"] < 0.05
    assert oi.fitted_params()["vertical_scale_m"] > 0


@pytest.mark.parametrize("vertical", [True, False])
def test_three_dimensional_reconstruction_is_complete(vertical):
    rng = np.random.default_rng(2)
    lat, lon = regular_axes(10.0)
    ocean = np.ones((3, lat.size, lon.size), dtype=bool)
    ocean[:, 8:10, 10:14] = False
    ocean[2, :, 20:24] = False
    grid = Grid(lat, lon, np.array([5.0, 100.0, 1000.0]), ocean)
    train = series(grid, rng.standard_normal((24, *grid.shape)))
    oi = make_method("oi", vertical=vertical).fit(train, grid)
    values = np.where(rng.random((2, *grid.shape)) < 0.02, 1.0, np.nan)
    values[:, :, 0, 0] = 1.0  # at least one observation per level
    out = oi.reconstruct(series(grid, values)).values
    assert np.isfinite(out[:, ocean]).all() and np.isnan(out[:, ~ocean]).all()


def dense_blue(b, r_var, seen, innovation):
    """The global BLUE with numpy: increment and diag(B - B H^T (H B H^T + R)^-1 H B)."""
    gain = np.linalg.solve(b[np.ix_(seen, seen)] + r_var * np.eye(seen.sum()), b[seen]).T
    return gain @ innovation, np.diag(b) - np.sum(gain * b[:, seen], axis=1)


@pytest.mark.parametrize("model", ["gaussian", "exponential"])
def test_distribution_equals_the_dense_blue_when_every_observation_is_a_neighbour(model):
    rng = np.random.default_rng(3)
    lat, lon = regular_axes(10.0)
    depth = np.array([5.0, 150.0])
    grid = Grid(lat, lon, depth, np.ones((2, lat.size, lon.size), dtype=bool))
    train = series(grid, np.zeros((12, *grid.shape)))  # background 0
    total, nugget, length, length_z = 1.5, 0.2, 1500.0, 200.0
    oi = make_method("oi", model=model, length_scale=length, nugget=nugget, variance=total,
                     vertical_scale=length_z, n_neighbours=60).fit(train, grid)
    values = np.full((1, *grid.shape), np.nan)
    seen = rng.random(grid.shape) < 0.03  # about 40 observations, all within every window
    values[0][seen] = rng.standard_normal(seen.sum())
    analysis = oi.reconstruct_distribution(series(grid, values))
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    u = np.tile(unit_vectors(lat2, lon2).reshape(-1, 3), (2, 1))
    z = np.repeat(depth, lat.size * lon.size)
    r = np.sqrt(np.maximum(2 - 2 * u @ u.T, 0)) * EARTH_RADIUS_KM / length
    dz = np.abs(z[:, None] - z[None, :]) / length_z
    rho = np.exp(-0.5 * (r ** 2 + dz ** 2)) if model == "gaussian" else np.exp(-r - dz)
    b = (1 - nugget) * total * rho
    increment, variance = dense_blue(b, nugget * total, seen.ravel(), values[0][seen])
    np.testing.assert_allclose(analysis["mean"].values.ravel(), increment, atol=2e-5)
    np.testing.assert_allclose(analysis["variance"].values.ravel(), variance, atol=2e-5)
    np.testing.assert_array_equal(oi.reconstruct(series(grid, values)).values,
                                  analysis["mean"].values)
    assert oi.uncertainty == "variance"


def test_the_fit_reads_its_months_a_level_group_at_a_time_with_the_same_anomalies():
    """The covariance fit's anomalies, read six levels at a time (memory of one group),
    equal the whole block's, level for level, across group boundaries (16 = 6 + 6 + 4),
    also from a lazily read (Dask) split."""
    lat, lon = regular_axes(20.0)
    depth = np.arange(16) * 10.0 + 5.0
    grid = Grid(lat, lon, depth, np.ones((16, lat.size, lon.size), dtype=bool))
    values = np.random.default_rng(3).normal(15.0, 2.0, (30, *grid.shape))
    train = series(grid, values)
    oi = make_method("oi").fit(train, grid)
    use = np.array([0, 4, 11, 17, 29])
    months = train["time"].dt.month.values[use]
    stored = train.values  # float32, as a field holds it
    expected = [stored[use, k] - oi.background_[months - 1, k] for k in range(16)]
    for lazy in (train, train.chunk({"time": 1, "depth": 6})):
        got = list(oi._fit_anomalies(lazy, use))
        assert len(got) == 16
        for k in range(16):
            np.testing.assert_array_equal(got[k], expected[k])
