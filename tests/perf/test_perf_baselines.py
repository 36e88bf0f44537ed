"""Cost of the classical baselines' ``reconstruct`` on realistic grids.

Each case fits once (not timed), then times one ``reconstruct`` of a batch at
92.5 % missing (random masks) and records the peak resident memory in the
benchmark's ``extra_info``. Grids: the default 2° x 16 levels, 4° x 16 levels,
and the EN4-like 1° x 42 levels; DINEOF also on 120 months of the 2° grid
(without train columns); kriging's universal and 3-D variants on the 4° grid.
``extra_info`` also holds the masked MSE (°C², on the withheld ocean cells), so
that a faster implementation can be checked to score the same. The methods
with a variance (oi, kriging) are also timed through ``reconstruct_distribution``.
"""

import numpy as np
import pytest

from reconbench.benchmark.runner import PeakMemory, observe
from reconbench.datasets.build import make_source
from reconbench.datasets.grid import EN4_DEPTHS
from reconbench.datasets.masks import MaskSpec
from reconbench.methods import make_method

SOURCES = {
    "4deg": dict(resolution=4.0, train_years=10, val_years=1, test_years=10),
    "2deg": dict(resolution=2.0, train_years=10, val_years=1, test_years=10),
    "1deg-42L": dict(resolution=1.0, depths=list(EN4_DEPTHS), train_years=2, val_years=1,
                     test_years=1),
}
CASES = [(method, grid, 1) for method in ("oi", "kriging", "dineof")
         for grid in ("4deg", "2deg", "1deg-42L")] + [("dineof", "2deg", 120)] + [
    (variant, "4deg", 1) for variant in ("kriging-universal", "kriging-ordinary3d")]
#: A 120-month batch is its own long record: DINEOF runs on it alone there.
PARAMS = {("dineof", 120): {"train_months": 0}}
#: Case names that are a method with a variant (3-D kriging: smaller tiles, see the docs).
VARIANTS = {"kriging-universal": ("kriging", {"variant": "universal"}),
            "kriging-ordinary3d": ("kriging", {"variant": "ordinary3d", "tile": 8})}

_sources = {}


def source(label):
    if label not in _sources:
        _sources[label] = make_source("synthetic", **SOURCES[label])
    return _sources[label]


@pytest.mark.parametrize(("method_name", "grid_label", "months"), CASES)
def test_reconstruct(benchmark, method_name, grid_label, months):
    src = source(grid_label)
    name, params = VARIANTS.get(method_name, (method_name, {}))
    params = params | PARAMS.get((method_name, months), {})
    method = make_method(name, **params).fit(src.split("train"), src.grid)
    truth = src.split("test").isel(time=slice(0, months)).load()
    guidance = MaskSpec("random", 0.925, 0).build(src.grid, months)
    obs = observe(truth, guidance)
    with PeakMemory() as memory:
        recon = benchmark.pedantic(method.reconstruct, args=(obs,), rounds=1, iterations=1)
    withheld = src.grid.ocean & ~guidance
    mse = float(np.mean((recon.values - truth.values)[withheld].astype(np.float64) ** 2))
    benchmark.extra_info.update(peak_rss_mb=round(memory.peak_mb), months=months,
                                ocean_cells=int(src.grid.ocean.sum()), masked_mse=mse)
    assert np.isfinite(recon.values[:, src.grid.ocean]).all()
    assert memory.peak_mb < 4096


@pytest.mark.parametrize(("method_name", "grid_label"),
                         [("oi", "4deg"), ("oi", "2deg"), ("kriging-ordinary3d", "4deg")])
def test_reconstruct_distribution(benchmark, method_name, grid_label):
    """The mean and its variance: the extra cost of the variance over ``reconstruct``."""
    src = source(grid_label)
    name, params = VARIANTS.get(method_name, (method_name, {}))
    method = make_method(name, **params).fit(src.split("train"), src.grid)
    truth = src.split("test").isel(time=slice(0, 1)).load()
    obs = observe(truth, MaskSpec("random", 0.925, 0).build(src.grid, 1))
    with PeakMemory() as memory:
        out = benchmark.pedantic(method.reconstruct_distribution, args=(obs,), rounds=1,
                                 iterations=1)
    benchmark.extra_info.update(peak_rss_mb=round(memory.peak_mb),
                                ocean_cells=int(src.grid.ocean.sum()))
    assert np.isfinite(out["variance"].values[:, src.grid.ocean]).all()
