"""The regridded cache: a source's splits regridded once into a chunked Zarr store.

``reconbench cache DATASET -p KEY=VALUE ...`` (or :func:`build_cache`) reads a
source's train, val and test splits a block of months at a time, regridded as
the source reads them (:meth:`DatasetSource.read_months`), and writes them into
``cache_dir()/regridded/<dataset>-<hash of the parameters>/``::

    store.zarr/train/thetao   (time, depth, lat, lon) float32 °C, NaN off the ocean,
    store.zarr/val/thetao     CF attributes, one chunk per month and level group
    store.zarr/test/thetao    (``levels_per_chunk`` levels, the whole lat x lon)
    store.zarr/grid/ocean     (depth, lat, lon) int8, the grid's ocean mask
    store.zarr/climatology/thetao  (month = 1..12, depth, lat, lon) float32 °C,
                              the monthly mean of the train split (float64 sums)
    key.json                  what the cache was built from (see :func:`cache_key`)
    markers/SPLIT-START       one empty file per finished block of months
    complete.json             the key again, written last: the cache is usable

The blocks are Dask tasks, run serially, on a local cluster or on any scheduler
(:func:`build_cache` takes a ``distributed.Client``); each writes its own chunks
and then its marker, so an interrupted build (a kill, a full disk) resumes at the
first block without a marker, and a cache without ``complete.json`` is never read.

The key holds the dataset name and parameters, the grid (axes and ocean mask,
:attr:`Grid.key`), the source's fingerprint (the synthetic generator's version)
and every input file with its size and modification time. The folder is named
by the dataset and its parameters alone, so a cache built from other inputs is
found, compared and refused with one line naming what differs
(:class:`StaleCacheError`); ``reconbench cache`` rebuilds it.

:func:`cached_or_source` wraps a source in :class:`CachedSource` when its cache is
complete and current: splits are then Dask-backed DataArrays read from the store
(only what a caller indexes is read), and the climatology comes from the store.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import shutil
import warnings
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr

from reconbench.datasets.grid import FIELD_DIMS
from reconbench.datasets.landmask import cache_dir
from reconbench.datasets.source import SPLITS, DatasetSource, streamed_monthly_climatology
from reconbench.errors import InputError
from reconbench.files import temporary_beside

#: Bump when the store's layout or contents change, so older caches are rebuilt.
CACHE_VERSION = 1

#: Levels per chunk: a chunk is one month of this many levels (or fewer, at the bottom).
LEVELS_PER_CHUNK = 6

#: Months written by one task (one marker each).
MONTHS_PER_BLOCK = 12

VARIABLE = "thetao"


class StaleCacheError(InputError):
    """A cache built from other inputs, another grid or another version."""


class CacheWarning(UserWarning):
    """A cache that exists but is not used (unfinished)."""


# -- where and what ------------------------------------------------------------------
def cache_folder(source: DatasetSource) -> Path:
    """``cache_dir()/regridded/<name>-<hash of the name and parameters>``."""
    params = json.dumps([source.name, source.get_params()], sort_keys=True, default=str)
    digest = hashlib.sha256(params.encode()).hexdigest()[:16]
    return cache_dir() / "regridded" / f"{source.name}-{digest}"


def _file_entry(path: Path) -> list:
    """[path, size in bytes, modification time in ns] of a file; of a folder (a Zarr
    store), its files' total size and latest modification time."""
    path = Path(path).resolve()
    if path.is_dir():
        stats = [p.stat() for p in path.rglob("*") if p.is_file()]
        return [str(path), sum(s.st_size for s in stats),
                max((s.st_mtime_ns for s in stats), default=path.stat().st_mtime_ns)]
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def cache_key(source: DatasetSource) -> dict:
    """What a cache of ``source`` is built from: JSON-able, compared whole on use."""
    return {"version": CACHE_VERSION, "dataset": source.name,
            "params": json.loads(json.dumps(source.get_params(), sort_keys=True, default=str)),
            "grid": source.grid.key, "fingerprint": source.cache_fingerprint(),
            "files": [_file_entry(p) for p in source.input_files()]}


