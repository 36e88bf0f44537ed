"""Cost of the benchmark's own machinery: synthetic ocean, masks, scores."""

import pytest

from reconbench.benchmark.metrics import score
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
