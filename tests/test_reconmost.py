"""ReconMOST: the schedule, the guided step, the network, training, checkpoints and a toy prior."""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from reconbench.benchmark.scores import Distribution, probabilistic_score
from reconbench.datasets.build import make_source
from reconbench.datasets.grid import Grid, regular_axes
from reconbench.datasets.masks import MaskSpec
from reconbench.datasets.source import DatasetSource
from reconbench.errors import InputError
from reconbench.methods import make_method
from reconbench.methods.reconmost import checkpoint
from reconbench.methods.reconmost.diffusion import (
    linear_schedule,
    posterior_mean,
    predict_x0,
    respace,
    training_loss,
)
from reconbench.methods.reconmost.sampling import (
    ddim_step,
    guidance_gain,
    guided_sample,
    mean_shift_step,
)
from reconbench.methods.reconmost.train import PRESETS, TrainConfig, train, unet_config
from reconbench.methods.reconmost.unet import UNet, UNetConfig, count_parameters


# -- the schedule and the guided step -------------------------------------------------------
@pytest.mark.parametrize("t", [0, 1, 10, 500, 999])
def test_schedule_matches_hand_computed_values(t):
    s = linear_schedule()
    betas = [1e-4 + (0.02 - 1e-4) * i / 999 for i in range(1000)]
    abar = math.prod(1 - b for b in betas[: t + 1])
    abar_prev = math.prod(1 - b for b in betas[:t])
    assert s.alphas_cumprod[t] == pytest.approx(abar, rel=1e-10)
    c0, ct = s.posterior_coefficients
    assert c0[t] == pytest.approx(betas[t] * math.sqrt(abar_prev) / (1 - abar), rel=1e-10)
    assert ct[t] == pytest.approx((1 - abar_prev) * math.sqrt(1 - betas[t]) / (1 - abar),
                                  rel=1e-10)
    assert s.reverse_variance[t] == pytest.approx(betas[t])


def test_respacing_keeps_alpha_bar_and_the_full_count_is_the_identity():
    s = linear_schedule()
    r = respace(s, 50)
    assert len(r) == 50 and r.timesteps[-1] == 999
    np.testing.assert_allclose(r.alphas_cumprod, s.alphas_cumprod[r.timesteps], rtol=1e-12)
    np.testing.assert_allclose(respace(s, 1000).betas, s.betas, rtol=1e-12)
    # the respaced guidance gain compounds the merged steps' gains and stays below 1
    np.testing.assert_allclose(guidance_gain(s, 4.0), 8.0 * s.betas, rtol=1e-9)
    gain = guidance_gain(r, 4.0)
    assert np.all(gain < 1) and np.all(gain >= 8.0 * s.betas[r.timesteps] * (1 - 1e-9))


@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("i", [3, 400, 999])
def test_guided_step_equals_the_reconmost_formula(i, noise):
    s = linear_schedule()
    g = torch.Generator().manual_seed(i)
    x_t, eps, y, z = (torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64)
                      for _ in range(4))
    mask = (torch.rand(2, 3, 6, 7, generator=g) < 0.3).double()
    scale = 4.0
    out = mean_shift_step(s, x_t, i, eps, y, mask, scale, noise=z if noise else None, clip=1.0)

    # independently, in numpy with the betas written out
    beta = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - beta)
    a, a_prev = abar[i], abar[i - 1]
    x, e, yy, m = (v.numpy() for v in (x_t, eps, y, mask))
    x0 = np.clip((x - np.sqrt(1 - a) * e) / np.sqrt(a), -1, 1)
    mu = beta[i] * np.sqrt(a_prev) / (1 - a) * x0 + (1 - a_prev) * np.sqrt(1 - beta[i]) / (
        1 - a) * x
    expected = mu + beta[i] * scale * 2 * m * (yy - x0)
    if noise:
        expected = expected + np.sqrt(beta[i]) * z.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_soft_mask_spreads_a_point_with_the_paper_gaussian():
    s = linear_schedule()
    x_t, eps = torch.zeros(1, 2, 9, 9, dtype=torch.float64), torch.zeros(1, 2, 9, 9,
                                                                         dtype=torch.float64)
    y, mask = torch.zeros_like(x_t), torch.zeros_like(x_t)
    y[0, 1, 4, 4], mask[0, 1, 4, 4] = 0.5, 1.0
    shift = (mean_shift_step(s, x_t, 10, eps, y, mask, 1.0, soft_mask=True)
             - mean_shift_step(s, x_t, 10, eps, y, mask, 0.0)) / s.betas[10]
    i, j = np.meshgrid(np.arange(9) - 4, np.arange(9) - 4, indexing="ij")
    kernel = np.where((abs(i) <= 2) & (abs(j) <= 2), np.exp(-(i ** 2 + j ** 2) / 2), 0)
    np.testing.assert_allclose(shift[0, 1].numpy(), 2 * 0.5 * kernel, atol=1e-12)
    assert shift[0, 0].abs().max() == 0