def key_difference(built: dict, now: dict) -> str | None:
    """The first difference between two keys, in words; None when they are equal."""
    if built == now:
        return None
    for field in ("version", "dataset", "params", "grid", "fingerprint"):
        if built.get(field) != now.get(field):
            return f"{field} was {built.get(field)!r}, now {now.get(field)!r}"
    old = {f[0]: f[1:] for f in built.get("files", [])}
    new = {f[0]: f[1:] for f in now.get("files", [])}
    for path in sorted(set(old) | set(new)):
        if path not in new:
            return f"input file {path!r} is no longer among the inputs"
        if path not in old:
            return f"input file {path!r} was not among the inputs"
        if old[path][0] != new[path][0]:
            return f"input file {path!r} was {old[path][0]} bytes, now {new[path][0]}"
        if old[path][1] != new[path][1]:
            return f"input file {path!r} has been modified since (modification time changed)"
    return "the key differs"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, value: dict) -> None:
    tmp = temporary_beside(path)
    try:
        tmp.write_text(json.dumps(value, sort_keys=True))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def folder_size(folder: Path) -> int:
    """Bytes of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def cache_state(source: DatasetSource) -> tuple[str, Path, str]:
    """(state, folder, detail) of ``source``'s cache: state is ``"none"``,
    ``"complete"``, ``"incomplete"`` or ``"stale"`` (detail: what differs)."""
    folder = cache_folder(source)
    if not folder.exists():
        return "none", folder, ""
    complete = _read_json(folder / "complete.json")
    built = complete or _read_json(folder / "key.json") or {}
    differs = key_difference(built, cache_key(source))
    if differs:
        return "stale", folder, differs
    return ("complete" if complete else "incomplete"), folder, ""


def rebuild_hint(source: DatasetSource) -> str:
    """The command that (re)builds ``source``'s cache."""
    params = " ".join(f"-p {shlex.quote(f'{k}={json.dumps(v)}')}"
                      for k, v in source.get_params().items() if v is not None)
    return f"reconbench cache {source.name} {params}".strip()


# -- building ------------------------------------------------------------------------
def _chunks(source: DatasetSource, levels_per_chunk: int) -> tuple[int, int, int, int]:
    n_depth, n_lat, n_lon = source.grid.shape
    return (1, min(levels_per_chunk, n_depth), n_lat, n_lon)


def _skeleton(source: DatasetSource, store: Path, levels_per_chunk: int) -> None:
    """Write the store's metadata, coordinates and grid (no field values yet)."""
    grid = source.grid
    chunks = _chunks(source, levels_per_chunk)
    for split in SPLITS:
        times = source.split_times(split)
        if times.size == 0:
            continue
        shape = (times.size, *grid.shape)
        template = xr.Dataset(
            {VARIABLE: (FIELD_DIMS, da.full(shape, np.nan, dtype=np.float32, chunks=chunks),
                        {"standard_name": "sea_water_potential_temperature", "units": "degC",
                         "long_name": "sea water temperature", "split": split})},
            coords={k: v for k, v in grid.coords(times).items()},
            attrs={"title": f"reconbench regridded cache: {source.name} {split} split",
                   "Conventions": "CF-1.8"})
        template.to_zarr(store, group=split, mode="w", compute=False,
                         encoding={VARIABLE: {"chunks": chunks}}, consolidated=False)
    grid_ds = grid.to_dataset()
    grid_ds["ocean"].attrs["flag_values"] = [0, 1]
    grid_ds.to_zarr(store, group="grid", mode="w", consolidated=False)


def _blocks(source: DatasetSource, months_per_block: int) -> list[tuple[str, int, int]]:
    """(split, start, stop) of every block of months to write."""
    out = []
    for split in SPLITS:
        n = source.split_times(split).size
        out += [(split, a, min(a + months_per_block, n)) for a in range(0, n, months_per_block)]
    return out


