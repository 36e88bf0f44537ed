"""Running a suite's cells on a Dask cluster.

Every cell is an independent task, :func:`~reconbench.benchmark.cells.compute_cell`
applied to the cell's description. A worker process loads the samples and fits
the method itself and keeps them in its own cache, so it fits a (dataset,
method) once however many of its cells it runs. Outputs stream back to the
client as they finish (``as_completed``) and the client alone writes the
results store; the cluster never touches it.

Schedulers: ``"local:N"`` starts a :class:`distributed.LocalCluster` of N worker
processes with one thread each (cells are numpy-bound and time themselves, so
one cell per process); ``"tcp://HOST:PORT"`` connects to a running scheduler.

Workers never derive land masks (importing ``global-land-mask`` costs about
1.6 GB per process): the client has derived every land mask it needed before
the run starts, and a worker plugin copies the client's cached masks into each
worker's cache, then forbids derivation in that worker.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from distributed import Client, LocalCluster, WorkerPlugin, as_completed
from tqdm import tqdm

from reconbench.benchmark.cells import Cell, CellOutput, compute_cell
from reconbench.datasets import landmask
from reconbench.errors import InputError, ReconbenchError

LOCAL = re.compile(r"local:(\d+)")
REMOTE = re.compile(r"tcp://[^\s:/]+:\d+")


def check_scheduler(scheduler: str) -> str:
    """Return ``scheduler`` if it reads "serial", "local:N" (N >= 1) or "tcp://HOST:PORT"."""
    local = LOCAL.fullmatch(scheduler)
    if scheduler == "serial" or REMOTE.fullmatch(scheduler) or (local and int(local[1]) >= 1):
        return scheduler
    raise InputError(f"--scheduler must be 'serial', 'local:N' (N worker processes, N >= 1) or "
                     f"'tcp://HOST:PORT' (a running Dask scheduler), got {scheduler!r}")


@contextmanager
def dask_client(scheduler: str):
    """A :class:`distributed.Client` on the cluster ``scheduler`` names, closed on exit."""
    local = LOCAL.fullmatch(check_scheduler(scheduler))
    if local:
        with LocalCluster(n_workers=int(local[1]), threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="5s")
    except OSError as exc:  # distributed raises OSError subclasses, TimeoutError among them
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        yield client


class LandMaskCache(WorkerPlugin):
    """Worker plugin: install the client's cached land masks, then forbid deriving any.

    ``masks`` maps file names of the client's ``cache_dir()/landmask/*.npy`` to
    their arrays.
    """

    name = "reconbench-landmask-cache"

    def __init__(self, masks: dict[str, np.ndarray]):
        self.masks = masks

    def setup(self, worker) -> None:
        """Write the masks missing from this worker's cache; forbid derivation here."""
        folder = landmask.cache_dir() / "landmask"
        for name, mask in self.masks.items():
            if not (folder / name).exists():
                landmask.save_npy_atomic(folder / name, mask)
        landmask.forbid_derivation()


def cached_land_masks() -> dict[str, np.ndarray]:
    """The land masks in this process's cache, by file name."""
    folder = landmask.cache_dir() / "landmask"
    return {path.name: np.load(path) for path in sorted(folder.glob("*.npy"))}


def compute_cell_or_error(cell: Cell) -> CellOutput | ReconbenchError:
    """:func:`compute_cell`, returning its error rather than raising it, so that the
    worker does not log a traceback of its own and the client raises the one line."""
    try:
        return compute_cell(cell)
    except ReconbenchError as exc:
        return exc


def run_on_cluster(cells: list[Cell], scheduler: str) -> Iterator[CellOutput]:
    """Run ``cells`` on the Dask cluster ``scheduler``; yield outputs as they finish.

    A failing cell's error (one line naming the cell) is raised here, in the
    client, once the cells that finished before it have been yielded; the
    remaining cells are cancelled.
    """
    with dask_client(scheduler) as client:
        tqdm.write(f"Dask cluster {scheduler}: {len(client.scheduler_info()['workers'])} "
                   f"workers, dashboard {client.dashboard_link}", file=sys.stderr)
        client.register_plugin(LandMaskCache(cached_land_masks()))
        futures = client.map(compute_cell_or_error, cells,
                             key=[f"reconbench-cell-{c.key}" for c in cells])
        try:
            for future in as_completed(futures):
                output = future.result()
                if isinstance(output, ReconbenchError):
                    raise output
                yield output
        finally:
            client.cancel(futures)