class EchoModel(torch.nn.Module):
    """A fixed 'network': ε̂ = 0.3 x_t + 0.1 sin(t) (deterministic, no weights)."""

    def forward(self, x, t, cond=None):
        return 0.3 * x + 0.1 * torch.sin(t.double())[:, None, None, None]


def test_zero_scale_is_the_unguided_ancestral_sampler():
    s = respace(linear_schedule(), 20)
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    mask = (torch.rand(2, 3, 5, 6, generator=g) < 0.5).double()
    guided = guided_sample(EchoModel(), s, y, mask, scale=0.0, fresh_noise=True, clip=None,
                           generator=torch.Generator().manual_seed(1))
    # the plain DDPM ancestral sampler, written out
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    for i in range(len(s) - 1, -1, -1):
        t = torch.full((2,), i)
        eps = EchoModel()(x, torch.full((2,), int(s.timesteps[i])))
        x_new = posterior_mean(s, predict_x0(s, x, t, eps), x, t)
        z = torch.randn(y.shape, generator=gen, dtype=torch.float64)
        x = x_new + (math.sqrt(s.betas[i]) * z if i > 0 else 0)
    torch.testing.assert_close(guided, x)


@pytest.mark.parametrize("eta", [0.0, 0.7])
@pytest.mark.parametrize("i", [5, 30])
def test_ddim_step_equals_the_ddim_formula_plus_the_mean_shift(i, eta):
    s = respace(linear_schedule(), 40)
    g = torch.Generator().manual_seed(i)
    x_t, eps, y, z = (torch.randn(2, 3, 6, 7, generator=g, dtype=torch.float64)
                      for _ in range(4))
    mask = (torch.rand(2, 3, 6, 7, generator=g) < 0.3).double()
    out = ddim_step(s, x_t, i, eps, y, mask, 4.0, noise=z, clip=1.0, eta=eta)

    # independently: ᾱ of the kept original timesteps, DDIM's update (Song et al. 2021,
    # eq. 12) with ε recomputed from the clipped x̂₀, and the respaced mean-shift gain
    beta = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - beta)
    kept = np.unique(np.round(np.linspace(0, 999, 40)).astype(int))
    a, a_prev = abar[kept[i]], abar[kept[i - 1]]
    x, e, yy, m = (v.numpy() for v in (x_t, eps, y, mask))
    x0 = np.clip((x - np.sqrt(1 - a) * e) / np.sqrt(a), -1, 1)
    e = (x - np.sqrt(a) * x0) / np.sqrt(1 - a)
    sigma = eta * np.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
    gain = 1 - np.prod(1 - 8 * beta[kept[i - 1] + 1: kept[i] + 1])
    expected = (np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev - sigma ** 2) * e
                + gain * m * (yy - x0) + sigma * z.numpy())
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_ddim_with_eta_zero_is_deterministic_given_its_start():
    s = respace(linear_schedule(), 20)
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    mask = (torch.rand(2, 3, 5, 6, generator=g) < 0.5).double()
    start = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)

    def run(seed, fresh_noise):
        return guided_sample(EchoModel(), s, y, mask, sampler="ddim", eta=0.0, start=start,
                             strength=0.5, fresh_noise=fresh_noise, clip=None,
                             generator=torch.Generator().manual_seed(seed))
    # fresh noise is drawn but scaled by η = 0: only the SDEdit start's noise matters
    torch.testing.assert_close(run(1, True), run(1, False))
    assert not torch.allclose(run(1, False), run(2, False))
    with pytest.raises(InputError, match="sampler must be one of"):
        guided_sample(EchoModel(), s, y, mask, sampler="euler")
    with pytest.raises(InputError, match=r"eta must be in \[0, 1\]"):
        guided_sample(EchoModel(), s, y, mask, sampler="ddim", eta=2.0)


