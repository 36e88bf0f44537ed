"""Training batches streamed from a source: a torch Dataset of months and a seeded sampler.

The train split is never held whole when the source reads months cheaply on
its own (the regridded Zarr cache, the memory-mapped synthetic ocean:
``source.lazy_reads``): :class:`TrainMonths` reads the months of a batch when
the DataLoader asks for them, in worker processes that prefetch the next
batches, and normalises them there. Other sources (NetCDF files regridded on
every read) are loaded once and indexed in memory.

Which months make step ``s``'s global batch depends on the seed and ``s`` alone
(:func:`batch_months`), so the stream is the same with or without workers,
from the cache or from memory, resumed or not, on one process or several;
under torchrun each rank's sampler yields, and its workers read, only that
rank's share of the batch (:class:`StepSampler`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from reconbench.datasets.source import DatasetSource
from reconbench.methods.reconmost.normalise import Normaliser


def batch_months(seed: int, step: int, n_months: int, batch_size: int) -> torch.Tensor:
    """(batch_size,) month indices (with replacement) of step ``step``'s global batch."""
    state = np.random.SeedSequence([seed, step]).generate_state(2, np.uint64)[0]
    generator = torch.Generator().manual_seed(int(state) & (2 ** 63 - 1))
    return torch.randint(n_months, (batch_size,), generator=generator)


class MonthReader:
    """Months of a source's train split, (n, levels, H, W) float32 °C, by index.

    Streams through ``source.read_months`` when the source has ``lazy_reads``,
    else loads the split once.
    """

    def __init__(self, source: DatasetSource):
        self.source = source
        self.times = source.split_times("train")
        self.months = self.times.astype("datetime64[M]").astype(np.int64) % 12 + 1
        self.values = None if source.lazy_reads else source.split("train").values

    def __len__(self) -> int:
        return self.times.size

    def read(self, index) -> np.ndarray:
        """Months ``index`` (ascending indices, or a slice) of the split."""
        if self.values is not None:
            return self.values[index]
        if isinstance(index, slice):
            index = np.arange(*index.indices(len(self)))
        return self.source.read_months("train", np.asarray(index))


class TrainMonths(Dataset):
    """Item ``i``: month ``i`` of the train split, normalised: ``(x, known, month)`` with
    x (levels, H, W) float32, known (levels, H, W) bool (False at ocean cells a gappy
    source did not observe) and the calendar month (1..12)."""

    def __init__(self, reader: MonthReader, normaliser: Normaliser):
        self.reader, self.normaliser = reader, normaliser

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int):
        values = self.reader.read([int(i)])
        month = self.reader.months[i:i + 1]
        x = self.normaliser.encode(values, month)[0]
        known = ~(self.normaliser.ocean & ~np.isfinite(values[0]))
        return torch.from_numpy(x), torch.from_numpy(known), int(month[0])


class StepSampler(Sampler):
    """Batch sampler: for steps ``first .. last - 1``, this rank's ``share`` (a slice) of
    the global batch of :func:`batch_months`, as a list of month indices."""

    def __init__(self, seed: int, n_months: int, batch_size: int, share: slice, first: int,
                 last: int):
        self.seed, self.n_months, self.batch_size = seed, n_months, batch_size
        self.share, self.first, self.last = share, first, last

    def __len__(self) -> int:
        return max(self.last - self.first, 0)

    def __iter__(self):
        for step in range(self.first, self.last):
            yield batch_months(self.seed, step, self.n_months, self.batch_size)[
                self.share].tolist()


def batch_loader(reader: MonthReader, normaliser: Normaliser, seed: int, batch_size: int,
                 share: slice, first: int, last: int, workers: int) -> DataLoader:
    """The batches of steps ``first .. last - 1`` for this rank: (x, known, month) tensors
    of its share; ``workers`` processes read and normalise ahead (2 batches each)."""
    return DataLoader(TrainMonths(reader, normaliser),
                      batch_sampler=StepSampler(seed, len(reader), batch_size, share, first,
                                                last),
                      num_workers=workers, prefetch_factor=2 if workers else None)
