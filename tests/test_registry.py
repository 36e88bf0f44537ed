"""The method registry: errors, a file dropped into methods/, and entry points."""

import os
import shutil
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
                         env={**os.environ, **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def drop_into_methods(source: str, code: str, tmp_path: Path) -> str:
    """Write ``source`` as a module of the methods/ folder of a private copy of
    reconbench and run ``code`` against that copy.

    A copy, not the installed package: tests running beside this one in other
    processes discover methods from the installed folder and must never see
    the dropped file (nor see it vanish between listing and import).
    """
    package = Path(reconbench.__file__).parent
    copy = tmp_path / "reconbench"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns(
        ".*", "__pycache__", "tests", "docs", "results", "*.pt", "*.egg-info"))
    (copy / "methods" / "zz_dropped_by_test.py").write_text(source)
    out = run_python(f"import reconbench; print(reconbench.__file__)\n{code}",
                     PYTHONPATH=str(tmp_path))
    first, rest = out.split("\n", 1)
    assert Path(first) == copy / "__init__.py"
    return rest


def test_a_file_dropped_into_methods_is_found(tmp_path):
    out = drop_into_methods(TOY_METHOD.format(name="dropped-constant"),
                            "from reconbench.methods import method_names, make_method;"
                            "print(method_names());"
                            "print(make_method('dropped-constant', value=2))", tmp_path)
    assert "dropped-constant" in out and "Constant(value=2)" in out


def test_the_readme_example_method_works(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("# methods/observed_mean.py")[1].split("```")[0]
    out = drop_into_methods(example, """
import numpy as np
from reconbench.datasets.grid import Grid
from reconbench.methods import make_method
grid = Grid([0.0, 10.0], [0.0, 10.0], [5.0], np.ones((1, 2, 2), bool))
obs = grid.field([[[[1.0, np.nan], [np.nan, 3.0]]]], np.array(["2000-01-15"], "datetime64[ns]"))
print(make_method("observed-mean").fit(None, grid).reconstruct(obs).values.ravel())
""", tmp_path)
    assert out.split() == ["[2.", "2.", "2.", "2.]"]


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
                     PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]))
    assert "toy-constant" in out
    assert "toy-constant" not in method_names()  # not installed in this process


def test_listing_the_methods_imports_neither_torch_nor_pint():
    """The registry imports every method module to list them; torch (ReconMOST) and
    cf-xarray's pint registry (units of CF files) wait for first use, so a command or
    Dask worker that runs neither does not pay their ~3 s of imports."""
    out = run_python("import sys\n"
                     "from reconbench.cli import main\n"
                     "from reconbench.benchmark.runner import run_suite\n"
                     "from reconbench.methods import method_names\n"
                     "assert 'reconmost' in method_names()\n"
                     "print(sorted({'torch', 'pint', 'cf_xarray.units'} & set(sys.modules)))")
    assert out.split() == ["[]"]
