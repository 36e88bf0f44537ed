"""ReconMOST sampler options beside the paper's: soft-mask kernels, the observation-error
gain, the true-gradient mean shift, the ensemble median and the call budget."""

import math

import numpy as np
import pytest
import torch

from reconbench.benchmark.cells import observe
from reconbench.datasets.build import make_source
from reconbench.datasets.masks import MaskSpec
from reconbench.errors import InputError
from reconbench.methods import make_method
from reconbench.methods.reconmost.diffusion import linear_schedule, predict_x0, respace
from reconbench.methods.reconmost.sampling import (
    guidance_gain,
    guided_sample,
    mean_shift_step,
    smoothed_residual,
    soft_mask_kernel,
    true_gradient_pull,
)


def gaussian_row_sum() -> float:
    return sum(math.exp(-i * i / 2) for i in range(-2, 3))


def test_the_paper_kernel_sums_to_6_17_and_the_normalised_one_to_1():
    assert float(soft_mask_kernel().sum()) == pytest.approx(gaussian_row_sum() ** 2, rel=1e-12)
    assert gaussian_row_sum() ** 2 == pytest.approx(6.169, abs=1e-3)
    assert float(soft_mask_kernel(normalised=True).sum()) == pytest.approx(1.0, rel=1e-12)
    assert float(soft_mask_kernel(normalised=True)[2, 2]) == pytest.approx(
        1 / gaussian_row_sum() ** 2, rel=1e-12)


def test_the_capped_kernel_is_the_papers_for_one_point_and_the_mean_residual_when_dense():
    x0 = torch.zeros(1, 1, 11, 11, dtype=torch.float64)
    # one isolated guidance point: Σ K M <= 1 everywhere, so nothing changes
    y, mask = torch.zeros_like(x0), torch.zeros_like(x0)
    y[0, 0, 5, 5], mask[0, 0, 5, 5] = 0.8, 1.0
    torch.testing.assert_close(smoothed_residual(x0, y, mask, True, "capped"),
                               smoothed_residual(x0, y, mask, True, "paper"))
    # every cell a guidance point with residual 0.3: the paper pulls 6.17 x 0.3 in the
    # interior (over-pull), the capped kernel exactly 0.3, the normalised one 0.3 too
    y, mask = torch.full_like(x0, 0.3), torch.ones_like(x0)
    inner = (0, 0, slice(2, -2), slice(2, -2))
    paper = smoothed_residual(x0, y, mask, True, "paper")[inner]
    torch.testing.assert_close(paper, torch.full_like(paper, 0.3 * gaussian_row_sum() ** 2))
    for kernel in ("capped", "normalised"):
        spread = smoothed_residual(x0, y, mask, True, kernel)[inner]
        torch.testing.assert_close(spread, torch.full_like(spread, 0.3))
    with pytest.raises(InputError, match="kernel must be one of"):
        smoothed_residual(x0, y, mask, True, "flat")


def test_the_observation_error_gain_is_the_gaussian_likelihood_pull():
    s = linear_schedule()
    beta = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - beta)
    for sigma_o, scale in [(0.1, 1.0), (0.5, 3.0)]:
        np.testing.assert_allclose(guidance_gain(s, scale, sigma_o),
                                   scale * beta / (sigma_o ** 2 + 1 - abar), rtol=1e-10)
    # respaced: the merged original steps compound, 1 - Π (1 - f_τ)
    r = respace(s, 10)
    f = np.clip(2.0 * beta / (0.2 ** 2 + 1 - abar), 0, 1)
    t = r.timesteps
    expected = [1 - np.prod(1 - f[(t[k - 1] + 1 if k else 0): t[k] + 1]) for k in range(10)]
    np.testing.assert_allclose(guidance_gain(r, 2.0, 0.2), expected, rtol=1e-10)


