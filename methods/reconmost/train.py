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
    load_file,
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


def train(source: DatasetSource, config: TrainConfig, output: str | Path, *, steps: int,
          seed: int = 0, resume: bool = False, save_every: int = 500, device: str = "auto",
          progress: bool = True, dataset_spec: dict | None = None,
          loader_workers: int | None = None) -> dict:
    """Train for ``steps`` optimiser steps in all (counting resumed ones); returns the
    prior's metadata. Every ``save_every`` steps the training state (beside
    ``output``, see :func:`state_path`) is saved; the prior appears under ``output``,
    atomically, when training ends.

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
        run = {"preset_config": {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in asdict(config).items()},
               "seed": seed, "dataset": dataset_spec or {"name": source.name,
                                                         "params": source.get_params()}}
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
            training = {"run": run, "steps": step, "seconds": round(seconds, 1),
                        "device": str(dev), "world_size": ranks.world_size,
                        "parameters": count_parameters(model),
                        "reconbench_version": reconbench.__version__}
            meta = prior_metadata(grid, normaliser, schedule, net_config, training)
            if ranks.is_main:
                atomic_save({"metadata": meta, "model": model.state_dict(),
                             "ema": ema.state_dict(), "optimizer": optimiser.state_dict(),
                             "generator": generator.get_state(), "step": step,
                             "seconds": seconds}, state_path(output))
                if final:
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
            cond = cond_by_month[month - 1].to(dev) if cond_by_month is not None else None
            loss = optimiser_step(model, ema, optimiser, config, step, schedule,
                                  x0.to(dev), t, noise.to(dev), cond, network=parallel,
                                  known=known.to(dev) if source.gappy else None)
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