# -- the network ----------------------------------------------------------------------------
def test_paper_preset_has_the_papers_parameter_count():
    with torch.device("meta"):
        model = UNet(unet_config(PRESETS["paper"], levels=42))
    n = count_parameters(model)
    assert 155e6 < n < 165e6, n  # 159.84 M
    n_attention = sum(1 for m in model.modules() if type(m).__name__ == "AttentionBlock")
    assert n_attention == 1  # the middle block only


def test_paper_architecture_round_trips_the_en4_grid():
    paper = PRESETS["paper"]
    config = UNetConfig(in_channels=42, out_channels=42, model_channels=8,
                        channel_mult=paper.channel_mult, num_res_blocks=1)
    model = UNet(config)
    torch.nn.init.normal_(model.out[-1].weight, std=0.01)  # not the zero-initialised output
    with torch.no_grad():
        out = model(torch.randn(1, 42, 173, 360), torch.tensor([999]))
    assert out.shape == (1, 42, 173, 360) and torch.isfinite(out).all() and out.abs().max() > 0


# -- a toy world: two smooth modes on a 16 x 32 grid with 2 levels --------------------------
class ToySource(DatasetSource):
    """Fields 10 + 5 k + a φ₁ + b φ₂ at level k, a and b standard normal per month."""

    name = "toy"

    def __init__(self, months: int = 240):
        self.months = months
        lat, lon = regular_axes(11.25)
        ocean = np.ones((2, lat.size, lon.size), dtype=bool)
        ocean[:, 6:9, 10:14] = False
        self.grid = Grid(lat, lon, np.array([5.0, 100.0]), ocean, name="toy")

    def _load_split(self, which):
        rng = np.random.default_rng({"train": 0, "val": 1, "test": 2}[which])
        lat, lon = np.deg2rad(self.grid.lat)[:, None], np.deg2rad(self.grid.lon)[None]
        phi1, phi2 = np.cos(lat) * np.sin(lon), np.cos(lat) * np.cos(2 * lon + lat)
        a, b = rng.standard_normal((2, self.months, 1, 1, 1))
        base = (10 + 5 * np.arange(2))[None, :, None, None]
        time = np.datetime64("2000-01-15") + np.arange(self.months) * np.timedelta64(30, "D")
        return self.grid.field(base + a * phi1[None, None] + b * phi2[None, None], time)


TINY = TrainConfig(model_channels=16, channel_mult=(1, 2), num_res_blocks=1,
                   attention_resolutions=(), normalisation="anomaly", conditioning=False,
                   lr=2e-3, batch_size=16, ema_decay=0.99, grad_clip=1.0)


@pytest.fixture(scope="module")
def toy_prior(tmp_path_factory):
    path = tmp_path_factory.mktemp("prior") / "toy.pt"
    # 100 steps: guided / unguided error 0.006 and guided / climatology 0.05 on the test
    # below (200 steps: 0.003 and 0.02), both far under its 0.5 bounds
    train(ToySource(), replace(TINY, batch_size=8), path, steps=100, seed=0, progress=False)
    return path


