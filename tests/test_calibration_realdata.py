"""Calibration of the synthetic ocean against real observations (../shared/data).

The default synthetic ocean (2°, 16 levels to 2134 m; 10 training years here) must
match, within stated tolerances:

- the World Ocean Atlas-type climatology ``ocean_atlas_subset.nc``: the
  cos-latitude-weighted global-mean temperature profile, within 2 °C at every
  atlas level down to 1000 m;
- COBE-SST2 1950-1959 at the surface: the range of monthly SST and the
  area-weighted mean over the ocean of the month-to-month anomaly std (anomaly
  about the monthly climatology), each within a factor 2.
"""

import numpy as np
import pytest
import xarray as xr

from reconbench.datasets.synthetic import SyntheticOcean

pytestmark = pytest.mark.realdata

COBE_YEARS = range(1950, 1960)


@pytest.fixture(scope="module")
def synthetic_train(tmp_path_factory):
    """(field (120, 16, 90, 180) °C, grid) of the default source with 10 training years."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECONBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        source = SyntheticOcean(train_years=10, val_years=1, test_years=1)
        return source.split("train").values, source.grid


def area_mean(values: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """cos(lat)-weighted mean over the finite cells of (..., lat, lon) values."""
    weights = np.broadcast_to(np.cos(np.deg2rad(lat))[:, None], values.shape[-2:])
    finite = np.isfinite(values)
    return (np.where(finite, values, 0.0) * weights).sum(axis=(-2, -1)) / (
        finite * weights).sum(axis=(-2, -1))


def monthly_anomaly_std(values: np.ndarray) -> np.ndarray:
    """Std over time of the anomaly about the monthly climatology: (time, ...) -> (...)."""
    month = np.arange(values.shape[0]) % 12
    clim = np.stack([values[month == m].mean(axis=0) for m in range(12)])
    return (values - clim[month]).std(axis=0)


def test_global_mean_profile_matches_the_atlas(shared_data, synthetic_train):
    values, grid = synthetic_train
    atlas = xr.open_dataset(shared_data / "ocean_atlas_subset.nc", decode_times=False)
    depth = atlas["ZAXLEVIT19"].values
    real = area_mean(atlas["TEMP"].values, atlas["YAX_SUBSET"].values).mean(axis=0)
    synthetic = np.interp(depth, grid.depth, area_mean(values, grid.lat).mean(axis=0))
    report = "\n".join(f"{z:6.0f} m  synthetic {s:6.2f}  atlas {r:6.2f} °C"
                       for z, s, r in zip(depth, synthetic, real, strict=True))
    assert np.all(np.abs(synthetic - real)[depth <= 1000] < 2.0), report


def test_surface_range_and_variability_match_cobe_sst2(shared_data, synthetic_train):
    values, grid = synthetic_train
    files = [shared_data / "cobe_sst2" / f"year{y}.nc" for y in COBE_YEARS]
    if not all(f.exists() for f in files):
        pytest.skip(f"COBE-SST2 files for {COBE_YEARS} are absent from {shared_data}")
    cobe = np.concatenate([xr.open_dataset(f)["sst"].values for f in files])  # (120, 180, 360)
    cobe_lat = xr.open_dataset(files[0])["lat"].values  # descending: area_mean does not mind
    sst = values[:, 0]
    real_min, real_max = np.nanmin(cobe), np.nanmax(cobe)
    assert np.nanmin(sst) == pytest.approx(real_min, abs=1.0)
    assert 0.5 < np.nanmax(sst) / real_max < 2.0
    assert 0.5 < (np.nanmax(sst) - np.nanmin(sst)) / (real_max - real_min) < 2.0

    real_std = area_mean(monthly_anomaly_std(cobe), cobe_lat)
    synthetic_std = area_mean(monthly_anomaly_std(sst), grid.lat)
    assert 0.5 < synthetic_std / real_std < 2.0, (synthetic_std, real_std)
