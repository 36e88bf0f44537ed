"""The regridded Zarr cache: bit-for-bit splits, stale keys refused, unfinished caches
never read, a full disk stopped in one line. Real files, real processes, a real tmpfs."""

import os
import shutil
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import xarray as xr
from cf_files import write
from cli_process import assert_user_error, cli
from distributed import Client, LocalCluster

from reconbench.datasets.build import make_source, make_uncached_source
from reconbench.datasets.zarr_cache import (
    CachedSource,
    CacheWarning,
    StaleCacheError,
    build_cache,
    cache_folder,
    cache_state,
)

pytestmark = pytest.mark.slow  # run first: see conftest.py


def assert_same_split(plain, cached, which):
    a, b = plain.split(which), cached.split(which)
    assert b.chunks is not None  # Dask-backed: read lazily
    assert a.values.dtype == b.values.dtype == np.float32
    assert a.values.tobytes() == b.values.tobytes()  # bit for bit, NaN included
    for axis in ("time", "depth", "lat", "lon"):
        np.testing.assert_array_equal(a[axis].values, b[axis].values)
        assert a[axis].attrs == b[axis].attrs
    assert a.name == b.name and a.attrs == b.attrs


@pytest.fixture
def cf_params(tmp_path):
    path = write(tmp_path / "t.nc")
    params = {"paths": str(path), "train_years": [2000, 2000], "test_years": [2001, 2001],
              "val_months": None}
    yield params
    shutil.rmtree(cache_folder(make_uncached_source("netcdf", **params)), ignore_errors=True)


@pytest.fixture
def synthetic_params():
    params = {"resolution": 6, "train_years": 2, "val_years": 1, "test_years": 1, "seed": 7,
              "gaps_cover": 0.3}
    yield params
    shutil.rmtree(cache_folder(make_uncached_source("synthetic", **params)), ignore_errors=True)


@pytest.mark.parametrize("name", ["cf", "synthetic"])
def test_cached_splits_equal_the_in_memory_ones(name, cf_params, synthetic_params):
    params = cf_params if name == "cf" else synthetic_params
    dataset = "netcdf" if name == "cf" else "synthetic"
    plain = make_uncached_source(dataset, **params)
    assert cache_state(plain)[0] == "none"
    assert not isinstance(make_source(dataset, **params), CachedSource)
    folder = build_cache(make_uncached_source(dataset, **params), months_per_block=5)
    assert (folder / "complete.json").exists()
    cached = make_source(dataset, **params)
    assert isinstance(cached, CachedSource) and cached.gappy == plain.gappy
    for which in ("train", "val", "test"):
        if plain.split_times(which).size:
            assert_same_split(plain, cached, which)
    # the store is plain CF Zarr: chunks of one month and a level group, float32
    store = xr.open_zarr(folder / "store.zarr", group="train", consolidated=False)
    assert store["thetao"].encoding["chunks"][0] == 1
    assert store["thetao"].attrs["units"] == "degC" and store["lat"].attrs["units"]
    ocean = xr.open_zarr(folder / "store.zarr", group="grid", consolidated=False)["ocean"]
    np.testing.assert_array_equal(ocean.values.astype(bool), plain.grid.ocean)
    # the climatology beside: float64 sums, so equal to float32 rounding
    np.testing.assert_allclose(cached.climatology().values, plain.climatology().values,
                               rtol=1e-6, atol=1e-5)


def test_a_dask_cluster_writes_the_same_cache(cf_params, tmp_path):
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        build_cache(make_uncached_source("netcdf", **cf_params), client=client,
                    months_per_block=3)
    plain = make_uncached_source("netcdf", **cf_params)
    cached = make_source("netcdf", **cf_params)
    for which in ("train", "test"):
        assert_same_split(plain, cached, which)


def test_a_changed_input_file_is_refused_in_one_line(cf_params):
    build_cache(make_uncached_source("netcdf", **cf_params))
    path = cf_params["paths"]
    ds = xr.open_dataset(path).load()
    ds["thetao"] += 1.0
    os.unlink(path)
    ds.to_netcdf(path)
    with pytest.raises(StaleCacheError, match=f"input file '{path}' (was|has been)") as err:
        make_source("netcdf", **cf_params)
    assert "reconbench cache netcdf" in str(err.value) and "\n" not in str(err.value)
    args = [f"paths={path}", "train_years=[2000, 2000]", "test_years=[2001, 2001]"]
    out = cli("describe", "netcdf", *sum((["-p", a] for a in args), []))
    assert out.returncode == 0 and "stale, not used" in out.stdout, out.stderr
    out = cli("cache", "netcdf", *sum((["-p", a] for a in args), []), "--no-progress")
    assert out.returncode == 0 and "rebuilding" in out.stdout, out.stderr
    assert_same_split(make_uncached_source("netcdf", **cf_params),
                      make_source("netcdf", **cf_params), "train")