def _marker(folder: Path, split: str, start: int) -> Path:
    return folder / "markers" / f"{split}-{start:08d}"


def write_block(source: DatasetSource, folder: Path, split: str, start: int, stop: int) -> str:
    """Read months ``start:stop`` of ``split`` and write them into the store; then mark
    the block done. Returns the marker's name.

    The chunks are written one at a time: a block written in one assignment becomes
    concurrent asyncio writes, and when the disk fills, the writes still pending
    are reported again on stderr as the process ends, after the one-line error.
    """
    values = np.asarray(source.read_months(split, np.arange(start, stop)), dtype=np.float32)
    array = zarr.open_array(folder / "store.zarr" / split / VARIABLE, mode="r+")
    levels_per_chunk = array.chunks[1]
    for month in range(stop - start):
        for top in range(0, values.shape[1], levels_per_chunk):
            bottom = top + levels_per_chunk
            array[start + month, top:bottom] = values[month, top:bottom]
    marker = _marker(folder, split, start)
    _write_json(marker, {"months": [start, stop]})
    return marker.name


def _climatology(folder: Path) -> None:
    """Monthly mean (float64 sums, NaN ignored) of the stored train split, into the store."""
    train = xr.open_zarr(folder / "store.zarr", group="train", consolidated=False)[VARIABLE]
    clim = streamed_monthly_climatology(train, MONTHS_PER_BLOCK)
    clim.attrs = {"units": "degC", "long_name": "monthly climatology of the train split",
                  "cell_methods": "time: mean within months"}
    clim.to_dataset(name=VARIABLE).to_zarr(folder / "store.zarr", group="climatology",
                                           mode="w", consolidated=False)


def build_cache(source: DatasetSource, client=None, levels_per_chunk: int = LEVELS_PER_CHUNK,
                months_per_block: int = MONTHS_PER_BLOCK, progress: bool = False) -> Path:
    """Build (or finish, or rebuild when stale) the cache of ``source``; returns its folder.

    ``client``: a ``distributed.Client`` to run the blocks on, else they run in this
    process one after the other. A full disk stops with one :class:`InputError` line;
    the unfinished cache is kept (never read: it has no ``complete.json``) and the
    same call resumes it.
    """
    state, folder, _ = cache_state(source)
    if state == "complete":
        return folder
    if state == "stale":
        shutil.rmtree(folder)
    try:
        return _build(source, folder, client, levels_per_chunk, months_per_block, progress)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise InputError(f"cannot write the cache {str(folder)!r}: no space left on the "
                             f"device ({os.strerror(exc.errno)}); the unfinished cache is not "
                             f"used; free space and run the same command to resume") from None
        raise


def _build(source, folder: Path, client, levels_per_chunk: int, months_per_block: int,
           progress: bool) -> Path:
    key = cache_key(source)
    (folder / "markers").mkdir(parents=True, exist_ok=True)
    if _read_json(folder / "key.json") is None or not (folder / "markers" / "skeleton").exists():
        _write_json(folder / "key.json", key)
        _skeleton(source, folder / "store.zarr", levels_per_chunk)
        _write_json(folder / "markers" / "skeleton", {})
    todo = [b for b in _blocks(source, months_per_block)
            if not _marker(folder, b[0], b[1]).exists()]
    if todo:
        held = dask.delayed(source, pure=True)
        tasks = [dask.delayed(write_block, pure=False)(held, folder, *b) for b in todo]
        if client is not None:
            futures = client.compute(tasks)
            _wait(client, futures, progress)
        else:
            for task in _progress(tasks, progress, source.name):
                task.compute(scheduler="synchronous")
    if source.split_times("train").size:
        _climatology(folder)
    _write_json(folder / "complete.json", key)
    return folder


def _progress(items, progress: bool, name: str):
    from tqdm import tqdm

    return tqdm(items, desc=f"caching {name}", unit="block", disable=not progress or None,
                leave=False)


