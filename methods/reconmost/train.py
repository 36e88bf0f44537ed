"""Training the ReconMOST prior: an unconditional (or land/climatology-conditioned) DDPM.

One call trains on the train split of a dataset source and writes a prior file
(the EMA weights and metadata, loaded by the ``reconmost`` methods) plus a
training-state file beside it for resuming::

    reconbench train --preset default --dataset synthetic --dataset-param resolution=4 \\
        --steps 4000 --seed 0 --output methods/reconmost/checkpoints/synthetic-4deg.pt

Each step draws ``batch_size`` training months, timesteps uniform in 0..T-1 and
noise, all from one seeded ``torch.Generator``; the loss is the ε MSE (on gappy
training data, the mean over the known elements only: land, the sea floor and
the ocean cells observed that month; the gaps enter the network as the
normalisation's fill value, the climatology or 0 °C, and are never a target); AdamW,
gradient-norm clipping and an EMA of the weights (decay min(d, (1 + n) / (10 + n))
after n steps). Runs on CUDA when available, else on the CPU.

On several CPUs or GPUs, torchrun starts one process each and they train
data-parallel, each computing its share of the same global batch, with the same
result up to float rounding (:mod:`~reconbench.methods.reconmost.distributed`)::

    torchrun --standalone --nproc_per_node 4 -m reconbench train --preset default ...
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import reconbench
from reconbench.datasets.source import DatasetSource
from reconbench.errors import InputError
from reconbench.methods.reconmost.checkpoint import (
    atomic_save,
    is_partial,
    load_file,
    normaliser_tensors,
    prior_dict,
    prior_metadata,
    state_path,
)
from reconbench.methods.reconmost.diffusion import linear_schedule, training_loss
from reconbench.methods.reconmost.distributed import process_group
from reconbench.methods.reconmost.normalise import Normaliser
from reconbench.methods.reconmost.stream import MonthReader, batch_loader
from reconbench.methods.reconmost.unet import UNet, UNetConfig, count_parameters


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run but the data, the seed and the steps."""

    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_resolutions: tuple[int, ...]
    normalisation: str
    conditioning: bool
    lr: float
    batch_size: int
    ema_decay: float
    grad_clip: float
    num_heads: int = 4
    dropout: float = 0.0
    roll_lon: bool = False


#: Fields added after runs were started: left out of a run's record at their default,
#: so that training states written before they existed still resume.
LATER_FIELDS = {"roll_lon": False}


#: ``paper``: RECONMOST.md's network (~160 M parameters with 42 levels; attention
#: only in the middle block) and training (lr 1e-4, batch 4, EMA 0.9999, paper
#: normalisation, no conditioning), for GPUs. ``default``: a ~1.3 M-parameter
#: network that trains on 2 CPU cores on the 4° synthetic grid, on per-level
#: anomalies with the land mask and the month's climatology as extra inputs.
PRESETS = {
    "paper": TrainConfig(model_channels=128, channel_mult=(1, 2, 2, 2, 4, 4), num_res_blocks=3,
                         attention_resolutions=(), normalisation="paper", conditioning=False,
                         lr=1e-4, batch_size=4, ema_decay=0.9999, grad_clip=1.0),
    "default": TrainConfig(model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=1,
                           attention_resolutions=(4,), normalisation="anomaly",
                           conditioning=True, lr=5e-4, batch_size=8, ema_decay=0.999,
                           grad_clip=1.0),
}


