"""Run the ``reconbench`` command line as a user would: a real process."""

import subprocess
import sys


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    """``python -m reconbench ARGS``; keyword arguments go to :func:`subprocess.run`."""
    return subprocess.run([sys.executable, "-m", "reconbench", *map(str, args)],
                          capture_output=True, text=True, timeout=300, **kwargs)


def assert_user_error(out: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2 and one line ``reconbench: error: ...`` holding every fragment."""
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reconbench: error: "), out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
