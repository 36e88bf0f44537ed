"""Run the ``reconbench`` command line as a user would: a real process; or, where a test
checks what the command does rather than how the process ends, in this process."""

import subprocess
import sys

from reconbench.cli import main


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    """``python -m reconbench ARGS``; keyword arguments go to :func:`subprocess.run`."""
    return subprocess.run([sys.executable, "-m", "reconbench", *map(str, args)],
                          capture_output=True, text=True, timeout=300, **kwargs)


def in_process(capsys, *args) -> subprocess.CompletedProcess:
    """:func:`reconbench.cli.main` on ARGS in this process, its exit status and what it
    printed (captured by pytest's ``capsys``) in the form :func:`cli` returns. It skips
    the start of a Python process (about 1-2 s of CPU each); the tests that pin the real
    process's exit status and output use :func:`cli`."""
    capsys.readouterr()
    status = main([str(a) for a in args])
    printed = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), status, printed.out, printed.err)


def assert_user_error(out: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2 and one line ``reconbench: error: ...`` holding every fragment."""
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reconbench: error: "), out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