def preset(name: str, **overrides) -> TrainConfig:
    """A preset with some fields replaced (None values are ignored)."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


def unet_config(config: TrainConfig, levels: int) -> UNetConfig:
    """The network of ``config`` for fields of ``levels`` levels."""
    n_cond = 2 * levels if config.conditioning else 0
    return UNetConfig(in_channels=levels + n_cond, out_channels=levels,
                      model_channels=config.model_channels,
                      channel_mult=tuple(config.channel_mult),
                      num_res_blocks=config.num_res_blocks,
                      attention_resolutions=tuple(config.attention_resolutions),
                      num_heads=config.num_heads, dropout=config.dropout)


def pick_device(device: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def optimiser_step(model: UNet, ema: UNet, optimiser: torch.optim.Optimizer,
                   config: TrainConfig, step: int, schedule, x0: torch.Tensor, t: torch.Tensor,
                   noise: torch.Tensor, cond: torch.Tensor | None = None,
                   network: torch.nn.Module | None = None,
                   known: torch.Tensor | None = None) -> torch.Tensor:
    """One training step on a batch; returns its loss (a scalar tensor).

    The ε MSE of ``x0`` (batch, levels, H, W) noised to timesteps ``t`` (batch,)
    with ``noise``, through ``network`` (``model`` or its DDP wrapper, which
    averages the gradients over the ranks); gradient-norm clipping; the optimiser
    step; then the EMA of the weights with decay min(d, (1 + step) / (10 + step)),
    ``step`` counting the steps already taken. ``known`` (like ``x0``, 1 / 0)
    restricts the loss to the known elements of gappy training data.
    """
    loss = training_loss(network or model, schedule, x0, t, noise, cond, known)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimiser.step()
    decay = min(config.ema_decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
            p_ema.lerp_(p, 1.0 - decay)
    return loss


def fit_normaliser(reader: MonthReader, config: TrainConfig, ocean: np.ndarray) -> Normaliser:
    """The normalisation of ``config`` fitted on the train split, read a year at a time."""
    return Normaliser.fit_streamed(config.normalisation, lambda a, b: reader.read(slice(a, b)),
                                   reader.months, ocean, config.conditioning)


def is_global_periodic(grid) -> bool:
    """True when the longitudes are evenly spaced around the whole circle (360°)."""
    lon = np.asarray(grid.lon, dtype=np.float64)
    if lon.size < 2:
        return False
    step = np.diff(lon)
    return bool(np.allclose(step, step[0]) and np.isclose(step[0] * lon.size, 360.0))


def roll_longitude(shift: int, *fields: torch.Tensor | None) -> list[torch.Tensor | None]:
    """Each field (..., H, W) rolled by ``shift`` cells along its last (longitude) axis:
    the same ocean moved east, which keeps the physics on a global periodic grid."""
    return [None if f is None else torch.roll(f, shift, dims=-1) for f in fields]


def run_record(config: TrainConfig) -> dict:
    """The preset's fields as a run records them (tuples as lists; :data:`LATER_FIELDS`
    left out at their default)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()
            if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}


def load_init(path: str | Path, net_config, normaliser) -> tuple[dict, dict]:
    """The EMA weights of a prior (or training state) to start from, and a record of it.

    The network (levels, channels, inputs) and the normalisation kind must match the
    run's; the grid may differ (pre-training on another ocean of the same shape)."""
    obj = load_file(path)
    meta = obj["metadata"]
    weights = obj["ema"] if is_partial(meta) else obj["model"]
    hint = ("pre-train with the same --preset, --normalisation, --conditioning and level "
            "count as this run, e.g. `reconbench train --preset default --dataset synthetic "
            "--dataset-param resolution=R --dataset-param depths=[...] --steps N "
            "--output INIT.pt`")
    if meta["grid"]["levels"] != net_config.out_channels:
        raise InputError(f"--init {str(path)!r}: levels differ: the prior has "
                         f"{meta['grid']['levels']} but the data have {net_config.out_channels}; "
                         f"{hint}")
    if meta["normalisation"]["kind"] != normaliser.kind:
        raise InputError(f"--init {str(path)!r}: normalisation differs: the prior has "
                         f"{meta['normalisation']['kind']!r} but this run uses "
                         f"{normaliser.kind!r}; {hint}")
    if meta["unet"] != net_config.to_dict():
        raise InputError(f"--init {str(path)!r}: network differs: the prior has "
                         f"{meta['unet']} but this run builds {net_config.to_dict()}; {hint}")
    record = {"path": str(path), "grid": meta["grid"]["name"], "grid_key": meta["grid"]["key"],
              "steps": meta["training"]["steps"]}
    return weights, record


