"""The method registry: errors, a file dropped into methods/, and entry points."""

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import reconbench.methods
from reconbench.errors import InputError
from reconbench.methods import make_method, method_names

TOY_METHOD = '''
import numpy as np
from reconbench.methods.base import Method
from reconbench.methods.registry import register_method


@register_method("{name}")
class Constant(Method):
    """Fills every cell with a constant (a registry test)."""

    def __init__(self, value: float = 1.0):
        self.value = value

    def reconstruct(self, obs):
        return obs.copy(data=np.full(obs.shape, self.value, dtype=np.float32))
'''


def test_builtin_methods_are_registered():
    assert {"climatology", "nearest", "linear"} <= set(method_names())


def test_unknown_method_and_parameter():
    with pytest.raises(InputError, match="unknown method 'kriggin'; known methods: .*linear"):
        make_method("kriggin")
    with pytest.raises(InputError, match=r"unknown parameter\(s\) wrap for method 'linear'; "
                                         r"accepted: wrap_degrees"):
        make_method("linear", wrap=3)


def run_python(code: str, **env) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_file_dropped_into_methods_is_found():
    folder = Path(reconbench.methods.__file__).parent
    module = folder / "zz_dropped_constant.py"
    module.write_text(TOY_METHOD.format(name="dropped-constant"))
    try:
        out = run_python("from reconbench.methods import method_names, make_method;"
                         "print(method_names()); print(make_method('dropped-constant', value=2))")
    finally:
        module.unlink()
    assert "dropped-constant" in out and "Constant(value=2)" in out


def build_wheel(tmp_path: Path) -> Path:
    """A real wheel of a tiny package declaring a reconbench.methods entry point."""
    wheel = tmp_path / "toy_methods-0.1-py3-none-any.whl"
    dist = "toy_methods-0.1.dist-info"
    files = {
        "toy_methods/__init__.py": TOY_METHOD.format(name="toy-constant"),
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: toy-methods\nVersion: 0.1\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[reconbench.methods]\ntoy = toy_methods\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in {**files, f"{dist}/RECORD": record}.items():
            zf.writestr(name, textwrap.dedent(text))
    return wheel


def test_entry_point_of_an_installed_package(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(target), str(build_wheel(tmp_path))], check=True, timeout=300)
    out = run_python("from reconbench.methods import method_names; print(method_names())",
                     PYTHONPATH=str(target))
    assert "toy-constant" in out
    assert "toy-constant" not in method_names()  # not installed in this process
