"""Lazy splits and streamed training: fits and training read only what they need, and
give what the in-memory path gives."""

import shutil
from dataclasses import replace

import dask.array as da
import numpy as np
import pytest
import torch
import xarray as xr
from cf_files import write

from reconbench.datasets.build import make_source, make_uncached_source
from reconbench.datasets.source import monthly_climatology
from reconbench.datasets.zarr_cache import CachedSource, build_cache, cache_folder
from reconbench.methods.dineof import Dineof
from reconbench.methods.kriging import Kriging
from reconbench.methods.oi import OptimalInterpolation
from reconbench.methods.reconmost.checkpoint import load_file
from reconbench.methods.reconmost.stream import StepSampler, batch_months
from reconbench.methods.reconmost.train import TrainConfig, train

CONFIG = TrainConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                     attention_resolutions=(), normalisation="anomaly", conditioning=True,
                     lr=2e-3, batch_size=4, ema_decay=0.9, grad_clip=1.0)


@pytest.fixture
def cf_params(tmp_path):
    params = {"paths": str(write(tmp_path / "t.nc")), "train_years": [2000, 2000],
              "test_years": [2001, 2001]}
    yield params
    shutil.rmtree(cache_folder(make_uncached_source("netcdf", **params)), ignore_errors=True)


def counting(field: xr.DataArray, reads: list) -> xr.DataArray:
    """``field`` as a lazy Dask array of one chunk per month that records each month read."""
    values = field.values

    def month(block, block_info=None):
        t = block_info[None]["array-location"][0][0]
        reads.append(t)
        return values[t:t + 1]

    lazy = da.map_blocks(month, da.zeros(values.shape, chunks=(1, *values.shape[1:]),
                                         dtype=np.float32), dtype=np.float32)
    return field.copy(data=lazy)


def test_classical_fits_read_only_what_they_need(cf_params):
    source = make_uncached_source("netcdf", **cf_params)
    train, grid = source.split("train"), source.grid
    n = train.sizes["time"]
    reads = []
    lazy = counting(train, reads)
    # the climatology streams every month once
    np.testing.assert_allclose(monthly_climatology(lazy).values,
                               monthly_climatology(train).values, rtol=1e-6)
    assert sorted(reads) == list(range(n))
    # DINEOF with a budget of 5 columns: the climatology, then the last 12 months only
    budget_mb = 5.5 * 4 * grid.ocean.sum() / 1e6
    reads.clear()
    method = Dineof(train_months=10, train_memory_mb=budget_mb).fit(lazy, grid)
    assert sorted(reads) == sorted(list(range(n)) + list(range(n - 12, n)))
    params = method.fitted_params()
    assert params["train_columns"] == 5 and params["train_memory_mb"] == budget_mb
    assert params["train_columns_mb"] <= budget_mb
    full = Dineof(train_months=10, train_memory_mb=None).fit(train, grid)
    np.testing.assert_allclose(method.fixed_, full.fixed_[:, -5:], rtol=1e-5, atol=1e-6)
    # kriging: the climatology, then its fit_months months
    reads.clear()
    Kriging(fit_months=3).fit(lazy, grid)
    assert len(reads) == n + 3
    reads.clear()
    OptimalInterpolation().fit(lazy, grid)
    assert len(reads) <= 2 * n


def test_classical_fits_on_the_cache_match_memory(cf_params):
    build_cache(make_uncached_source("netcdf", **cf_params))
    plain, cached = make_uncached_source("netcdf", **cf_params), make_source("netcdf",
                                                                            **cf_params)
    assert isinstance(cached, CachedSource)
    a = OptimalInterpolation().fit(plain.split("train"), plain.grid)
    b = OptimalInterpolation().fit(cached.split("train"), cached.grid)
    # the climatologies differ by float32 rounding (float64 sums), the fits follow
    np.testing.assert_allclose(a.background_, b.background_, rtol=1e-6, atol=1e-5)
    for la, lb in zip(a.levels_, b.levels_, strict=True):
        assert la.length_x == pytest.approx(lb.length_x, rel=1e-3)


def test_step_sampler_shares_make_the_global_batch():
    whole = batch_months(3, 17, 100, 8).tolist()
    shares = [next(iter(StepSampler(3, 100, 8, slice(r * 2, r * 2 + 2), 17, 18)))
              for r in range(4)]
    assert sum(shares, []) == whole
    assert batch_months(3, 17, 100, 8).tolist() == whole  # a function of seed and step
    assert batch_months(3, 18, 100, 8).tolist() != whole


def test_training_from_the_cache_equals_training_from_memory(cf_params, tmp_path):
    memory = make_uncached_source("netcdf", **cf_params)
    assert not memory.lazy_reads
    train(memory, CONFIG, tmp_path / "memory.pt", steps=3, seed=5, progress=False,
          dataset_spec={"name": "netcdf", "params": cf_params})
    build_cache(make_uncached_source("netcdf", **cf_params))
    cached = make_source("netcdf", **cf_params)
    assert cached.lazy_reads
    # two worker processes read and prefetch the batches from the Zarr store
    train(cached, CONFIG, tmp_path / "cache.pt", steps=3, seed=5, progress=False,
          dataset_spec={"name": "netcdf", "params": cf_params}, loader_workers=2)
    a, b = load_file(tmp_path / "memory.pt"), load_file(tmp_path / "cache.pt")
    for key in ("climatology", "level_std"):
        assert torch.equal(a[key], b[key]), key
    for key, value in a["model"].items():  # the EMA weights
        assert torch.equal(value, b["model"][key]), key
    sa = load_file(tmp_path / "memory.train-state.pt")
    sb = load_file(tmp_path / "cache.train-state.pt")
    for key, value in sa["model"].items():
        assert torch.equal(value, sb["model"][key]), key


def test_resumed_streamed_training_equals_the_straight_run(cf_params, tmp_path):
    build_cache(make_uncached_source("netcdf", **cf_params))
    cached = make_source("netcdf", **cf_params)
    config = replace(CONFIG, conditioning=False)
    train(cached, config, tmp_path / "straight.pt", steps=4, seed=2, progress=False)
    train(cached, config, tmp_path / "resumed.pt", steps=2, seed=2, progress=False)
    train(cached, config, tmp_path / "resumed.pt", steps=4, seed=2, progress=False,
          resume=True)
    a, b = load_file(tmp_path / "straight.pt"), load_file(tmp_path / "resumed.pt")
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
