"""Scale-out and faults: Dask clusters give the serial rows; kills, read-only and full
disks lose nothing. Real processes, real signals, real file-system errors."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from cli_process import cli, in_process
from distributed import Client, LocalCluster
from tiny_suite import tiny_suite

from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.suite import parse_suite
from reconbench.errors import InputError
from reconbench.methods.nearest import Nearest
from reconbench.methods.registry import register_method

pytestmark = pytest.mark.slow  # run first: see conftest.py

TINY = tiny_suite(["climatology", "nearest"], [0.5, 0.9], seeds=[0, 1], dataset_label="tiny")
N_CELLS = 8  # 2 methods x 2 rates x 2 seeds
# the same suite with one more missing rate: 4 cells more
EXTENDED = TINY.replace("[0.5, 0.9]", "[0.5, 0.9, 0.75]")


def assert_same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal row for row, cost values (times, memory) apart."""
    pd.testing.assert_frame_equal(a.drop(columns="value"), b.drop(columns="value"))
    scores = (a.point_set != "cost").to_numpy()
    pd.testing.assert_series_equal(a.value[scores], b.value[scores])


def snapshot(folder):
    """Every file under ``folder`` (relative path -> bytes), the lock file apart."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The tiny suite run serially: the reference store."""
    root = tmp_path_factory.mktemp("serial") / "store"
    return run_suite(parse_suite(TINY), root, progress=False)


# -- Dask ------------------------------------------------------------------------------
def test_dask_cluster_gives_the_serial_rows(serial, tmp_path):
    # workers get an empty cache of their own, as on other machines: the client must
    # send them the land mask, and they must not import global_land_mask
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", env={"RECONBENCH_CACHE": str(tmp_path / "cache")}
                      ) as cluster, Client(cluster) as client:
        store = run_suite(parse_suite(TINY), tmp_path / "dask", progress=False,
                          scheduler=cluster.scheduler_address)
        imported = client.run(lambda: "global_land_mask" in sys.modules)
    assert list(imported.values()) == [False, False]
    rows = pd.read_parquet(store.root / "results.parquet")
    assert_same_rows(rows, pd.read_parquet(serial.root / "results.parquet"))
    assert sorted(p.name for p in store.fields_dir.iterdir()) == sorted(
        p.name for p in serial.fields_dir.iterdir())
    # each worker fitted each method once: at most one fit time per worker and method
    fits = rows[rows.metric == "fit_seconds"].groupby("method").value.nunique()
    assert (fits <= 2).all()


def test_cli_local_cluster_and_rerun(serial, tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY)
    out = cli("run", tmp_path / "tiny.toml", "--results", tmp_path / "r", "--scheduler",
              "local:1", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert_same_rows(pd.read_parquet(tmp_path / "r" / "results.parquet"),
                     pd.read_parquet(serial.root / "results.parquet"))
    cells = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "r" / "cells").iterdir()}
    # nothing left to do: no cluster is started (in this process; the run above is the
    # real process of ``run --scheduler``)
    out = in_process(capsys, "run", tmp_path / "tiny.toml", "--results", tmp_path / "r",
                     "--scheduler", "local:1", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "r" / "cells").iterdir()} == cells


@pytest.mark.parametrize("scheduler", ["local:0", "local", "tcp://nowhere", "dask"])
def test_bad_scheduler_is_a_clear_error(tmp_path, scheduler):
    with pytest.raises(InputError, match="--scheduler must be 'serial', 'local:N'"):
        run_suite(parse_suite(TINY), tmp_path / "r", scheduler=scheduler)
    assert not (tmp_path / "r").exists()


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "tiny.toml").write_text(TINY)
    out = in_process(capsys, "run", tmp_path / "tiny.toml", "--results", tmp_path / "r",
                     "--scheduler", "tcp://127.0.0.1:9")
    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines()[-1].startswith(
        "reconbench: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")


def test_one_run_at_a_time(serial):
    with serial.lock(), pytest.raises(InputError, match="another reconbench run is writing"):
        run_suite(parse_suite(TINY), serial.root, progress=False)