def fixed_batch_loss(path, source):
    model, normaliser, _ = checkpoint.load_prior(path)
    field = source.split("val")
    x0 = torch.from_numpy(normaliser.encode(field.values, field["time"].dt.month.values))
    g = torch.Generator().manual_seed(0)
    t = torch.randint(0, 1000, (x0.shape[0],), generator=g)
    with torch.no_grad():
        return training_loss(model, linear_schedule(), x0, t,
                             torch.randn(x0.shape, generator=g)).item()


def test_training_reduces_the_loss_and_resume_gives_identical_weights(tmp_path):
    source, config = ToySource(months=24), replace(TINY, model_channels=8, batch_size=8)
    straight, resumed = tmp_path / "a.pt", tmp_path / "b.pt"
    train(source, config, straight, steps=2, seed=3, progress=False)
    early = fixed_batch_loss(straight, source)
    train(source, config, straight, steps=40, seed=3, progress=False, resume=True)
    assert fixed_batch_loss(straight, source) < 0.7 * early

    train(source, config, resumed, steps=20, seed=3, progress=False)
    train(source, config, resumed, steps=40, seed=3, progress=False, resume=True)
    a = checkpoint.load_file(checkpoint.state_path(straight))
    b = checkpoint.load_file(checkpoint.state_path(resumed))
    assert a["step"] == b["step"] == 40
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
        torch.testing.assert_close(a["ema"][key], b["ema"][key], rtol=0, atol=0)


def test_corrupt_checkpoint_gives_a_clear_error_and_loading_is_weights_only(
        toy_prior, tmp_path, monkeypatch):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(toy_prior.read_bytes()[:5000])
    with pytest.raises(InputError, match="truncated, corrupt.*reconbench train"):
        checkpoint.load_prior(truncated)
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    checkpoint.load_prior(toy_prior)
    assert calls and all(k.get("weights_only") is True for k in calls)


def test_a_prior_trained_on_another_grid_is_refused(toy_prior):
    lat, lon = regular_axes(11.25)
    other = Grid(lat, lon, np.array([5.0, 100.0]), np.ones((2, lat.size, lon.size), bool))
    method = make_method("reconmost", checkpoint=str(toy_prior))
    with pytest.raises(InputError, match="trained on grid toy.*reconbench train"):
        method.fit(None, other)


@pytest.mark.parametrize("resolution", [4.0, 2.0])
@pytest.mark.parametrize("method_name, kind", [("reconmost", "anomaly"),
                                               ("reconmost-paper", "paper")])
def test_each_synthetic_grid_gets_its_shipped_prior(resolution, method_name, kind):
    grid = make_source("synthetic", resolution=resolution).grid  # the grid only: no fields
    method = make_method(method_name).fit(None, grid)
    meta = method.metadata_
    assert Path(method.checkpoint_path_).name == (f"synthetic-{resolution:g}deg"
                                                  f"{'-paper' if kind == 'paper' else ''}.pt")
    assert meta["grid"]["key"] == grid.key and meta["normalisation"]["kind"] == kind
    assert method.fitted_params()["prior_steps"] == meta["training"]["steps"] >= 1000
    # CPU tensors only (a prior trained on a GPU is saved from the CPU): loads anywhere
    torch.load(method.checkpoint_path_, weights_only=True)


def test_a_grid_without_a_shipped_prior_is_refused_with_the_list_and_the_command():
    grid = ToySource().grid
    with pytest.raises(InputError, match=r"no shipped ReconMOST prior with 'anomaly' or "
                                         r"'anomaly_std' normalisation fits Grid\(toy.*"
                                         r"synthetic-2deg.pt \(synthetic-2deg-16L, anomaly\)"
                                         r".*reconbench train"):
        make_method("reconmost").fit(None, grid)


