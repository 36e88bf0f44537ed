"""How each method's cost grows: one factor at a time, three sizes each (the exponents of
docs/performance.md, fitted by ``docs/cost_exponents.py`` from this file's saved run).

From a base case (synthetic ocean at 6°, 16 levels, 92.5 % missing, 2 months) one
factor is varied over three sizes: ocean cells (9°, 6°, 4°; observations grow with
them at a fixed missing rate), levels (4, 8, 16), observations (96 %, 92.5 %, 85 %
missing at 6°) and months per batch (1, 2, 4). Each case fits the method once (not
timed) and times ``reconstruct`` of the batch; ``extra_info`` records the sizes and
the memory the call allocates at its peak (MiB; ``tracemalloc`` over a first,
untimed call: Python and numpy allocations, not those of C libraries' own).
ReconMOST's cost is steps × members network calls (a setting), so its case times
one forward of the ``default`` UNet (random weights) over the same grids and
levels (memory: the growth of the resident set, as torch allocates outside
``tracemalloc``). Run it with one thread and the process-time timer::

    OMP_NUM_THREADS=1 nice -n 10 pytest tests/perf/test_perf_scaling.py --benchmark-only \\
        --benchmark-timer time.process_time --benchmark-json scaling.json
    python docs/cost_exponents.py scaling.json
"""

import tracemalloc

import numpy as np
import pytest
import torch

from reconbench.benchmark.runner import PeakMemory, observe
from reconbench.datasets.build import make_source
from reconbench.datasets.grid import DEFAULT_DEPTHS
from reconbench.datasets.masks import MaskSpec
from reconbench.methods import make_method
from reconbench.methods.reconmost.train import PRESETS
from reconbench.methods.reconmost.unet import UNet, UNetConfig

BASE = {"resolution": 6.0, "levels": 16, "missing_rate": 0.925, "months": 2}
FACTORS = {"cells": ("resolution", (9.0, 6.0, 4.0)), "levels": ("levels", (4, 8, 16)),
           "observations": ("missing_rate", (0.96, 0.925, 0.85)),
           "months": ("months", (1, 2, 4))}
METHODS = ("climatology", "nearest", "linear", "kriging", "dineof")
#: (factor, size) cases; the base case ("base", 0) is run once and serves every factor.
CASES = [("base", 0)] + [(factor, value) for factor, (key, values) in FACTORS.items()
                         for value in values if value != BASE[key]]

_sources = {}


def case_sizes(factor: str, value) -> dict:
    if factor == "base":
        return dict(BASE)
    return BASE | {FACTORS[factor][0]: value}


def source(resolution: float, levels: int):
    key = (resolution, levels)
    if key not in _sources:
        _sources[key] = make_source("synthetic", resolution=resolution,
                                    depths=list(DEFAULT_DEPTHS[:levels]), train_years=2,
                                    val_years=1, test_years=1)
    return _sources[key]


@pytest.mark.parametrize("method_name", METHODS)
@pytest.mark.parametrize(("factor", "value"), CASES, ids=[f"{f}-{v:g}" for f, v in CASES])
def test_scaling(benchmark, method_name, factor, value):
    sizes = case_sizes(factor, value)
    src = source(sizes["resolution"], sizes["levels"])
    method = make_method(method_name).fit(src.split("train"), src.grid)
    truth = src.split("test").isel(time=slice(0, sizes["months"])).load()
    guidance = MaskSpec("random", sizes["missing_rate"], seed=0).build(src.grid,
                                                                         sizes["months"])
    obs = observe(truth, guidance)
    tracemalloc.start()  # a first, untimed call: the peak of what Python and numpy allocate
    method.reconstruct(obs)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    benchmark.pedantic(method.reconstruct, args=(obs,), rounds=2, iterations=1)
    benchmark.extra_info.update(
        factor=factor, cells=int(src.grid.ocean.sum()), levels=sizes["levels"],
        observations=int((guidance & src.grid.ocean[None]).sum()), months=sizes["months"],
        memory_growth_mb=round(traced_peak, 2))


@pytest.mark.parametrize(("factor", "value"),
                         [c for c in CASES if c[0] in ("base", "cells", "levels")],
                         ids=[f"{f}-{v:g}" for f, v in CASES if f in ("base", "cells", "levels")])
def test_scaling_reconmost_network_call(benchmark, factor, value):
    sizes = case_sizes(factor, value)
    grid = source(sizes["resolution"], sizes["levels"]).grid
    p = PRESETS["default"]
    model = UNet(UNetConfig(in_channels=sizes["levels"], out_channels=sizes["levels"],
                            model_channels=p.model_channels, channel_mult=p.channel_mult,
                            num_res_blocks=p.num_res_blocks,
                            attention_resolutions=p.attention_resolutions)).eval()
    x = torch.randn(1, sizes["levels"], grid.lat.size, grid.lon.size,
                    generator=torch.Generator().manual_seed(0))
    t = torch.full((1,), 500, dtype=torch.long)
    with torch.inference_mode(), PeakMemory() as memory:
        before = memory._process.memory_info().rss / 2**20
        benchmark.pedantic(model, args=(x, t), rounds=2, iterations=1)
    benchmark.extra_info.update(
        factor=factor, cells=int(grid.ocean.sum()), levels=sizes["levels"],
        grid_points=int(np.prod(x.shape[1:])), memory_growth_mb=round(memory.peak_mb - before, 1))