# -- a method that fails on a worker ----------------------------------------------------------
FLAKY = '''
import time

from reconbench.methods.climatology import Climatology
from reconbench.methods.registry import register_method


@register_method("flaky")
class Flaky(Climatology):
    """The climatology with a bug in reconstruct."""

    def reconstruct(self, obs):
        time.sleep(0.5)  # the climatology's cells finish first
        raise RuntimeError("boom")
'''
FIXED = FLAKY.split("    def reconstruct")[0]  # the bug removed: the climatology itself
FAILED = re.compile(r"reconbench: error: cell \w+ \(method 'flaky' on dataset 'tiny', random "
                    r"mask, missing rate 0\.[59], seed [01]\) failed: RuntimeError: boom "
                    r"\(raised at .*flaky_method\.py:\d+; a serial run with RECONBENCH_TRACEBACK=1 "
                    r"prints the "
                    r"traceback\); finished cells are kept and the "
                    r"same command resumes")


def install(site, source: str) -> None:
    """``source`` as the module of a package installed in ``site``, registered through its
    ``reconbench.methods`` entry point."""
    (site / "flaky_method.py").write_text(source)
    dist = site / "flaky_method-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: flaky-method\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[reconbench.methods]\nflaky = flaky_method\n")


@pytest.fixture
def flaky_env(tmp_path):
    """Environment of a CLI process that sees the installed ``flaky`` method, and a suite
    file using it (the TINY suite with ``flaky`` for ``nearest``)."""
    site = tmp_path / "site"
    site.mkdir()
    install(site, FLAKY)
    path = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    (tmp_path / "flaky.toml").write_text(TINY.replace('name = "nearest"', 'name = "flaky"'))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTHONDONTWRITEBYTECODE="1")


def test_a_method_failing_on_a_worker_then_fixed(tmp_path, flaky_env):
    env = flaky_env
    site = tmp_path / "site"
    run = ["run", tmp_path / "flaky.toml", "--results", tmp_path / "r", "--no-progress"]
    out = cli(*run, "--scheduler", "local:2", env=env)
    assert out.returncode == 2, out.stderr
    assert FAILED.fullmatch(out.stderr.strip().splitlines()[-1]), out.stderr
    assert "Traceback" not in out.stderr
    cells = tmp_path / "r" / "cells"
    kept = {p.name: p.stat().st_mtime_ns for p in cells.iterdir()}
    assert kept and set(pd.concat(map(pd.read_parquet, cells.iterdir())).method) == {
        "climatology"}

    install(site, FIXED)  # the fixed method resumes the run, here in one process
    out = cli(*run, env=env)
    assert out.returncode == 0, out.stderr
    assert {p.name: p.stat().st_mtime_ns for p in cells.iterdir() if p.name in kept} == kept
    rows = pd.read_parquet(tmp_path / "r" / "results.parquet")
    assert rows.cell.nunique() == N_CELLS
    scores = rows[rows.point_set != "cost"]
    np.testing.assert_array_equal(scores[scores.method == "flaky"].value,
                                  scores[scores.method == "climatology"].value)


def test_a_failing_method_shows_its_traceback_on_request(tmp_path, flaky_env):
    out = cli("run", tmp_path / "flaky.toml", "--results", tmp_path / "r", "--no-progress",
              env=dict(flaky_env, RECONBENCH_TRACEBACK="1"))
    assert out.returncode == 2, out.stderr
    assert FAILED.fullmatch(out.stderr.strip().splitlines()[-1]), out.stderr
    assert "Traceback" in out.stderr and 'raise RuntimeError("boom")' in out.stderr


# -- kill -9 -------------------------------------------------------------------------------
SLOW_RUN = """
import sys, time
from reconbench.cli import main
from reconbench.methods.nearest import Nearest
from reconbench.methods.registry import register_method

@register_method("slow-nearest")
class SlowNearest(Nearest):
    def reconstruct(self, obs):
        time.sleep(0.25)
        return super().reconstruct(obs)

raise SystemExit(main(sys.argv[1:]))
"""


@register_method("slow-nearest")
class SlowNearest(Nearest):
    """SLOW_RUN's method in this process, without the nap: the same fields, for the
    uninterrupted reference store."""


