"""Shared pytest fixtures."""

import os
from pathlib import Path

import pytest


# -- real data (../shared/data): used by the real-data tests, skipped when absent ----------
def shared_data_dir() -> Path:
    """``$RECONBENCH_SHARED_DATA``, else ``shared/data`` beside the repository."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return Path(os.environ.get("RECONBENCH_SHARED_DATA") or default)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder; skips the test when it is absent (as in a user's clone)."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real-data folder {path} is absent (set RECONBENCH_SHARED_DATA to use one)")
    return path



# -- order: the slow tests first -----------------------------------------------------------
def pytest_collection_modifyitems(items):
    """Tests marked ``slow`` (a whole file, by its ``pytestmark``, or one test) first, in a
    stable sort.

    ``tox -e py`` hands two workers whole files in the order of their first test
    (``--dist loadfile --no-loadscope-reorder``): a long file started last would keep
    one worker busy while the other idles.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