def _wait(client, futures, progress: bool) -> None:
    """Wait for the blocks; a worker's error is raised here (a full disk as an OSError)."""
    from distributed import as_completed

    for future in _progress(as_completed(futures), progress, "blocks"):
        future.result()


# -- reading -------------------------------------------------------------------------
class CachedSource(DatasetSource):
    """A source whose splits are read lazily from its complete, current cache.

    ``split()`` returns a Dask-backed DataArray (chunks of one month and
    :data:`LEVELS_PER_CHUNK` levels); indexing and ``.load()`` read only the chunks
    needed. Everything else (parameters, units ...) is the wrapped source's.
    """

    lazy_reads = True

    def __init__(self, inner: DatasetSource, folder: Path):
        self.inner, self.folder = inner, folder
        self.name, self.grid, self.gappy = inner.name, inner.grid, inner.gappy
        self._times = {}

    def __getattr__(self, attr):  # parameters and the file units of the wrapped source
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def get_params(self) -> dict:
        return self.inner.get_params()

    def split_times(self, which: str) -> np.ndarray:
        return self.inner.split_times(which)

    def _load_split(self, which: str) -> xr.DataArray:
        if self.inner.split_times(which).size == 0:
            return self.inner.split(which)  # the empty split: the source's own answer
        ds = xr.open_zarr(self.folder / "store.zarr", group=which, consolidated=False)
        # the source's own time stamps (the store decodes them at its own resolution)
        field = ds[VARIABLE].assign_coords(
            time=self.grid.coords(self.inner.split_times(which))["time"])
        field.attrs.pop("split", None)
        field.attrs.update(self.inner.field_attrs())
        layout = getattr(self.inner, "layout", None)
        return field.rename(layout.variable if layout is not None else VARIABLE)

    def read_months(self, which: str, index: np.ndarray) -> np.ndarray:
        """Months ``index`` of split ``which`` read from the store's chunks with zarr alone
        (no Dask scheduler: safe in the forked processes of a DataLoader)."""
        array = zarr.open_array(self.folder / "store.zarr" / which / VARIABLE, mode="r")
        return np.stack([array[int(i)] for i in np.asarray(index)]) if len(index) else \
            np.empty((0, *self.grid.shape), np.float32)

    def climatology(self) -> xr.DataArray:
        if self.inner.split_times("train").size == 0:
            return self.inner.climatology()
        clim = xr.open_zarr(self.folder / "store.zarr", group="climatology",
                            consolidated=False)[VARIABLE]
        return clim.load()

    def input_files(self) -> list[Path]:
        return self.inner.input_files()

    def cache_fingerprint(self) -> dict:
        return self.inner.cache_fingerprint()


def cached_or_source(source: DatasetSource) -> DatasetSource:
    """``source`` read from its cache when that is complete and current, else itself.

    A cache built from other inputs raises :class:`StaleCacheError` (one line: what
    differs and the command that rebuilds it); an unfinished one is not used (a
    :class:`CacheWarning` says so).
    """
    state, folder, detail = cache_state(source)
    if state == "complete":
        return CachedSource(source, folder)
    if state == "stale":
        raise StaleCacheError(f"the cache {str(folder)!r} of dataset {source.name!r} was built "
                              f"from other inputs ({detail}); rebuild it with "
                              f"'{rebuild_hint(source)}' or delete that folder")
    if state == "incomplete":
        warnings.warn(f"the cache {str(folder)!r} of dataset {source.name!r} is unfinished "
                      f"(interrupted?) and is not used; '{rebuild_hint(source)}' finishes it",
                      CacheWarning, stacklevel=2)
    return source


def describe_cache(source: DatasetSource) -> str:
    """One line for ``reconbench describe``: whether the cache exists, where, its size."""
    state, folder, detail = cache_state(source)
    if state == "none":
        return f"cache: none (build it with '{rebuild_hint(source)}')"
    size = folder_size(folder) / 1e6
    what = {"complete": "complete", "incomplete": "unfinished, not used",
            "stale": f"stale, not used ({detail})"}[state]
    return f"cache: {folder} ({what}, {size:.1f} MB)"