class TanhNet(torch.nn.Module):
    """A tiny nonlinear ε-network, float64: ε̂ = conv2(tanh(conv1(x) + t / 1000))."""

    def __init__(self, channels: int):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.w1 = torch.nn.Parameter(0.3 * torch.randn(4, channels, 3, 3, generator=g,
                                                       dtype=torch.float64))
        self.w2 = torch.nn.Parameter(0.3 * torch.randn(channels, 4, 3, 3, generator=g,
                                                       dtype=torch.float64))

    def forward(self, x, t, cond=None):
        h = torch.tanh(torch.nn.functional.conv2d(x, self.w1, padding=1)
                       + t.to(x.dtype)[:, None, None, None] / 1000)
        return torch.nn.functional.conv2d(h, self.w2, padding=1)


@pytest.mark.parametrize("i", [20, 700])
def test_the_true_gradient_pull_is_a_finite_difference_gradient(i):
    s = linear_schedule()
    net = TanhNet(2)
    g = torch.Generator().manual_seed(i)
    x, y = (torch.randn(1, 2, 5, 6, generator=g, dtype=torch.float64) for _ in range(2))
    mask = (torch.rand(1, 2, 5, 6, generator=g) < 0.4).double()
    _, pull = true_gradient_pull(net, s, x, i, y, mask)

    def loss(v: torch.Tensor) -> float:  # ‖M ⊙ (y - x̂₀(v))‖²
        with torch.no_grad():
            t = torch.full((1,), i)
            x0 = predict_x0(s, v, t, net(v, torch.full((1,), i)))
            return float(((mask * (y - x0)) ** 2).sum())

    h = 1e-6
    for index in [(0, 0, 0, 0), (0, 1, 2, 3), (0, 0, 4, 5), (0, 1, 3, 1)]:
        up, down = x.clone(), x.clone()
        up[index] += h
        down[index] -= h
        derivative = (loss(up) - loss(down)) / (2 * h)
        assert float(pull[index]) == pytest.approx(-0.5 * derivative, rel=1e-6, abs=1e-9)


def test_the_true_gradient_step_is_the_mean_shift_with_jacobian_transposed_residual():
    s = respace(linear_schedule(), 20)
    net = TanhNet(2)
    g = torch.Generator().manual_seed(0)
    y = torch.randn(1, 2, 5, 6, generator=g, dtype=torch.float64)
    mask = (torch.rand(1, 2, 5, 6, generator=g) < 0.4).double()
    out = guided_sample(net, s, y, mask, guidance="mean-shift-grad", scale=2.0, clip=None,
                        generator=torch.Generator().manual_seed(1))
    x = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for i in range(len(s) - 1, -1, -1):
        eps, pull = true_gradient_pull(net, s, x, i, y, mask)
        x = mean_shift_step(s, x, i, eps, y, mask, 0.0, clip=None) + float(
            guidance_gain(s, 2.0)[i]) * pull
    torch.testing.assert_close(out, x)


@pytest.mark.parametrize("options", [
    dict(guidance="mean-shift-grad"), dict(kernel="capped", soft_mask=True),
    dict(kernel="normalised", soft_mask=True), dict(obs_error=0.1)])
