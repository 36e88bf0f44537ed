"""DINEOF on low-rank matrices and on fields."""

import numpy as np
import pytest
from test_oi import series, surface_grid

import reconbench.methods.dineof as dineof_module
from reconbench.errors import InputError
from reconbench.methods import make_method
from reconbench.methods.dineof import complete, cv_mask, dineof, laplacian_filter


def low_rank(rng, m=600, n=40, rank=3, noise=0.01):
    u, v = rng.standard_normal((m, rank)), rng.standard_normal((n, rank))
    clean = u @ (v.T * np.array([4.0, 3.0, 2.0, 1.5])[:rank, None])
    return clean, clean + noise * rng.standard_normal((m, n))


def test_finds_the_rank_and_fills_90_percent_missing_to_the_noise_level():
    rng = np.random.default_rng(0)
    clean, noisy = low_rank(rng, m=1200, n=200, rank=3)
    known = rng.random(noisy.shape) < 0.1
    filled, record = dineof(np.where(known, noisy, np.nan), known, max_modes=8, tol=1e-5,
                            max_iter=200, rng=rng)
    errors = record["cv_errors"]
    # the cross-validation error collapses at the true rank (3) and hardly moves beyond it
    assert errors[2] < 0.05 * errors[1]
    assert record["modes"] >= 3 and min(errors) > 0.5 * errors[2]
    missed = np.abs(filled - clean)[~known]
    assert np.median(missed) < 0.01  # the noise's standard deviation
    assert np.sqrt(np.mean(missed ** 2)) < 0.01 * clean.std()
    np.testing.assert_array_equal(filled[known], noisy[known])


@pytest.mark.parametrize("exact_max_columns", [256, 0])  # exact SVD, block power iteration
def test_cross_validation_points_do_not_enter_before_the_final_step(monkeypatch,
                                                                    exact_max_columns):
    monkeypatch.setattr(dineof_module, "EXACT_MAX_COLUMNS", exact_max_columns)
    rng = np.random.default_rng(1)
    _, noisy = low_rank(rng)
    known = rng.random(noisy.shape) < 0.3
    cv = cv_mask(known, np.random.default_rng(5))
    assert cv.sum() == int(min(0.01 * noisy.size + 40, 0.03 * noisy.size))
    assert not (cv & ~known).any()
    corrupted = np.where(cv, 1e6, noisy)
    fit_known = known & ~cv
    start = np.where(fit_known, noisy, 0.0)
    basis = np.linalg.qr(rng.standard_normal((noisy.shape[1], 3)))[0]
    a, _ = complete(start.copy(), fit_known, None, basis, 1e-6, 200)
    b, _ = complete(np.where(fit_known, corrupted, 0.0), fit_known, None, basis, 1e-6, 200)
    np.testing.assert_array_equal(a, b)
    # the final step puts them back as observed values
    filled, _ = dineof(np.where(known, noisy, np.nan), known, max_modes=5,
                       rng=np.random.default_rng(5))
    np.testing.assert_array_equal(filled[cv], noisy[cv])


