"""Data-parallel training over the processes ``torchrun`` starts.

``torchrun --nproc_per_node N -m reconbench train ...`` starts N processes and
sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` in each. With ``WORLD_SIZE`` > 1, :func:`process_group` joins
them: gloo on the CPU, NCCL on CUDA with each process on ``cuda:LOCAL_RANK``.
Without torchrun (no ``WORLD_SIZE``, or 1) there is one process and no group.

Every process draws the same global batch from the same seeded generator and
computes its own contiguous slice (:meth:`Ranks.batch_slice`);
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients, so
with equal slices and a loss that is a mean over elements every step equals the
single-process step on the global batch, up to float rounding.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from reconbench.errors import InputError


@dataclass(frozen=True)
class Ranks:
    """This process's place among ``world_size`` training processes (rank 0 writes)."""

    rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> Ranks:
        """The ranks torchrun set in the environment (one process without torchrun)."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")) if world_size > 1 else 0, world_size)

    @property
    def is_main(self) -> bool:
        """True in the process that writes files and shows progress."""
        return self.rank == 0

    def batch_slice(self, batch_size: int) -> slice:
        """This rank's contiguous share of a global batch of ``batch_size`` samples."""
        if batch_size % self.world_size:
            raise InputError(f"--batch-size {batch_size} must be a multiple of the number of "
                             f"training processes ({self.world_size}): each process takes an "
                             f"equal share of the batch")
        share = batch_size // self.world_size
        return slice(self.rank * share, (self.rank + 1) * share)

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``model`` in DistributedDataParallel (which averages gradients) across ranks."""
        if self.world_size == 1:
            return model
        return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                       else None)

    def mean(self, value: torch.Tensor) -> float:
        """The mean over ranks of a scalar tensor, as a float."""
        if self.world_size > 1:
            value = value.detach().clone()
            dist.all_reduce(value)
            value /= self.world_size
        return value.item()

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.world_size > 1:
            dist.barrier()


@contextmanager
def process_group(device: torch.device) -> Iterator[tuple[Ranks, torch.device]]:
    """This process's :class:`Ranks` and device, inside torchrun's process group.

    Under torchrun a CUDA ``device`` becomes ``cuda:LOCAL_RANK``; the group is
    destroyed on exit, errors included.
    """
    ranks = Ranks.from_env()
    if ranks.world_size == 1:
        yield ranks, device
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            rank=ranks.rank, world_size=ranks.world_size)
    try:
        yield ranks, device
    finally:
        dist.destroy_process_group()
