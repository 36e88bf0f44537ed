"""The built-in synthetic ocean and the land mask: shape, caching, determinism, physics.

Runs on a 4° grid with 5 years (3 train, 1 val, 1 test) in a temporary cache folder.
"""

import subprocess
import sys

import numpy as np
import pytest

from reconbench.datasets import synthetic
from reconbench.datasets.build import make_source
from reconbench.datasets.grid import DEFAULT_DEPTHS, FIELD_DIMS
from reconbench.datasets.landmask import cache_dir, surface_ocean
from reconbench.datasets.synthetic import SyntheticOcean

PARAMS = dict(resolution=4, train_years=3, val_years=1, test_years=1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache folder for this module (set as $RECONBENCH_CACHE)."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECONBENCH_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def source(cache):
    return SyntheticOcean(**PARAMS)


@pytest.fixture(scope="module")
def series(source):
    """The whole series in memory: (60, 16, 45, 90) float32."""
    return np.array(source.series())


@pytest.fixture(scope="module")
def anomalies(series):
    """The series minus its monthly climatology, same shape."""
    month = np.arange(series.shape[0]) % 12
    clim = np.stack([series[month == m].mean(axis=0) for m in range(12)])
    return series - clim[month]


def zonal_mean(values, grid, lat):
    """Mean over ocean cells of ``values`` (..., lat, lon) at the grid row nearest ``lat``."""
    return np.nanmean(values[..., np.argmin(np.abs(grid.lat - lat)), :], axis=-1)


def box_mean(values, grid, lat, lon):
    """Mean of ``values`` (..., lat, lon) over a (lat range, lon range) box, ignoring NaN."""
    rows = (grid.lat >= lat[0]) & (grid.lat <= lat[1])
    cols = (grid.lon >= lon[0]) & (grid.lon <= lon[1])
    return np.nanmean(values[..., rows, :][..., cols], axis=(-2, -1))


# -- grid and land mask -----------------------------------------------------------
def test_grid_axes_and_ocean(source):
    grid = source.grid
    assert grid.shape == (16, 45, 90)
    np.testing.assert_allclose(grid.depth, DEFAULT_DEPTHS)
    assert grid.name == "synthetic-4deg-16L"
    assert 0.6 < grid.ocean_fraction[0] < 0.75
    # a cell wet at one level is wet at every level above it; deep levels lose cells
    assert np.all(grid.ocean[1:] <= grid.ocean[:-1])
    assert grid.ocean_fraction[-1] < 0.95 * grid.ocean_fraction[0]


@pytest.mark.parametrize("lat, lon, is_ocean", [
    (2.0, 22.0, False),    # central Africa (Congo basin)
    (46.0, 90.0, False),   # central Asia
    (-22.0, 134.0, False),  # central Australia
    (2.0, 198.0, True),    # mid-Pacific
    (-30.0, 338.0, True),  # South Atlantic
])
def test_landmask_points(source, lat, lon, is_ocean):
    grid = source.grid
    i, j = np.argmin(np.abs(grid.lat - lat)), np.argmin(np.abs(grid.lon - lon))
    assert grid.ocean[0, i, j] == is_ocean


def test_landmask_is_cached_and_reloaded_without_the_package(source, cache):
    files = list((cache_dir() / "landmask").glob("*.npy"))
    assert len(files) == 1
    code = ("import sys; import numpy as np; "
            "from reconbench.datasets.landmask import surface_ocean; "
            "m = surface_ocean(np.arange(-88.0, 90, 4), np.arange(2.0, 360, 4)); "
            "assert 'global_land_mask' not in sys.modules; print(m.sum())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert int(out.stdout) == source.grid.ocean[0].sum()
    assert np.array_equal(surface_ocean(source.grid.lat, source.grid.lon), source.grid.ocean[0])


# -- fields, splits, cache, determinism ------------------------------------------
@pytest.mark.parametrize("which, n_months", [("train", 36), ("val", 12), ("test", 12)])
def test_split_fields(source, which, n_months):
    field = source.split(which)
    assert field.dims == FIELD_DIMS
    assert field.dtype == np.float32
    assert field.shape == (n_months, *source.grid.shape)
    source.grid.check_field(field)  # finite over every ocean cell
    assert np.isnan(field.values[:, ~source.grid.ocean]).all()
    assert field.attrs["units"] == "degC"


def test_splits_are_contiguous_monthly_and_disjoint(source):
    times = [source.split(w).time.values for w in ("train", "val", "test")]
    whole = np.concatenate(times)
    np.testing.assert_array_equal(whole, source.times())
    months = whole.astype("datetime64[M]")
    np.testing.assert_array_equal(np.diff(months).astype(int), 1)
    assert months[0] == np.datetime64("1950-01")
    assert times[0][-1] < times[1][0] and times[1][-1] < times[2][0]


def test_registered_and_params_round_trip(source):
    params = source.get_params()
    assert params["resolution"] == 4 and params["depths"] == pytest.approx(list(DEFAULT_DEPTHS))
    again = make_source("synthetic", **params)
    assert again.cache_path == source.cache_path
    assert again.grid.same_as(source.grid)


def test_cache_is_written_and_reused(source, series, monkeypatch):
    assert source.cache_path.exists()
    assert source.cache_path.parent == cache_dir() / "synthetic"

    def fail(*args, **kwargs):
        raise AssertionError("the series was generated again instead of read from the cache")

    monkeypatch.setattr(synthetic, "generate", fail)
    again = SyntheticOcean(**PARAMS)
    np.testing.assert_array_equal(again.split("test").values, series[-12:])
    assert SyntheticOcean(**dict(PARAMS, seed=1)).cache_path != source.cache_path
    assert SyntheticOcean(**dict(PARAMS, test_years=2)).cache_path != source.cache_path


def test_same_seed_same_numbers_other_seed_different(source, series):
    regenerated = np.concatenate(list(synthetic.generate(source.grid, 24, seed=0)))
    np.testing.assert_array_equal(regenerated, series[:24])  # a shorter series is a prefix
    other_grid = synthetic.build_grid(4.0, DEFAULT_DEPTHS, seed=1)
    other = np.concatenate(list(synthetic.generate(other_grid, 24, seed=1)))
    both = source.grid.ocean & other_grid.ocean
    assert not np.allclose(other[:, both], series[:24, both])
    assert not np.array_equal(other_grid.ocean, source.grid.ocean)  # seeded sea floor


def test_bad_parameters_are_rejected(cache):
    with pytest.raises(ValueError, match="train_years"):
        SyntheticOcean(**dict(PARAMS, train_years=0))
    with pytest.raises(ValueError, match="resolution"):
        SyntheticOcean(resolution=7)


# -- physical structure -------------------------------------------------------------
def test_meridional_sst_gradient(source, series):
    sst = series[:, 0].mean(axis=0)
    equator = zonal_mean(sst, source.grid, 0.0)
    assert 25.0 < equator < 30.0
    for lat in (-60.0, 60.0):
        assert zonal_mean(sst, source.grid, lat) < equator - 15.0
    assert np.nanmin(series[:, 0]) >= -2.0


def test_tropical_temperature_decreases_with_depth(source, series):
    profile = box_mean(series.mean(axis=0), source.grid, (-10, 10), (0, 360))
    assert np.all(np.diff(profile) < 0)
    assert profile[0] - profile[-1] > 20.0


def test_thermocline_is_shallow_in_the_east_deep_in_the_west(source, series):
    level = np.argmin(np.abs(source.grid.depth - 135.0))
    mean = series[:, level].mean(axis=0)
    west = box_mean(mean, source.grid, (-4, 4), (140, 170))
    east = box_mean(mean, source.grid, (-4, 4), (240, 270))
    assert west > east + 3.0


def test_seasonal_cycle_opposite_in_the_hemispheres(source, series):
    grid = source.grid
    feb, aug = series[1::12, 0].mean(axis=0), series[7::12, 0].mean(axis=0)
    assert zonal_mean(aug - feb, grid, 40.0) > 3.0
    assert zonal_mean(feb - aug, grid, -40.0) > 2.0
    assert abs(zonal_mean(aug - feb, grid, 0.0)) < 1.5


def test_seasonal_cycle_decays_with_depth(source, series):
    month = np.arange(series.shape[0]) % 12
    clim = np.stack([series[month == m].mean(axis=0) for m in range(12)])
    amplitude = box_mean(clim.max(axis=0) - clim.min(axis=0), source.grid, (-70, 70), (0, 360))
    assert amplitude[0] > 2.0
    assert amplitude[-1] < 0.1 * amplitude[0]


def test_enso_mode_has_interannual_variance_and_tilts_the_thermocline(source, anomalies):
    grid = source.grid
    nino34 = box_mean(anomalies, grid, (-5, 5), (190, 240))  # (time, depth)
    west = box_mean(anomalies, grid, (-5, 5), (140, 170))
    yearly = np.convolve(nino34[:, 0], np.ones(12) / 12, mode="valid")
    assert yearly.std() > 0.2  # interannual, not only month-to-month
    assert yearly.std() > 2.0 * np.convolve(west[:, 0], np.ones(12) / 12, mode="valid").std()
    k = np.argmin(np.abs(grid.depth - 135.0))
    assert np.corrcoef(nino34[:, 0], nino34[:, k])[0, 1] > 0.7  # deeper thermocline east
    assert np.corrcoef(nino34[:, 0], west[:, k])[0, 1] < -0.5  # shallower west


def test_enso_index_peaks_at_3_to_7_years():
    index = synthetic.enso_index(12 * 500, np.random.default_rng(3))
    power = np.abs(np.fft.rfft(index))[1:] ** 2
    period_years = 1.0 / np.fft.rfftfreq(index.size, d=1 / 12)[1:]
    band = (period_years >= 3) & (period_years <= 7)
    assert power[band].sum() > 0.5 * power.sum()
    assert power[band].mean() > 1.3 * power[period_years > 10].mean()
    assert power[band].mean() > 100 * power[period_years < 1].mean()
    assert index.std() == pytest.approx(1.0, abs=0.15)


def test_eddy_spectrum_is_steep(source, anomalies):
    rows = source.grid.ocean[0].all(axis=1) & (source.grid.lat < -50)  # Southern Ocean
    assert rows.sum() >= 2
    power = (np.abs(np.fft.rfft(anomalies[:, 0, rows], axis=-1)) ** 2).mean(axis=(0, 1))
    k = np.arange(power.size)
    fit = (k >= 4) & (k <= 40)
    slope = np.polyfit(np.log(k[fit]), np.log(power[fit]), 1)[0]
    assert slope < -1.5


def test_eddies_strongest_at_western_boundary_currents(source, anomalies):
    std = anomalies[:, 0].std(axis=0)
    gulf_stream = box_mean(std, source.grid, (34, 46), (290, 320))
    subtropical_pacific = box_mean(std, source.grid, (-30, -15), (200, 250))
    assert gulf_stream > 1.5 * subtropical_pacific
