"""Cost of the `paper` preset on a GPU: training samples/s and seconds per guided field.

RECONMOST.md's network (about 160 M parameters) on EN4's grid: 42 levels,
173 x 360 cells, batch 4 as in the paper. A training step is ``train``'s own
(:func:`~reconbench.methods.reconmost.train.optimiser_step`: ε MSE, AdamW,
gradient clipping, EMA); a guided field is the `reconmost-paper` setting (1000
ancestral steps, mean shift s = 4, no soft mask, no fresh noise, x̂₀ clipped at
±1) on one field at 7.5 % observed. Random fields and weights stand in for
data: the cost does not depend on the values. PyTorch's default precision
(float32, TF32 allowed in convolutions). Skipped without CUDA: one training
step of this network takes minutes on 2 CPU cores.

``extra_info`` records samples/s and seconds per field; run with
``pytest tests/perf --benchmark-only -k paper_preset``.
"""

import time

import pytest
import torch

from reconbench.methods.reconmost.diffusion import linear_schedule, respace
from reconbench.methods.reconmost.sampling import guided_sample
from reconbench.methods.reconmost.train import PRESETS, optimiser_step, unet_config
from reconbench.methods.reconmost.unet import UNet, count_parameters

LEVELS, SHAPE = 42, (173, 360)
OBSERVED = 0.075

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="the paper preset is measured on a GPU only")


@pytest.fixture(scope="module")
def device():
    return torch.device("cuda")


def _fields(batch: int, device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random normalised fields (batch, LEVELS, *SHAPE) and a 7.5 % guidance mask."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, LEVELS, *SHAPE, generator=g).clamp(-1, 1)
    mask = (torch.rand(batch, LEVELS, *SHAPE, generator=g) < OBSERVED).float()
    return x.to(device), mask.to(device)


def _timed(function, device) -> float:
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    function()
    torch.cuda.synchronize(device)
    return time.perf_counter() - start


def test_paper_preset_training_step(benchmark, device):
    """Training samples/s of the paper preset (batch 4) after two warm-up steps."""
    config = PRESETS["paper"]
    torch.manual_seed(0)
    model = UNet(unet_config(config, LEVELS)).to(device).train()
    ema = UNet(unet_config(config, LEVELS)).to(device).requires_grad_(False)
    ema.load_state_dict(model.state_dict())
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    schedule = linear_schedule()
    x0, _ = _fields(config.batch_size, device)
    g = torch.Generator().manual_seed(1)
    steps = []

    def step():
        t = torch.randint(len(schedule), (config.batch_size,), generator=g)
        noise = torch.randn(x0.shape, generator=g).to(device)
        loss = optimiser_step(model, ema, optimiser, config, len(steps), schedule, x0, t,
                              noise)
        steps.append(loss.item())  # .item() waits for the step, as train() does

    benchmark.pedantic(step, rounds=10, warmup_rounds=2)
    seconds = benchmark.stats.stats.median
    benchmark.extra_info.update(
        parameters=count_parameters(model), batch=config.batch_size,
        samples_per_s=round(config.batch_size / seconds, 2),
        peak_gpu_memory_gb=round(torch.cuda.max_memory_allocated(device) / 2**30, 1),
        device=torch.cuda.get_device_name(device))
    assert all(torch.isfinite(torch.tensor(steps)))


def test_paper_preset_guided_field(benchmark, device):
    """Seconds per field of the published sampler (1000 steps) with the paper network."""
    torch.manual_seed(0)
    model = UNet(unet_config(PRESETS["paper"], LEVELS)).to(device).eval()
    truth, mask = _fields(1, device)
    y = truth * mask
    schedule = linear_schedule()

    def field():
        with torch.no_grad():
            return guided_sample(model, schedule, y, mask, scale=4.0, fresh_noise=False,
                                 clip=1.0, soft_mask=False,
                                 generator=torch.Generator().manual_seed(0))

    with torch.no_grad():  # five steps: kernels chosen and loaded before the timed field
        warm_up = _timed(lambda: guided_sample(model, respace(schedule, 5), y, mask), device)
    out = benchmark.pedantic(field, rounds=1, warmup_rounds=0)
    torch.cuda.synchronize(device)
    benchmark.extra_info.update(seconds_per_field=round(benchmark.stats.stats.median, 2),
                                steps=len(schedule), warm_up_seconds=round(warm_up, 2),
                                device=torch.cuda.get_device_name(device))
    assert out.shape == (1, LEVELS, *SHAPE) and torch.isfinite(out).all()