def test_zero_scale_gives_the_unguided_sampler_for_every_option(options):
    s = respace(linear_schedule(), 15)
    net = TanhNet(3)
    g = torch.Generator().manual_seed(5)
    y = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    mask = (torch.rand(2, 3, 5, 6, generator=g) < 0.5).double()
    common = dict(scale=0.0, fresh_noise=True, clip=1.0)
    plain = guided_sample(net, s, y, mask, generator=torch.Generator().manual_seed(2), **common)
    other = guided_sample(net, s, y, mask, generator=torch.Generator().manual_seed(2),
                          **common, **options)
    torch.testing.assert_close(other, plain)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_exact_observations_with_zero_error_are_reproduced(sampler):
    """σ_o = 0 and s = 1: the last step's gain is 1, so the guidance points end at y (to
    1e-10); with dense guidance (every cell) the whole field is y."""
    s = respace(linear_schedule(), 12)
    net = TanhNet(2)
    g = torch.Generator().manual_seed(7)
    y = 0.5 * torch.randn(2, 2, 6, 7, generator=g, dtype=torch.float64)
    dense = torch.ones_like(y)
    out = guided_sample(net, s, y, dense, scale=1.0, obs_error=0.0, clip=None,
                        fresh_noise=True, sampler=sampler,
                        generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, y, rtol=0, atol=1e-10)
    sparse = (torch.rand(y.shape, generator=g) < 0.3).double()
    out = guided_sample(net, s, y, sparse, scale=1.0, obs_error=0.0, clip=None,
                        fresh_noise=True, sampler=sampler,
                        generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out[sparse > 0], y[sparse > 0], rtol=0, atol=1e-10)


def test_bad_sampler_options_are_refused_in_one_line():
    s = respace(linear_schedule(), 5)
    y = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    with pytest.raises(InputError, match="obs_error must be >= 0"):
        guided_sample(TanhNet(1), s, y, y, obs_error=-1.0)
    with pytest.raises(InputError, match="kernel must be one of"):
        guided_sample(TanhNet(1), s, y, y, kernel="box")
    with pytest.raises(InputError, match="precision must be one of"):
        guided_sample(TanhNet(1), s, y, y, precision="half")


def test_bfloat16_autocast_stays_close_to_float32():
    """bfloat16 autocast changes ε̂ by its rounding (8 bits of mantissa): a relative
    error of a few 1e-3 per call on the tiny network, never more than 2 %."""
    s = respace(linear_schedule(), 6)
    net = TanhNet(2).float()
    g = torch.Generator().manual_seed(4)
    y = torch.randn(1, 2, 8, 8, generator=g)
    mask = (torch.rand(1, 2, 8, 8, generator=g) < 0.3).float()
    runs = [guided_sample(net, s, y, mask, clip=None, precision=p,
                          generator=torch.Generator().manual_seed(0))
            for p in ("float32", "bfloat16")]
    relative = float((runs[1] - runs[0]).norm() / runs[0].norm())
    assert 0 < relative < 0.02


class CountingZeroNet(torch.nn.Module):
    """Stands in for the prior's network: ε̂ = 0, counting the fields it is called on."""

    def __init__(self):
        super().__init__()
        self.fields = 0

    def forward(self, x, t, cond=None):
        self.fields += x.shape[0]
        return torch.zeros_like(x)


@pytest.fixture(scope="module")
def synthetic_4deg():
    source = make_source("synthetic", resolution=4.0)
    truth = source.split("val").isel(time=[0, 1]).load()
    obs = observe(truth, MaskSpec("random", 0.925, 0).build(source.grid, 2))
    return source, obs


def test_the_default_spends_at_most_100_network_calls_per_field(synthetic_4deg):
    source, obs = synthetic_4deg
    method = make_method("reconmost").fit(None, source.grid)
    steps_run = round(method.strength * method.steps)
    assert steps_run * method.members <= 100
    method.model_ = counter = CountingZeroNet()
    method.sample(obs)
    assert counter.fields == steps_run * method.members * obs.sizes["time"]


def test_the_median_statistic_is_the_members_median(synthetic_4deg):
    source, obs = synthetic_4deg
    params = dict(members=3, steps=10)
    median = make_method("reconmost", ensemble_stat="median", **params).fit(None, source.grid)
    median.model_ = CountingZeroNet()
    dist = median.reconstruct_distribution(obs)
    np.testing.assert_allclose(dist["mean"], np.median(dist["members"].values, axis=0),
                               rtol=1e-6)
    with pytest.raises(InputError, match="ensemble_stat must be one of"):
        make_method("reconmost", ensemble_stat="mode").fit(None, source.grid)


# -- the OI first guess and the density switch -----------------------------------------------