def train(source: DatasetSource, config: TrainConfig, output: str | Path, *, steps: int,
          seed: int = 0, resume: bool = False, save_every: int = 500, device: str = "auto",
          progress: bool = True, dataset_spec: dict | None = None,
          loader_workers: int | None = None,
          init: str | Path | None = None) -> dict:
    """Train for ``steps`` optimiser steps in all (counting resumed ones); returns the
    prior's metadata. Every ``save_every`` steps the training state (beside
    ``output``, see :func:`state_path`; marked ``partial``, with the normalisation,
    so it can be evaluated) is saved; the prior appears under ``output``,
    atomically, when training ends.

    ``init``: start from the EMA weights of another prior (:func:`load_init`; fine
    tuning after pre-training), with a fresh optimiser and EMA warm-up.
    ``config.roll_lon``: every batch is rolled along longitude by a random whole
    number of cells (one shift per batch, from the seeded generator); global
    periodic grids only.

    Under torchrun (``WORLD_SIZE`` > 1) the processes train one network data-parallel
    (:mod:`~reconbench.methods.reconmost.distributed`): each computes
    ``batch_size / world_size`` samples of the global batch of ``batch_size``, and
    rank 0 alone writes the files and shows the progress bar.

    Batches come from :mod:`~reconbench.methods.reconmost.stream`: the months of a
    step's batch depend on ``seed`` and the step alone and are read (this rank's
    share only) by ``loader_workers`` processes that prefetch (default: 2 for a
    source that reads months lazily, the regridded cache or the synthetic ocean; 0,
    the split held in memory, otherwise), so memory does not grow with the number
    of months. The normalisation is fitted a year of months at a time.
    """
    output = Path(output)
    with process_group(pick_device(device)) as (ranks, dev):
        share = ranks.batch_slice(config.batch_size)
        grid = source.grid
        if config.roll_lon and not is_global_periodic(grid):
            raise InputError(f"roll_lon (longitude-roll augmentation) needs a global grid periodic "
                             f"in longitude, but {grid!r} spans {grid.lon[0]:g}..{grid.lon[-1]:g} "
                             f"degrees east; train without --roll-lon")
        reader = MonthReader(source)
        if len(reader) == 0:
            raise InputError(f"dataset {source.name!r} has an empty train split; training "
                             f"needs train months")
        normaliser = fit_normaliser(reader, config, grid.ocean)
        workers = (2 if source.lazy_reads else 0) if loader_workers is None else loader_workers
        cond_by_month = (torch.from_numpy(normaliser.cond(np.arange(1, 13)))
                         if config.conditioning else None)
        schedule = linear_schedule()
        net_config = unet_config(config, grid.depth.size)
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, global state untouched
            torch.manual_seed(seed)
            model = UNet(net_config).to(dev)
        ema = UNet(net_config).to(dev)
        ema.load_state_dict(model.state_dict())
        ema.requires_grad_(False)
        optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
        generator = torch.Generator().manual_seed(seed)
        step, seconds = 0, 0.0
        run = {"preset_config": run_record(config),
               "seed": seed, "dataset": dataset_spec or {"name": source.name,
                                                         "params": source.get_params()}}
        if init is not None:
            weights, run["init"] = load_init(init, net_config, normaliser)
            model.load_state_dict(weights)
            ema.load_state_dict(weights)
        if resume:  # every rank loads the state
            state = load_file(state_path(output))
            if state["metadata"]["training"]["run"] != run:
                raise InputError(f"cannot resume from {str(state_path(output))!r}: it was "
                                 f"started with other settings "
                                 f"({state['metadata']['training']['run']})")
            model.load_state_dict(state["model"])
            ema.load_state_dict(state["ema"])
            optimiser.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            step, seconds = int(state["step"]), float(state["seconds"])
        parallel = ranks.wrap(model, dev)

        def save(final: bool) -> dict:
            """Rank 0 writes the training state, and at the end the prior (so the prior
            under ``output`` appears whole, never partly trained); the others wait."""
            training = {"run": run, "steps": step, "seconds": round(seconds, 1), "partial": True,
                        "device": str(dev), "world_size": ranks.world_size,
                        "parameters": count_parameters(model),
                        "reconbench_version": reconbench.__version__}
            meta = prior_metadata(grid, normaliser, schedule, net_config, training)
            if ranks.is_main:
                atomic_save({"metadata": meta, "model": model.state_dict(),
                             "ema": ema.state_dict(), "optimizer": optimiser.state_dict(),
                             "generator": generator.get_state(), "step": step,
                             "seconds": seconds, **normaliser_tensors(normaliser)},
                            state_path(output))
            meta = {**meta, "training": {**training, "partial": False}}
            if ranks.is_main and final:
                atomic_save(prior_dict(meta, ema.state_dict(), normaliser), output)
            ranks.barrier()
            return meta

        bar = tqdm(total=steps, initial=step, disable=not (progress and ranks.is_main),
                   desc="training", unit="step")
        smoothed = None
        model.train()
        batches = iter(batch_loader(reader, normaliser, seed, config.batch_size, share, step,
                                    steps, workers))
        while step < steps:
            start = time.perf_counter()
            x0, known, month = next(batches)  # this rank's share of the global batch
            # timesteps and noise of the global batch, drawn alike on every rank
            t = torch.randint(len(schedule), (config.batch_size,), generator=generator)
            noise = torch.randn((config.batch_size, *grid.shape), generator=generator)
            t, noise = t[share], noise[share]
            cond = cond_by_month[month - 1] if cond_by_month is not None else None
            known = known if source.gappy else None
            if config.roll_lon:  # drawn for the global batch, so every rank rolls alike
                shift = int(torch.randint(grid.shape[-1], (1,), generator=generator))
                x0, cond, known = roll_longitude(shift, x0, cond, known)
            loss = optimiser_step(model, ema, optimiser, config, step, schedule,
                                  x0.to(dev), t, noise.to(dev),
                                  None if cond is None else cond.to(dev), network=parallel,
                                  known=None if known is None else known.to(dev))
            step += 1
            elapsed = time.perf_counter() - start
            seconds += elapsed
            loss = ranks.mean(loss)  # the global batch's loss
            smoothed = loss if smoothed is None else 0.98 * smoothed + 0.02 * loss
            bar.set_postfix(loss=f"{smoothed:.4f}",
                            samples_s=f"{config.batch_size / elapsed:.1f}")
            bar.update()
            if step % save_every == 0 and step < steps:
                save(final=False)
        bar.close()
        return save(final=True)