def toy_errors(method, source, missing_rate=0.9):
    truth = source.split("test").isel(time=slice(0, 6))
    guidance = MaskSpec("random", missing_rate, 0).build(source.grid, 6)
    recon = method.reconstruct(truth.where(guidance)).values
    err = (recon - truth.values) ** 2
    evaluation = source.grid.ocean[None] & ~guidance
    return err[guidance].mean(), err[evaluation].mean()


def test_guidance_recovers_a_known_field_better_than_climatology(toy_prior):
    source = ToySource()
    train_field = source.split("train")
    climatology = make_method("climatology").fit(train_field, source.grid)
    _, clim_eval = toy_errors(climatology, source)
    params = dict(checkpoint=str(toy_prior), steps=100, start="noise", strength=1.0,
                  guidance="mean-shift", soft_mask=True, fresh_noise=True, members=2)
    unguided = make_method("reconmost", scale=0.0, **params).fit(train_field, source.grid)
    guided = make_method("reconmost", scale=1.0, **params).fit(train_field, source.grid)
    unguided_obs, _ = toy_errors(unguided, source)
    guided_obs, guided_eval = toy_errors(guided, source)
    assert guided_obs < 0.5 * unguided_obs
    assert guided_eval < 0.5 * clim_eval, (guided_eval, clim_eval)


def test_reconstruct_distribution_returns_the_members_it_averages(toy_prior):
    source = ToySource()
    truth = source.split("test").isel(time=slice(0, 2))
    guidance = MaskSpec("random", 0.9, 0).build(source.grid, 2)
    params = dict(checkpoint=str(toy_prior), steps=10, start="noise", strength=1.0)
    method = make_method("reconmost", members=3, **params).fit(None, source.grid)
    assert method.uncertainty == "ensemble"
    dist = method.reconstruct_distribution(truth.where(guidance))
    assert dist["members"].dims == ("member", *truth.dims)
    assert dist["members"].shape == (3, *truth.shape)
    np.testing.assert_allclose(dist["mean"], dist["members"].mean("member"), atol=1e-5)
    assert float(dist["members"].std("member").mean()) > 0  # the members differ
    # the same seed draws the same noise: reconstruct is the distribution's mean
    np.testing.assert_allclose(method.reconstruct(truth.where(guidance)), dist["mean"])
    forecast = Distribution.from_dataset(dist, "reconmost", "ensemble")
    points = source.grid.ocean[None] & ~guidance
    forecast.check(points, "reconmost")
    rows = probabilistic_score(truth.values, forecast, points, source.grid.depth)
    assert {"crps", "spread_skill", "rank_03"} <= set(rows.metric)
    single = make_method("reconmost", members=1, **params).fit(None, source.grid)
    assert single.uncertainty is None
    assert list(single.reconstruct_distribution(truth.where(guidance)).data_vars) == ["mean"]




def test_the_prior_appears_only_when_training_ends(tmp_path, monkeypatch):
    """Periodic checkpoints go to the train-state file alone: a run stopped after 2 of 4
    steps leaves no prior under --output, and resuming writes it whole."""
    from reconbench.methods.reconmost import train as train_module

    real_step, calls = train_module.optimiser_step, []

    def step_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    source, config = ToySource(months=24), replace(TINY, model_channels=8, batch_size=8)
    output = tmp_path / "prior.pt"
    monkeypatch.setattr(train_module, "optimiser_step", step_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train(source, config, output, steps=4, seed=3, save_every=1, progress=False)
    assert not output.exists()
    assert checkpoint.load_file(checkpoint.state_path(output))["step"] == 2
    monkeypatch.setattr(train_module, "optimiser_step", real_step)
    meta = train(source, config, output, steps=4, seed=3, save_every=1, progress=False,
                 resume=True)
    assert meta["training"]["steps"] == 4 and checkpoint.load_prior(output)[2] == meta
