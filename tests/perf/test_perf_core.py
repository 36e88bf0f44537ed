"""Cost of the benchmark's own machinery: synthetic ocean, masks, scores."""

import numpy as np
import pytest

from reconbench.benchmark.metrics import score
from reconbench.benchmark.scores import Distribution, probabilistic_score
from reconbench.datasets.masks import MaskSpec
from reconbench.datasets.synthetic import generate

RESOLUTIONS = [4.0, 2.0, 1.0]


@pytest.mark.parametrize("fields", RESOLUTIONS, indirect=True, ids=lambda r: f"{r:g}deg")
def test_synthetic_generation_one_year(benchmark, fields):
    benchmark.pedantic(lambda: list(generate(fields.grid, 12, seed=0)), rounds=3)


@pytest.mark.parametrize("kind", ["random", "profiles"])
@pytest.mark.parametrize("fields", RESOLUTIONS, indirect=True, ids=lambda r: f"{r:g}deg")
def test_mask_generation(benchmark, fields, kind):
    spec = MaskSpec(kind, fields.missing_rate, seed=1)
    benchmark.pedantic(spec.build, args=(fields.grid, fields.samples), rounds=5)


@pytest.mark.parametrize("fields", RESOLUTIONS, indirect=True, ids=lambda r: f"{r:g}deg")
def test_score(benchmark, fields):
    grid = fields.grid
    recon = fields.truth.fillna(0.0).values
    benchmark.pedantic(score, args=(fields.truth.values, recon, fields.guidance, grid.ocean,
                                    grid.depth, grid.lat, fields.missing_rate), rounds=5)


@pytest.mark.parametrize("kind", ["ensemble", "variance"])
@pytest.mark.parametrize("fields", RESOLUTIONS, indirect=True, ids=lambda r: f"{r:g}deg")
def test_probabilistic_score(benchmark, fields, kind):
    """The uncertainty scores of one cell: 8 members (reconmost's default) or a variance."""
    grid = fields.grid
    truth = fields.truth.values
    rng = np.random.default_rng(0)
    members = truth[None] + rng.normal(0, 0.1, (8, *truth.shape))
    dist = (Distribution(members.mean(0), members=members) if kind == "ensemble"
            else Distribution(truth + 0.1, variance=np.full(truth.shape, 0.01)))
    points = grid.ocean[None] & ~fields.guidance
    benchmark.pedantic(probabilistic_score, args=(truth, dist, points, grid.depth), rounds=5)