def test_a_cache_of_another_grid_is_refused(cf_params):
    source = make_uncached_source("netcdf", **cf_params)
    folder = build_cache(source)
    # the same folder (same dataset parameters), a cache written for another grid
    key = (folder / "complete.json").read_text().replace(source.grid.key, "0123456789abcdef")
    (folder / "complete.json").write_text(key)
    with pytest.raises(StaleCacheError, match="grid was '0123456789abcdef'"):
        make_source("netcdf", **cf_params)


KILLABLE = """
import sys, time
import reconbench.datasets.zarr_cache as zc
from reconbench.cli import main
write = zc.write_block
def slow(*args):
    time.sleep(0.3)
    return write(*args)
zc.write_block = slow
raise SystemExit(main(sys.argv[1:]))
"""


def test_a_killed_build_is_not_read_and_resumes(synthetic_params):
    args = sum((["-p", f"{k}={v}"] for k, v in synthetic_params.items()), [])
    folder = cache_folder(make_uncached_source("synthetic", **synthetic_params))
    markers = folder / "markers"
    with subprocess.Popen([sys.executable, "-c", KILLABLE, "cache", "synthetic", *args,
                           "--no-progress"], stderr=subprocess.DEVNULL) as run:
        deadline = time.monotonic() + 120
        while len(list(markers.glob("train-*"))) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        run.send_signal(signal.SIGKILL)
    done = {p.name: p.stat().st_mtime_ns for p in markers.glob("*-*")}
    assert done and not (folder / "complete.json").exists()
    with pytest.warns(CacheWarning, match="unfinished"):
        assert not isinstance(make_source("synthetic", **synthetic_params), CachedSource)
    out = cli("describe", "synthetic", *args)
    assert "unfinished, not used" in out.stdout, out.stderr
    out = cli("cache", "synthetic", *args, "--no-progress")
    assert out.returncode == 0, out.stderr
    # the finished blocks were kept, not written again
    assert {p.name: p.stat().st_mtime_ns for p in markers.glob("*-*") if p.name in done} == done
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached = make_source("synthetic", **synthetic_params)
    for which in ("train", "val", "test"):
        assert_same_split(make_uncached_source("synthetic", **synthetic_params), cached, which)


DISK_FULL = """
mount -t tmpfs -o size=3m tmpfs "$RECONBENCH_CACHE"
cat /dev/zero > "$RECONBENCH_CACHE/ballast" 2>/dev/null || true
truncate -s -120K "$RECONBENCH_CACHE/ballast"
rc=0
"$PYTHON" -m reconbench cache netcdf -p "paths=$DATA" --no-progress 2> "$OUT/stderr" || rc=$?
echo $rc > "$OUT/rc"
"$PYTHON" -m reconbench describe netcdf -p "paths=$DATA" > "$OUT/describe" 2>&1
rm "$RECONBENCH_CACHE/ballast"
"$PYTHON" -m reconbench cache netcdf -p "paths=$DATA" --no-progress > "$OUT/again" 2>&1
"$PYTHON" -m reconbench describe netcdf -p "paths=$DATA" > "$OUT/describe_again" 2>&1
"""


def test_full_disk_while_caching(tmp_path):
    """A real full disk: a small tmpfs in a private mount namespace (root only)."""
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs {tmp_path}"],
                           capture_output=True)
    if probe.returncode:
        pytest.skip("cannot mount a tmpfs in a private mount namespace here (needs root)")
    # a cache of about 0.3 MB: more than the 120 kB the ballast leaves
    lat, lon = np.arange(-89.0, 90.0, 2.0), np.arange(1.0, 360.0, 2.0)
    data = write(tmp_path / "big.nc", lat=lat, lon=lon)
    (tmp_path / "cache").mkdir()

    env = dict(os.environ, RECONBENCH_CACHE=str(tmp_path / "cache"), OUT=str(tmp_path),
               PYTHON=sys.executable, DATA=str(data))
    subprocess.run(["unshare", "-m", "sh", "-ec", DISK_FULL], env=env, check=True, timeout=300)
    stderr = (tmp_path / "stderr").read_text()
    assert (tmp_path / "rc").read_text().strip() == "2", stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "no space left on the device" in stderr and "is not used" in stderr
    assert "unfinished, not used" in (tmp_path / "describe").read_text()
    assert "complete," in (tmp_path / "describe_again").read_text(), (
        tmp_path / "again").read_text()


def test_cache_of_an_unknown_dataset_is_one_line():
    assert_user_error(cli("cache", "no-such-dataset"), "no-such-dataset")
