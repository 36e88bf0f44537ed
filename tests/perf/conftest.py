"""Performance benchmarks: skipped unless pytest runs with ``--benchmark-only``.

Run them with ``pytest tests/perf --benchmark-only`` (``tox -e perf``); a plain
``pytest`` collects and skips them, so the default test run stays fast.
"""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_only", default=False):
        return
    skip = pytest.mark.skip(reason="performance benchmark: run pytest tests/perf --benchmark-only")
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(skip)
