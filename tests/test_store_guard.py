"""A results store that never lies: one config per folder, metadata written only when
cells land, and ``run --dry-run`` to see what a run would do."""

import pytest
from cli_process import assert_user_error, cli, in_process
from tiny_suite import tiny_suite

from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.suite import parse_suite
from reconbench.errors import InputError, ReconbenchError
from reconbench.methods.climatology import Climatology
from reconbench.methods.registry import register_method

SUITE = tiny_suite(["climatology", "breakable"], [0.5])
BROKEN = {"now": False}  # switched on to make the breakable method fail (same config)


@register_method("breakable")
class Breakable(Climatology):
    """Climatology that raises while ``BROKEN["now"]`` is set (a store test)."""

    def reconstruct(self, obs):
        if BROKEN["now"]:
            raise RuntimeError("broken on purpose")
        return super().reconstruct(obs)


def snapshot(root):
    """Every file of a store folder and its bytes."""
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != ".lock"}


@pytest.fixture
def store(tmp_path):
    return run_suite(parse_suite(SUITE), tmp_path / "store", progress=False)


def test_another_config_is_refused_and_nothing_changes(store):
    before = snapshot(store.root)
    changed = parse_suite(SUITE.replace("resolution = 10.0", "resolution = 15.0"))
    with pytest.raises(InputError) as info:
        run_suite(changed, store.root, progress=False)
    message = str(info.value)
    assert f"holds suite 'tiny' with config hash {parse_suite(SUITE).config_hash}" in message
    assert f"--results {store.root}-{changed.config_hash}" in message and "\n" not in message
    assert snapshot(store.root) == before


def test_a_failing_run_leaves_metadata_and_truth_as_they_were(store):
    rows = store.rows()
    key = rows.loc[rows["method"] == "breakable", "cell"].iloc[0]
    (store.cells_dir / f"{key}.parquet").unlink()
    before = snapshot(store.root)
    BROKEN["now"] = True
    try:
        with pytest.raises(ReconbenchError, match="broken on purpose"):
            run_suite(parse_suite(SUITE), store.root, progress=False)
    finally:
        BROKEN["now"] = False
    assert snapshot(store.root) == before
    # and the same run, once the method works, appends one run record
    runs = len(store.metadata()["runs"])
    run_suite(parse_suite(SUITE), store.root, progress=False)
    assert len(store.metadata()["runs"]) == runs + 1


def test_a_run_that_finishes_no_cell_writes_nothing(tmp_path):
    BROKEN["now"] = True
    try:
        with pytest.raises(ReconbenchError):
            run_suite(parse_suite(tiny_suite(["breakable"], [0.5])), tmp_path / "s",
                      progress=False)
    finally:
        BROKEN["now"] = False
    assert not (tmp_path / "s" / "metadata.json").exists()
    assert not list((tmp_path / "s").rglob("*.nc"))


def test_dry_run_lists_cells_and_counts_the_done_ones(tmp_path, capsys):
    suite = tmp_path / "tiny.toml"
    suite.write_text(tiny_suite(["climatology"], [0.5, 0.9]))
    out = cli("run", suite, "--results", tmp_path / "r", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("todo  ") == 2 and "2 cells, 0 done, 2 to run" in out.stdout
    assert not (tmp_path / "r").exists()
    run_suite(parse_suite(tiny_suite(["climatology"], [0.5])), tmp_path / "r", progress=False)
    suite.write_text(tiny_suite(["climatology"], [0.5]))
    out = in_process(capsys, "run", suite, "--results", tmp_path / "r", "--dry-run")
    assert "1 cells, 1 done, 0 to run" in out.stdout and out.stdout.startswith("done  ")
    suite.write_text(tiny_suite(["climatology"], [0.5, 0.9]))  # another config
    assert_user_error(in_process(capsys, "run", suite, "--results", tmp_path / "r", "--dry-run"),
                      "rows of two configs are never mixed")


@register_method("breakable-sparse")
class BreakableSparse(Climatology):
    """Climatology that raises on sparse guidance (under 30 % of the ocean observed) while
    ``BROKEN["now"]`` is set: in a run of rates 0.5 and 0.9, the 0.5 cell lands first."""

    def fit(self, train, grid):
        super().fit(train, grid)
        self.ocean_cells = int(grid.ocean.sum())

    def reconstruct(self, obs):
        observed = float(obs.notnull().sum()) / (self.ocean_cells * obs.sizes["time"])
        if BROKEN["now"] and observed < 0.3:
            raise RuntimeError("broken on purpose")
        return super().reconstruct(obs)


def test_run_records_are_appended_and_a_run_failing_after_a_cell_changes_nothing_written(
        tmp_path):
    sparse = parse_suite(tiny_suite(["climatology", "breakable-sparse"], [0.5, 0.9]))
    store = run_suite(sparse, tmp_path / "s", progress=False)
    first = store.metadata()["runs"]
    assert len(first) == 1
    rows = store.rows()
    keys = rows.loc[rows["method"] == "breakable-sparse"].groupby("missing_rate")["cell"].first()
    for key in keys:  # both cells of the breakable method are run again
        (store.cells_dir / f"{key}.parquet").unlink()
    before = snapshot(store.root)
    BROKEN["now"] = True
    try:
        with pytest.raises(ReconbenchError, match="broken on purpose"):
            run_suite(sparse, store.root, progress=False)
    finally:
        BROKEN["now"] = False
    after = snapshot(store.root)
    landed = store.cells_dir.relative_to(store.root) / f"{keys[0.5]}.parquet"
    # every file written before is as it was, but metadata.json, which gained one record
    assert {p: b for p, b in before.items() if p.name != "metadata.json"} == {
        p: b for p, b in after.items() if p in before and p.name != "metadata.json"}
    assert landed in after and set(after) - set(before) <= {
        landed, landed.parent.parent / "fields" / f"{keys[0.5]}.nc"}
    runs = store.metadata()["runs"]
    assert runs[:1] == first and len(runs) == 2  # the landed cell's run, appended
    run_suite(sparse, store.root, progress=False)  # the same config again: a third record
    assert store.metadata()["runs"][:2] == runs and len(store.metadata()["runs"]) == 3