def test_the_oi_start_is_the_oi_analysis_of_the_observations(synthetic_4deg):
    """Started at the schedule's first step (strength 1/steps) with ε̂ = 0 and no
    guidance, the sampler returns its start up to √(1 - ᾱ₀) ≈ 0.01 of noise: the
    reconstruction is then the oi method's analysis (fitted with the same parameters)."""
    source, obs = synthetic_4deg
    train = source.split("train").isel(time=slice(0, 24)).load()
    oi_params = {"length_scale": 600.0, "n_neighbours": 16}
    params = dict(steps=25, strength=0.04, scale=0.0, members=4, clip=None)
    first_guess = make_method("reconmost", start="oi", oi_params=oi_params, **params)
    first_guess.fit(train, source.grid).model_ = CountingZeroNet()
    gaussian = make_method("reconmost", **params).fit(train, source.grid)
    gaussian.model_ = CountingZeroNet()
    oi = make_method("oi", **oi_params).fit(train, source.grid).reconstruct(obs)
    scale = first_guess.normaliser_.scale  # (levels, 1, 1) °C per normalised unit
    off = np.abs(first_guess.reconstruct(obs) - oi).values / scale
    assert np.nanmax(off) < 0.05
    assert np.nanmax(np.abs(gaussian.reconstruct(obs) - oi).values / scale) > 0.5
    assert first_guess.fitted_params()["first_guess_oi"]["levels"]


def test_dense_fields_are_sampled_with_the_dense_settings(synthetic_4deg):
    """A batch mixing a dense field (50 % missing) and a sparse one (92.5 %): each field
    is what the method with the matching settings reconstructs from it alone."""
    source, sparse = synthetic_4deg
    dense = observe(source.split("val").isel(time=[0, 1]).load(),
                    MaskSpec("random", 0.5, 0).build(source.grid, 2))
    mixed = sparse.copy(data=np.stack([dense.values[0], sparse.values[1]]))
    params = dict(members=2, steps=10)
    switched = make_method("reconmost", dense_fraction=0.3,
                           dense_params={"obs_error": 0.1, "scale": 1.0}, **params)
    switched.fit(None, source.grid)
    out = switched.reconstruct(mixed)
    alone_dense = make_method("reconmost", obs_error=0.1, scale=1.0, **params)
    alone_sparse = make_method("reconmost", **params)
    expected_dense = alone_dense.fit(None, source.grid).reconstruct(mixed.isel(time=[0]))
    expected_sparse = alone_sparse.fit(None, source.grid).reconstruct(mixed.isel(time=[1]))
    np.testing.assert_allclose(out.isel(time=[0]), expected_dense, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.isel(time=[1]), expected_sparse, rtol=1e-5, atol=1e-5)
    assert not np.allclose(out.isel(time=[0]),
                           alone_sparse.reconstruct(mixed.isel(time=[0])), atol=1e-3)


@pytest.mark.parametrize(("params", "message"), [
    ({"dense_params": {"scale": 1.0}}, "dense_params is set but dense_fraction is None"),
    ({"dense_fraction": 1.5, "dense_params": {"scale": 1.0}},
     r"dense_fraction must be in \(0, 1\]"),
    ({"dense_fraction": 0.3, "dense_params": {"steps": 50}},
     "dense_params must be a non-empty table of guidance, scale"),
    ({"dense_fraction": 0.3}, "dense_params must be a non-empty table of"),
    ({"oi_params": {"nugget": 0.01}}, "oi_params is set but start is 'analysis'"),
    ({"start": "oi", "oi_params": {"nuget": 0.01}}, "nuget"),
])
def test_a_switch_or_first_guess_that_cannot_work_is_refused_in_one_line(synthetic_4deg,
                                                                          params, message):
    source, _ = synthetic_4deg
    with pytest.raises(InputError, match=message):
        make_method("reconmost", **params).fit(None, source.grid)
