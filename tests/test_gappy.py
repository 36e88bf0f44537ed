"""Gappy truth: imposed cloud gaps, masks among observed cells, scores on observed cells,
methods fitting on gappy training data."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from reconbench.benchmark.metrics import score
from reconbench.datasets.build import make_source
from reconbench.datasets.gaps import CloudGaps
from reconbench.datasets.grid import Grid, regular_axes
from reconbench.datasets.masks import MaskSpec
from reconbench.errors import InputError
from reconbench.methods.reconmost.diffusion import linear_schedule, training_loss
from reconbench.methods.registry import make_method

SMALL = {"resolution": 10.0, "train_years": 2, "val_years": 1, "test_years": 1}


@pytest.fixture(scope="module")
def gappy4():
    return make_source("synthetic", resolution=4, train_years=10, val_years=1, test_years=1,
                       gaps_cover=0.4, gaps_scale_deg=4.0, gaps_seed=1)


def test_gaps_cover_whole_columns_at_the_exact_share(gappy4):
    assert gappy4.gappy and isinstance(gappy4, CloudGaps)
    test = gappy4.split("test").values
    surface = gappy4.grid.ocean[0]
    clear = np.isfinite(test[:, 0])
    assert not clear[:, ~surface].any()
    n_clear = surface.sum() - round(0.4 * surface.sum())
    assert (clear.sum(axis=(1, 2)) == n_clear).all()
    # a cloudy column is missing at every level, a clear one observed at every wet level
    wet = gappy4.grid.ocean
    assert np.array_equal(np.isfinite(test), clear[:, None] & wet[None])
    # the complete source is unchanged where observed
    complete = gappy4.inner.split("test").values
    np.testing.assert_array_equal(test[np.isfinite(test)], complete[np.isfinite(test)])


def test_gaps_are_cloud_shaped_persistent_and_seeded(gappy4):
    clear = np.isfinite(gappy4.split("train").values[:, 0])
    surface = gappy4.grid.ocean[0]
    rng = np.random.default_rng(0)
    salt = np.zeros_like(surface)
    salt.flat[rng.choice(np.flatnonzero(surface), clear[0].sum(), replace=False)] = True
    assert ndimage.label(~clear[0] & surface)[1] < ndimage.label(~salt & surface)[1] / 5
    same_next = (clear[1:, surface] == clear[:-1, surface]).mean()
    same_independent = (clear[12:, surface] == clear[:-12, surface]).mean()
    assert same_next > same_independent + 0.08  # clouds persist from month to month
    other = make_source("synthetic", resolution=4, train_years=10, val_years=1, test_years=1,
                        gaps_cover=0.4, gaps_scale_deg=4.0, gaps_seed=2)
    assert not np.array_equal(clear[:3], np.isfinite(other.split("train").values[:3, 0]))


def test_gaps_of_a_month_do_not_depend_on_the_batch(gappy4):
    times = gappy4.split_times("train")
    whole = gappy4.clear_columns(times)
    np.testing.assert_array_equal(gappy4.clear_columns(times[[37]])[0], whole[37])
    np.testing.assert_array_equal(gappy4.clear_columns(times[40:50]), whole[40:50])


def test_no_gaps_by_default_and_bad_gap_parameters():
    assert not make_source("synthetic", **SMALL).gappy
    assert not make_source("synthetic", gaps_cover=0, **SMALL).gappy
    with pytest.raises(InputError, match="gaps_cover must be in \\[0, 1\\)"):
        make_source("synthetic", gaps_cover=1.2, **SMALL)
    with pytest.raises(InputError, match="gaps_seed must be an integer"):
        make_source("synthetic", gaps_cover=0.3, gaps_seed=1.5, **SMALL)
    with pytest.raises(InputError, match="unknown parameter.*gaps_cover"):
        make_source("synthetic", gaps_cuver=0.3, **SMALL)


@pytest.fixture(scope="module")
def grid():
    lat, lon = regular_axes(6.0)
    ocean = np.ones((2, lat.size, lon.size), bool)
    ocean[:, :, :5] = False
    return Grid(lat, lon, np.array([5.0, 100.0]), ocean)


@pytest.mark.parametrize("kind", ["random", "clouds", "profiles"])
def test_masks_draw_among_the_observed_cells(grid, kind):
    rng = np.random.default_rng(4)
    observed = np.broadcast_to(rng.random(grid.ocean.shape[1:]) < 0.5, (3, *grid.shape))
    guidance = MaskSpec(kind, 0.8, 0).build(grid, 3, observed=observed)
    assert not (guidance & ~(observed & grid.ocean)).any()
    if kind != "profiles":  # exactly (1 - r) of the observed cells (per level / columns)
        n_obs = (observed & grid.ocean)[0, 0].sum()
        assert guidance[:, 0].sum(axis=(1, 2)).tolist() == [round(0.2 * n_obs)] * 3


def test_masked_metrics_on_a_gappy_field_by_hand():
    lat, depth = np.array([0.0, 60.0]), np.array([5.0])
    ocean = np.array([[[1, 1, 1], [1, 1, 0]]], bool)
    truth = np.array([[[[10.0, np.nan, 12.0], [np.nan, 14.0, np.nan]]]])
    recon = np.array([[[[11.0, 99.0, 10.0], [50.0, 17.0, 0.0]]]])
    guidance = np.array([[[[1, 1, 0], [0, 0, 0]]]], bool)  # (0, 1) is not observed
    rows = score(truth, recon, guidance, ocean, depth, lat, 0.5, np.isfinite(truth))

    def value(point_set, metric):
        sel = rows[(rows.point_set == point_set) & (rows.metric == metric) & rows.depth.isna()]
        return float(sel.value.iloc[0])

    # observed ocean: (0,0) e=1, (0,2) e=-2, (1,1) e=3; guidance (0,0); evaluation the others
    assert value("evaluation", "n_points") == 2
    assert value("evaluation", "mse") == pytest.approx((4 + 9) / 2)
    assert value("evaluation", "bias") == pytest.approx(0.5)
    assert value("evaluation", "mse_area") == pytest.approx((4 + 0.5 * 9) / 1.5)
    assert value("guidance", "mse") == pytest.approx(1.0)
    assert value("ocean", "mse") == pytest.approx(14 / 3)
    assert value("ocean", "coverage") == pytest.approx(3 / 5)
    assert value("guidance", "coverage") == pytest.approx(1 / 5)
    assert value("evaluation", "mse_paper") == pytest.approx(13 / 6)


def test_reconmost_loss_ignores_the_gaps():
    torch.manual_seed(0)
    model = torch.nn.Conv2d(2, 2, 3, padding=1)
    net = lambda x, t, cond: model(x)  # noqa: E731
    x0, noise = torch.randn(2, 2, 4, 4), torch.randn(2, 2, 4, 4)
    t = torch.tensor([10, 500])
    known = torch.rand(2, 2, 4, 4) < 0.6
    loss = training_loss(net, linear_schedule(), x0, t, noise, known=known)
    from reconbench.methods.reconmost.diffusion import q_sample
    eps = model(q_sample(linear_schedule(), x0, t, noise))
    expected = ((eps - noise) ** 2)[known].mean()
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    assert float(training_loss(net, linear_schedule(), x0, t, noise)) == pytest.approx(
        float(((eps - noise) ** 2).mean().detach()), rel=1e-6)


FAST = {"climatology": {}, "nearest": {}, "linear": {}, "oi": {},
        "kriging": {"fit_months": 1, "max_fit_points": 400},  # its MSE within 0.5 % of default
        "dineof": {"train_months": 24, "max_modes": 8, "max_iter": 15},
        "reconmost": {"steps": 20, "members": 2}}


def evaluation_mse(source, name, params):
    test = source.split("test").isel(time=[6]).load()
    observed = np.isfinite(test.values)
    guidance = MaskSpec("random", 0.9).build(source.grid, 1, test["time"].values, observed)
    method = make_method(name, **params).fit(source.split("train"), source.grid)
    recon = method.reconstruct(test.where(guidance)).values
    assert np.isfinite(recon[:, source.grid.ocean]).all(), name
    rows = score(test.values, recon, guidance, source.grid.ocean, source.grid.depth,
                 source.grid.lat, 0.9, observed)
    sel = rows[(rows.point_set == "evaluation") & (rows.metric == "mse") & rows.depth.isna()]
    return float(sel.value.mean())


@pytest.mark.slow
def test_every_method_fits_on_gappy_data_and_keeps_its_rank(gappy4):
    complete = gappy4.inner
    clim = {"complete": evaluation_mse(complete, "climatology", {}),
            "gappy": evaluation_mse(gappy4, "climatology", {})}
    for name, params in FAST.items():
        if name == "climatology":
            continue
        complete_mse = evaluation_mse(complete, name, params)
        gappy_mse = evaluation_mse(gappy4, name, params)
        if complete_mse < clim["complete"]:
            assert gappy_mse < clim["gappy"], name


def test_cobe_gappy_suite_fails_clearly_without_the_data(tmp_path, monkeypatch):
    from reconbench.benchmark.runner import run_suite
    from reconbench.benchmark.suite import load_suite

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONBENCH_SHARED_DATA", str(tmp_path / "absent"))
    with pytest.raises(InputError, match="no file matches .*set RECONBENCH_SHARED_DATA"):
        run_suite(load_suite("cobe-gappy"), tmp_path / "results", progress=False)


def test_cobe_gappy_suite_end_to_end_small(shared_data, tmp_path, monkeypatch):
    import pandas as pd

    from reconbench.benchmark.runner import run_suite
    from reconbench.benchmark.suite import load_suite, parse_suite

    monkeypatch.setenv("RECONBENCH_SHARED_DATA", str(shared_data))
    text = load_suite("cobe-gappy").source_text
    text = text.replace("samples = 12", "samples = 2").replace(
        "missing_rates = [0.5, 0.9, 0.95]", "missing_rates = [0.9]")
    text = text.split("[[methods]]\nname = \"nearest\"")[0]  # climatology only
    store = run_suite(parse_suite(text, "cobe-gappy (small)"), tmp_path / "results",
                      progress=False)
    rows = pd.read_parquet(store.root / "results.parquet")
    pooled = rows[rows.depth.isna() & (rows.metric == "coverage") & (rows.mask_kind == "random")]
    truth = pooled[pooled.point_set == "ocean"].value.to_numpy()
    seen = pooled[pooled.point_set == "guidance"].value.to_numpy()
    np.testing.assert_allclose(truth, 0.6, atol=0.01)  # 40 % of the ocean under cloud
    np.testing.assert_allclose(seen, 0.1 * truth, atol=0.002)  # 10 % of the observed cells
    mse = rows[(rows.point_set == "evaluation") & (rows.metric == "mse")].value
    assert np.isfinite(mse).all()
