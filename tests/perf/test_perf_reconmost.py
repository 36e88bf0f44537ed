"""Cost of ReconMOST: one UNet forward, one guided reverse step, one whole field.

The `default` architecture (without its conditioning channels) on the quick
suite's grid (16 levels, 45 x 90 at 4°), a batch of 4 fields, on the CPU; and
the registered `reconmost` method with the shipped prior of the 4° and of the
2° grid and its default settings reconstructing one test month at 92.5 %
missing, with the share of that time spent inside the network recorded in
``extra_info``.
"""

import time

import pytest
import torch

from reconbench.benchmark.runner import observe
from reconbench.datasets.build import make_source
from reconbench.datasets.masks import MaskSpec
from reconbench.methods import make_method
from reconbench.methods.reconmost.diffusion import linear_schedule
from reconbench.methods.reconmost.sampling import mean_shift_step
from reconbench.methods.reconmost.train import PRESETS
from reconbench.methods.reconmost.unet import UNet, UNetConfig

BATCH, LEVELS, SHAPE = 4, 16, (45, 90)


@pytest.fixture(scope="module")
def model():
    p = PRESETS["default"]
    config = UNetConfig(in_channels=LEVELS, out_channels=LEVELS,
                        model_channels=p.model_channels, channel_mult=p.channel_mult,
                        num_res_blocks=p.num_res_blocks,
                        attention_resolutions=p.attention_resolutions)
    return UNet(config).eval()


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, LEVELS, *SHAPE, generator=g)
    mask = (torch.rand(BATCH, LEVELS, *SHAPE, generator=g) < 0.075).float()
    return x, torch.randn(BATCH, LEVELS, *SHAPE, generator=g) * mask, mask


def test_unet_forward(benchmark, model, inputs):
    x, _, _ = inputs
    t = torch.full((BATCH,), 500, dtype=torch.long)
    with torch.no_grad():
        benchmark.pedantic(model, args=(x, t), rounds=5)


def test_guided_step(benchmark, model, inputs):
    """ε from the network, then the paper's mean-shift step (s = 4, soft mask)."""
    x, y, mask = inputs
    schedule = linear_schedule()
    t = torch.full((BATCH,), 500, dtype=torch.long)

    def step():
        with torch.no_grad():
            eps = model(x, t)
            return mean_shift_step(schedule, x, 500, eps, y, mask, 4.0, soft_mask=True)

    benchmark.pedantic(step, rounds=5)


@pytest.mark.parametrize("resolution", [4.0, 2.0])
def test_reconmost_field(benchmark, resolution):
    """Seconds per reconstructed field of `reconmost` (defaults, the grid's shipped prior)
    and the network's share."""
    source = make_source("synthetic", resolution=resolution)
    truth = source.split("test").isel(time=[0]).load()
    obs = observe(truth, MaskSpec("random", 0.925, 0).build(source.grid, 1))
    method = make_method("reconmost").fit(source.split("train"), source.grid)
    in_network = []

    def enter(module, args):
        in_network.append(-time.perf_counter())

    def leave(module, args, output):
        in_network[-1] += time.perf_counter()

    method.model_.register_forward_pre_hook(enter)
    method.model_.register_forward_hook(leave)
    start = time.perf_counter()
    benchmark.pedantic(method.reconstruct, args=(obs,), rounds=2)
    total = time.perf_counter() - start
    benchmark.extra_info.update(network_share=round(sum(in_network) / total, 3),
                                network_calls=len(in_network))


#: the sampler settings before issue 17 (20 reverse steps x 8 members = 160 network calls
#: per field, fresh noise) and the current default (at most 100 calls per field)
SETTINGS = {"160-calls-before": dict(steps=50, members=8, fresh_noise=True), "default": {}}


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_reconmost_calls_budget(benchmark, setting, precision):
    """Seconds per field at 2° (one test month, 92.5 % missing, this process's torch
    threads) of the default against the previous 160-call setting, with the network
    calls per field and the thread count recorded in ``extra_info``."""
    source = make_source("synthetic", resolution=2.0)
    truth = source.split("test").isel(time=[0]).load()
    obs = observe(truth, MaskSpec("random", 0.925, 0).build(source.grid, 1))
    method = make_method("reconmost", precision=precision, **SETTINGS[setting]).fit(
        source.split("train"), source.grid)
    fields = []
    method.model_.register_forward_pre_hook(lambda module, args: fields.append(args[0].shape[0]))
    benchmark.pedantic(method.reconstruct, args=(obs,), rounds=1)
    benchmark.extra_info.update(network_calls_per_field=sum(fields),
                                threads=torch.get_num_threads())
