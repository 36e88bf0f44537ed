"""Data-parallel training: ``torchrun --nproc_per_node 2 -m reconbench train`` (gloo, real
processes) gives the weights one process gives on the same global batch."""

import os
import subprocess
import sys

import pytest
import torch

from reconbench.methods.reconmost.checkpoint import state_path
from reconbench.methods.reconmost.unet import UNet, UNetConfig

pytestmark = pytest.mark.slow  # run first: see conftest.py

#: The default preset's network on a 15° synthetic grid (12 x 24 cells, 16 levels), 2 years.
ARGS = ["--dataset", "synthetic", "--dataset-param", "resolution=15",
        "--dataset-param", "train_years=2", "--dataset-param", "val_years=1",
        "--dataset-param", "test_years=1", "--seed", "0", "--no-progress"]
#: One AdamW step moves a weight by up to lr = 5e-4 (the default preset). Splitting the batch
#: changes the float rounding of the gradients, which Adam's normalisation amplifies where a
#: gradient is near zero: about 1e-5 at most after 3 steps. A rank that trained on its own
#: share alone, without averaging the gradients, would be off by about lr.
ATOL = 5e-5


def train(env: dict, output, *args: str, processes: int = 1,
          batch_size: int = 4) -> subprocess.CompletedProcess:
    """``reconbench train`` in one process, or in ``processes`` under torchrun (gloo)."""
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                str(processes)] if processes > 1 else []
    return subprocess.run([sys.executable, *launcher, "-m", "reconbench", "train", *ARGS,
                           "--batch-size", str(batch_size), "--output", str(output), *args],
                          env=env, capture_output=True, text=True, timeout=300)


def weights(prior) -> dict[str, dict[str, torch.Tensor]]:
    """The EMA weights of a prior file and the raw weights of its training state."""
    return {"ema": torch.load(prior, weights_only=True)["model"],
            "model": torch.load(state_path(prior), weights_only=True)["model"]}


def assert_same_weights(a, b) -> None:
    for kind in ("ema", "model"):
        torch.testing.assert_close(a[kind], b[kind], rtol=0, atol=ATOL, msg=lambda m, k=kind:
                                   f"{k} weights: {m}")


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The environment of the runs (a fresh cache, filled here) and one process's 3 steps."""
    folder = tmp_path_factory.mktemp("ddp")
    env = dict(os.environ, RECONBENCH_CACHE=str(folder / "cache"), OMP_NUM_THREADS="1")
    out = train(env, folder / "single.pt", "--steps", "3")
    assert out.returncode == 0, out.stderr
    return env, folder / "single.pt"


def test_two_processes_train_like_one_and_one_resumes_them(single, tmp_path):
    """Two steps under torchrun, the third resumed in one process: the weights of one
    process's three steps. A rank training on its own share alone (no averaged gradients)
    or a wrongly saved training state would be off by about lr."""
    env, reference = single
    out = train(env, tmp_path / "ddp.pt", "--steps", "2", processes=2)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("prior: ") == 1  # rank 0 alone reports
    meta = torch.load(tmp_path / "ddp.pt", weights_only=True)["metadata"]
    assert meta["training"]["world_size"] == 2 and meta["training"]["steps"] == 2
    out = train(env, tmp_path / "ddp.pt", "--steps", "3", "--resume")
    assert out.returncode == 0, out.stderr
    resumed, expected = weights(tmp_path / "ddp.pt"), weights(reference)
    assert_same_weights(resumed, expected)
    with torch.random.fork_rng(devices=[]):  # the seeded initial weights
        torch.manual_seed(0)
        initial = UNet(UNetConfig.from_dict(meta["unet"])).state_dict()
    for kind in ("ema", "model"):
        moved = torch.cat([(resumed[kind][k] - initial[k]).abs().flatten() for k in initial])
        assert moved.mean() > 2 * ATOL, kind  # trained: far from the initial weights


def test_batch_size_must_divide_among_processes(single, tmp_path):
    env, _ = single
    out = train(env, tmp_path / "bad.pt", "--steps", "3", processes=2, batch_size=3)
    assert out.returncode != 0
    # a rank prints the one-line error (the other may print it too, on the same stream, or be
    # stopped by torchrun first), then torchrun its summary of the failed ranks
    assert ("reconbench: error: --batch-size 3 must be a multiple of the number of training "
            "processes (2)") in out.stderr
    assert not (tmp_path / "bad.pt").exists()