def slow_run_command(suite, results):
    return [sys.executable, "-c", SLOW_RUN, "run", str(suite), "--results", str(results),
            "--no-progress"]


def test_kill_9_then_rerun_gives_the_uninterrupted_store(tmp_path):
    suite = tmp_path / "slow.toml"
    suite.write_text(TINY.replace('name = "nearest"', 'name = "slow-nearest"'))
    reference = run_suite(parse_suite(suite.read_text()), tmp_path / "ref", progress=False)

    cells = tmp_path / "res" / "cells"
    with subprocess.Popen(slow_run_command(suite, tmp_path / "res"),
                          stderr=subprocess.DEVNULL) as run:
        deadline = time.monotonic() + 120
        while not any(cells.glob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.01)
        run.send_signal(signal.SIGKILL)
    assert run.returncode == -signal.SIGKILL
    assert 0 < len(list(cells.glob("*.parquet"))) < N_CELLS  # killed mid-run
    (cells / ".deadbeef.parquet.x1y2.tmp").write_bytes(b"PAR1 half a file")  # as a kill leaves

    again = subprocess.run(slow_run_command(suite, tmp_path / "res"), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len(list(cells.glob("*.parquet"))) == N_CELLS
    assert not list((tmp_path / "res").rglob("*.tmp"))
    assert_same_rows(pd.read_parquet(tmp_path / "res" / "results.parquet"),
                     pd.read_parquet(reference.root / "results.parquet"))


# -- read-only folder, full disk ---------------------------------------------------------
@contextmanager
def read_only(folder):
    """Make ``folder`` read-only for real: ``chattr +i`` as root (root ignores permission
    bits), permission bits otherwise."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "-R", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("this file system has no immutable attribute (chattr)")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-R", "-i", str(folder)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p, mode in modes.items():
            p.chmod(mode & 0o555)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def test_read_only_results_folder(serial, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(serial.root, store)
    (tmp_path / "extended.toml").write_text(EXTENDED)
    before = snapshot(store)
    with read_only(store):
        out = cli("run", tmp_path / "extended.toml", "--results", store, "--no-progress")
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("reconbench: error: cannot write")
    assert str(store) in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert snapshot(store) == before


DISK_FULL = """
mount -t tmpfs -o size=4m tmpfs "$MNT"
cp -a "$STORE" "$MNT/store"
rm "$MNT/store"/cells/*.parquet
cat /dev/zero > "$MNT/ballast" 2>/dev/null || true
truncate -s -80K "$MNT/ballast"
rc=0
"$PYTHON" -m reconbench run "$SUITE" --results "$MNT/store" --no-progress 2> "$OUT/stderr" || rc=$?
echo $rc > "$OUT/rc"
cp -a "$MNT/store" "$OUT/after"
"""


def test_full_disk(serial, tmp_path):
    """A real full disk: a small tmpfs in a private mount namespace (root only)."""
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs {tmp_path}"],
                           capture_output=True)
    if probe.returncode:
        pytest.skip("cannot mount a tmpfs in a private mount namespace here (needs root)")
    (tmp_path / "mnt").mkdir()
    # the same suite, its cells to be computed again (a folder takes one suite config only)
    (tmp_path / "tiny.toml").write_text(TINY)
    env = dict(os.environ, MNT=str(tmp_path / "mnt"), STORE=str(serial.root),
               OUT=str(tmp_path), PYTHON=sys.executable, SUITE=str(tmp_path / "tiny.toml"))
    subprocess.run(["unshare", "-m", "sh", "-ec", DISK_FULL], env=env, check=True, timeout=300)
    stderr = (tmp_path / "stderr").read_text()
    assert (tmp_path / "rc").read_text().strip() == "2", stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "no space left on the device; earlier results are intact" in stderr
    after = snapshot(tmp_path / "after")
    before = {k: v for k, v in snapshot(serial.root).items()
              if k != "metadata.json" and not k.startswith("cells/")}
    assert {k: v for k, v in after.items() if k in before} == before
    assert not [k for k in after if k.endswith(".tmp")]
