"""ReconMOST priors on real data: compatibility checks, partial training states, the
training levers (longitude roll, per-cell std normalisation, --init) and resuming them."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from reconbench.datasets.build import make_source
from reconbench.datasets.grid import Grid, regular_axes
from reconbench.datasets.source import DatasetSource
from reconbench.errors import InputError
from reconbench.methods import make_method
from reconbench.methods.reconmost import checkpoint
from reconbench.methods.reconmost.normalise import STD_FLOOR, Normaliser
from reconbench.methods.reconmost.train import TrainConfig, roll_longitude, train

TINY = TrainConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                   attention_resolutions=(), normalisation="anomaly", conditioning=True,
                   lr=2e-3, batch_size=4, ema_decay=0.99, grad_clip=1.0)


class Toy(DatasetSource):
    """A 22.5° global (or regional) ocean of ``levels`` levels; fields with a seasonal
    cycle, a cell-dependent amplitude and noise."""

    name = "toy"

    def __init__(self, levels: int = 1, regional: bool = False, months: int = 36):
        lat, lon = regular_axes(22.5)
        if regional:
            lon = lon[:8]
        ocean = np.ones((levels, lat.size, lon.size), dtype=bool)
        ocean[:, 3:5, 2:4] = False
        self.months = months
        self.grid = Grid(lat, lon, 5.0 + 100.0 * np.arange(levels), ocean,
                         name=f"toy-{levels}L{'-regional' if regional else ''}")

    def _load_split(self, which):
        rng = np.random.default_rng({"train": 0, "val": 1, "test": 2}[which])
        shape = (self.months, *self.grid.ocean.shape)
        month = np.arange(self.months) % 12
        amplitude = 1.0 + np.arange(self.grid.lon.size)[None, None, None] / 4.0
        values = (15 + 3 * np.sin(2 * np.pi * month / 12)[:, None, None, None]
                  + amplitude * rng.standard_normal(shape))
        time = np.datetime64("2000-01-15") + (np.arange(self.months) * 30.44).astype(
            "timedelta64[D]")
        return self.grid.field(values, time)


@pytest.fixture(scope="module")
def toy_prior(tmp_path_factory):
    path = tmp_path_factory.mktemp("prior") / "toy.pt"
    train(Toy(), TINY, path, steps=3, seed=0, progress=False, save_every=2)
    return path


# -- bad input: a prior on data it was not trained for -------------------------------------
def test_levels_grid_and_normalisation_mismatches_name_what_differs(toy_prior):
    three_d = Toy(levels=3).grid
    with pytest.raises(InputError, match=r"levels differ: the prior has 1 .* the data have 3 "
                                         r".*reconbench train --preset default --dataset NAME"):
        make_method("reconmost", checkpoint=str(toy_prior)).fit(None, three_d)
    lat, lon = regular_axes(11.25)
    finer = Grid(lat, lon, np.array([5.0]), np.ones((1, lat.size, lon.size), bool))
    with pytest.raises(InputError, match=r"grid size differs: the prior has 8 x 16 .* the "
                                         r"data have 16 x 32"):
        make_method("reconmost", checkpoint=str(toy_prior)).fit(None, finer)
    lat, lon = regular_axes(22.5)
    other_mask = Grid(lat, lon, np.array([5.0]), np.ones((1, lat.size, lon.size), bool))
    with pytest.raises(InputError, match=r"grid key differs: the prior was trained on grid "
                                         r"toy-1L"):
        make_method("reconmost", checkpoint=str(toy_prior)).fit(None, other_mask)
    with pytest.raises(InputError, match=r"normalisation differs: the prior has 'anomaly' "
                                         r"but this method needs 'paper'.*--normalisation paper"):
        make_method("reconmost-paper", checkpoint=str(toy_prior)).fit(None, Toy().grid)
    make_method("reconmost", checkpoint=str(toy_prior)).fit(None, Toy().grid)  # fits


def test_a_cobe_prior_on_a_3d_dataset_stops_with_one_line(shared_data, tmp_path):
    cobe = make_source("netcdf", paths=str(shared_data / "cobe_sst2" / "year195[01].nc"),
                       variable="sst", grid=10.0, train_years=[1950, 1950],
                       test_years=[1951, 1951])
    prior = tmp_path / "cobe.pt"
    train(cobe, TINY, prior, steps=1, seed=0, progress=False)
    three_d = make_source("synthetic", resolution=10).grid  # 16 levels; the grid only
    with pytest.raises(InputError) as error:
        make_method("reconmost", checkpoint=str(prior)).fit(None, three_d)
    line = str(error.value)
    assert "\n" not in line
    assert "levels differ: the prior has 1" in line and "the data have 16" in line
    assert "reconbench train --preset default --dataset NAME" in line


# -- partial training states ----------------------------------------------------------------
def test_a_training_state_is_partial_and_refused_unless_allowed(toy_prior):
    state = checkpoint.state_path(toy_prior)
    final = checkpoint.load_file(toy_prior)["metadata"]
    partial = checkpoint.load_file(state)["metadata"]
    assert final["training"]["partial"] is False and partial["training"]["partial"] is True
    assert final["format_version"] == partial["format_version"] == 2
    with pytest.raises(InputError, match=r"is partial: a training state at step 3 .*"
                                         r"allow_partial=true"):
        make_method("reconmost", checkpoint=str(state)).fit(None, Toy().grid)
    method = make_method("reconmost", checkpoint=str(state), allow_partial=True)
    method.fit(None, Toy().grid)
    # the state's EMA weights are the final prior's (same step)
    prior_model = checkpoint.load_prior(toy_prior)[0]
    for a, b in zip(method.model_.parameters(), prior_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_version_1_prior_still_loads_and_counts_as_final(toy_prior, tmp_path):
    obj = checkpoint.load_file(toy_prior)
    obj["metadata"]["format_version"] = 1
    del obj["metadata"]["training"]["partial"]
    old = tmp_path / "v1.pt"
    torch.save(obj, old)
    method = make_method("reconmost", checkpoint=str(old)).fit(None, Toy().grid)
    assert method.metadata_["format_version"] == 1
    state = checkpoint.load_file(checkpoint.state_path(toy_prior))
    for key in ("ocean", "climatology", "level_std"):
        del state[key]
    del state["metadata"]["training"]["partial"]
    state["metadata"]["format_version"] = 1
    torch.save(state, tmp_path / "v1-state.pt")
    with pytest.raises(InputError, match="training state of format version 1"):
        make_method("reconmost", checkpoint=str(tmp_path / "v1-state.pt")).fit(None, Toy().grid)


# -- anomaly_std normalisation ----------------------------------------------------------------
def test_anomaly_std_divides_monthly_anomalies_by_each_cells_std():
    rng = np.random.default_rng(0)
    months = np.tile(np.arange(1, 13), 20)
    ocean = np.ones((1, 2, 3), bool)
    ocean[0, 1, 2] = False
    clim = rng.normal(10, 3, (12, 1, 2, 3))
    std = np.array([2.0, 0.5, 1.0, 4.0, 3.0, 1.0]).reshape(1, 2, 3)
    train = clim[months - 1] + std * rng.standard_normal((240, 1, 2, 3))
    train[0, 0, 0, 1] = np.nan  # one missing value
    train[:, ~ocean] = np.nan
    norm = Normaliser.fit("anomaly_std", train, months, ocean, conditioning=False)
    anomaly = train - norm.climatology[months - 1]
    expected = np.array([[[np.sqrt(np.mean(anomaly[np.isfinite(anomaly[:, 0, i, j]), 0, i, j]
                                           ** 2)) if ocean[0, i, j] else np.nan
                           for j in range(3)] for i in range(2)]])  # by hand: RMS per cell
    level = np.nanstd(anomaly[:, 0][:, ocean[0]])
    expected = np.maximum(expected, STD_FLOOR * level)
    np.testing.assert_allclose(norm.cell_std[ocean], expected[ocean], rtol=1e-5)
    assert norm.cell_std[0, 1, 2] == 1.0
    x = norm.encode(train, months)
    np.testing.assert_allclose(x[1, 0, 0, 0], anomaly[1, 0, 0, 0] / expected[0, 0, 0], rtol=1e-5)
    known = np.isfinite(train)
    np.testing.assert_allclose(norm.decode(x, months)[known], train[known], atol=1e-4)
    # a nearly constant cell (sea ice) takes the floor, not a tiny std
    train[:, 0, 0, 0] = clim[months - 1, 0, 0, 0]
    floored = Normaliser.fit("anomaly_std", train, months, ocean, conditioning=False)
    assert floored.cell_std[0, 0, 0] == pytest.approx(STD_FLOOR * floored.level_std[0])


def test_an_anomaly_std_prior_round_trips_and_is_used_by_reconmost(tmp_path):
    path = tmp_path / "astd.pt"
    source = Toy()
    meta = train(source, replace(TINY, normalisation="anomaly_std"), path, steps=2, seed=0,
                 progress=False)
    assert meta["normalisation"]["kind"] == "anomaly_std"
    method = make_method("reconmost", checkpoint=str(path), steps=4, members=1)
    method.fit(None, source.grid)
    fitted = Normaliser.fit("anomaly_std", source.split("train").values,
                            source.split("train")["time"].dt.month.values, source.grid.ocean,
                            True)
    # training fits it streamed (float64 sums): equal to the in-memory fit to float32 rounding
    np.testing.assert_allclose(method.normaliser_.cell_std, fitted.cell_std, rtol=1e-6)
    truth = source.split("test").isel(time=slice(0, 2))
    out = method.reconstruct(truth.where(np.random.default_rng(0).random(truth.shape) < 0.3))
    assert np.isfinite(out.values[:, source.grid.ocean]).all()


# -- longitude roll ------------------------------------------------------------------------------
def test_roll_longitude_moves_every_field_alike_and_keeps_the_values():
    x = torch.arange(2 * 1 * 3 * 5, dtype=torch.float32).reshape(2, 1, 3, 5)
    known = x > 7
    rolled, none, rolled_known = roll_longitude(2, x, None, known)
    assert none is None
    np.testing.assert_array_equal(rolled[..., 2:].numpy(), x[..., :3].numpy())
    np.testing.assert_array_equal(rolled[..., :2].numpy(), x[..., 3:].numpy())
    np.testing.assert_array_equal(rolled_known.numpy(), (rolled > 7).numpy())


def test_roll_is_refused_on_a_regional_grid(tmp_path):
    with pytest.raises(InputError, match=r"roll_lon .* needs a global grid periodic in "
                                         r"longitude.*toy-1L-regional"):
        train(Toy(regional=True), replace(TINY, roll_lon=True), tmp_path / "r.pt", steps=1,
              progress=False)
    assert not (tmp_path / "r.pt").exists()


def test_roll_changes_training_and_is_reproducible(tmp_path):
    runs = {}
    for label, roll in (("a", True), ("b", True), ("c", False)):
        train(Toy(), replace(TINY, roll_lon=roll), tmp_path / f"{label}.pt", steps=2, seed=1,
              progress=False)
        runs[label] = checkpoint.load_file(tmp_path / f"{label}.pt")["model"]
    key = next(iter(runs["a"]))
    torch.testing.assert_close(runs["a"][key], runs["b"][key], rtol=0, atol=0)
    assert not all(torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])


# -- --init (pre-training, then fine tuning) ---------------------------------------------------
def test_init_starts_from_the_priors_weights_and_checks_the_network(toy_prior, tmp_path):
    source = Toy()
    tuned = tmp_path / "tuned.pt"
    meta = train(source, replace(TINY, lr=1e-12), tuned, steps=1, seed=5, progress=False,
                 init=toy_prior)
    assert meta["training"]["run"]["init"]["path"] == str(toy_prior)
    start = checkpoint.load_file(toy_prior)["model"]
    after = checkpoint.load_file(tuned)["model"]
    for key in start:  # lr ~ 0: the fine-tuned weights are still the initial ones
        torch.testing.assert_close(after[key], start[key], rtol=1e-6, atol=1e-6)
    with pytest.raises(InputError, match=r"--init .*levels differ: the prior has 1 but the data "
                                         r"have 2"):
        train(Toy(levels=2), TINY, tmp_path / "x.pt", steps=1, progress=False, init=toy_prior)
    with pytest.raises(InputError, match=r"--init .*normalisation differs: the prior has "
                                         r"'anomaly' but this run uses 'anomaly_std'"):
        train(source, replace(TINY, normalisation="anomaly_std"), tmp_path / "x.pt", steps=1,
              progress=False, init=toy_prior)
    with pytest.raises(InputError, match=r"--init .*network differs: the prior has .* "
                                         r"but this run builds"):
        train(source, replace(TINY, model_channels=16), tmp_path / "x.pt", steps=1,
              progress=False, init=toy_prior)


# -- resume gives the uninterrupted run's weights, for every option ---------------------------
@pytest.mark.parametrize("option", ["roll_lon", "anomaly_std", "init"])
def test_resume_equals_an_uninterrupted_run(option, toy_prior, tmp_path):
    config, kwargs = TINY, {}
    if option == "roll_lon":
        config = replace(TINY, roll_lon=True)
    elif option == "anomaly_std":
        config = replace(TINY, normalisation="anomaly_std")
    else:
        kwargs = {"init": toy_prior}
    source = Toy(months=24)
    straight, resumed = tmp_path / "a.pt", tmp_path / "b.pt"
    train(source, config, straight, steps=4, seed=2, progress=False, **kwargs)
    train(source, config, resumed, steps=2, seed=2, progress=False, **kwargs)
    train(source, config, resumed, steps=4, seed=2, progress=False, resume=True, **kwargs)
    a, b = checkpoint.load_file(straight), checkpoint.load_file(resumed)
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    with pytest.raises(InputError, match="cannot resume .* other settings"):
        train(source, replace(config, lr=1.0), resumed, steps=5, seed=2, progress=False,
              resume=True, **kwargs)


def test_the_cobe_suite_finds_its_shipped_prior_without_training(shared_data):
    from reconbench.benchmark.suite import load_suite
    dataset = load_suite("cobe-reconmost").datasets[0]
    source = make_source(dataset.name, **dataset.params)
    method = make_method("reconmost").fit(None, source.grid)
    assert method.checkpoint_path_.endswith("cobe-sst2-2deg.pt")
    meta = method.metadata_
    assert meta["training"]["partial"] is False and meta["grid"]["levels"] == 1
    assert meta["training"]["run"]["dataset"]["params"]["train_years"] == [1950, 1979]