def test_method_uses_train_columns_and_records_its_choice():
    rng = np.random.default_rng(2)
    grid = surface_grid()
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    patterns = np.stack([np.cos(np.deg2rad(lat2)), np.sin(np.deg2rad(lon2)),
                         np.sin(np.deg2rad(2 * lat2)) * np.cos(np.deg2rad(lon2))])
    amplitudes = rng.standard_normal((40, 3))
    fields = np.einsum("tp,pij->tij", amplitudes, patterns)[:, None]
    train = series(grid, fields[:36])
    truth = fields[36:]
    seen = rng.random(truth.shape) < 0.05
    obs = series(grid, np.where(seen, truth, np.nan))
    method = make_method("dineof", train_months=36, tol=1e-5, max_iter=200).fit(train, grid)
    out = method.reconstruct(obs).values
    assert np.sqrt(np.mean((out - truth)[~seen] ** 2)) < 0.05 * truth.std()
    record = method.fitted_params()
    assert record["train_columns"] == 36 and record["last_reconstruction"]["modes"] >= 3
    # the temporal filter orders batch and train columns in time; here the batch follows
    later = grid.field(obs.values, train["time"].values[-1]
                       + np.arange(1, 5) * np.timedelta64(30, "D"))
    off = make_method("dineof", train_months=36, filter_alpha=0.0).fit(train, grid)
    default = make_method("dineof", train_months=36).fit(train, grid)
    np.testing.assert_array_equal(off.reconstruct(later).values,
                                  default.reconstruct(later).values)
    filtered = make_method("dineof", train_months=36, filter_alpha=0.1).fit(train, grid)
    assert np.isfinite(filtered.reconstruct(later).values).all()
    with pytest.raises(InputError, match="distinct column times"):
        filtered.reconstruct(obs)  # the batch's months are the train's first months
    alone = make_method("dineof", train_months=0).fit(train, grid)
    assert np.isfinite(alone.reconstruct(obs).values).all()
    assert alone.fitted_params()["train_columns"] == 0


def smooth_modes_plus_noise(rng, m=400, n=120, noise=1.0):
    """Rank 3 with temporal modes of 60, 36 and 24 months, plus white noise."""
    t = np.arange(n)
    v = np.stack([np.sin(2 * np.pi * t / p + rng.uniform(0, 6)) for p in (60, 36, 24)], axis=1)
    clean = (rng.standard_normal((m, 3)) * [3.0, 2.0, 1.5]) @ v.T
    return clean, clean + noise * rng.standard_normal((m, n))


@pytest.mark.parametrize("exact_max_columns", [256, 0])  # exact SVD, block power iteration
def test_temporal_filter_reconstructs_smooth_modes_better_and_is_off_at_alpha_zero(
        monkeypatch, exact_max_columns):
    monkeypatch.setattr(dineof_module, "EXACT_MAX_COLUMNS", exact_max_columns)
    rng = np.random.default_rng(0)
    clean, noisy = smooth_modes_plus_noise(rng)
    known = rng.random(noisy.shape) < 0.3
    values = np.where(known, noisy, np.nan)

    def run(**filter_params):
        filled, _ = dineof(values, known, max_modes=8, tol=1e-4, max_iter=200,
                           rng=np.random.default_rng(1), **filter_params)
        return filled

    plain = run()
    np.testing.assert_array_equal(run(filter_alpha=0.0, filter_iterations=3), plain)
    filtered = run(filter_alpha=0.1, filter_iterations=3)

    def rms(filled):
        return np.sqrt(np.mean((filled - clean)[~known] ** 2))

    assert rms(filtered) < 0.95 * rms(plain)  # 8.6 % better on this case
    np.testing.assert_array_equal(filtered[known], noisy[known])


def test_laplacian_filter_smooths_in_time_order_and_keeps_constants():
    times = np.array([0.0, 1.0, 2.0, 4.0, 5.0, 9.0])
    filt = laplacian_filter(times, 0.2, 3)
    np.testing.assert_allclose(filt.sum(axis=1), 1.0)  # no flux out: a constant stays
    np.testing.assert_array_equal(laplacian_filter(times, 0.0, 3), np.eye(times.size))
    order = np.array([3, 0, 5, 1, 4, 2])  # columns in any order: the same filter, permuted
    np.testing.assert_allclose(laplacian_filter(times[order], 0.2, 3),
                               filt[np.ix_(order, order)], atol=1e-15)
    one_step = laplacian_filter(times, 0.2, 1)
    # interior point 1 (neighbours 1 month away, mid-points 1 month apart): 0.2, 0.6, 0.2
    np.testing.assert_allclose(one_step[1, :3], [0.2, 0.6, 0.2])
    with pytest.raises(InputError, match="filter_alpha"):
        make_method("dineof", filter_alpha=0.7).fit(*_tiny_train())


def _tiny_train():
    grid = surface_grid()
    return series(grid, np.zeros((12, *grid.shape))), grid
