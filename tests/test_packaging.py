"""Packaging: one distribution, subpackages mapped from the top-level folders, console scripts
for every executable a launch file starts, extras for ROS, dist and dev."""

import re

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_subpackages_map_to_top_level_folders():
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    for folder in ("sim", "controllers", "vision", "exoskeleton", "tasks", "ros"):
        assert mapping[f"officina.{folder}"] == folder
        assert (ROOT / folder / "__init__.py").is_file()
    assert not (ROOT / "launch" / "__init__.py").exists(), "launch/ is data, never a Python package"
    import officina.controllers
    import officina.sim

    assert Path(officina.sim.__file__).parent == ROOT / "sim"
    assert Path(officina.controllers.__file__).parent == ROOT / "controllers"


def test_every_launch_executable_is_a_console_script():
    scripts = PYPROJECT["project"]["scripts"]
    assert scripts["officina"] == "officina.cli:main"
    named = set()
    for f in (ROOT / "launch").glob("*.launch.py"):
        named |= set(re.findall(r'executable="([^"]+)"', f.read_text()))
    assert named, "no executables found in launch/"
    for exe in named:
        assert exe in scripts, f"{exe} is started by a launch file but is not a console script"
        module, func = scripts[exe].split(":")
        mod = __import__(module, fromlist=[func])
        assert callable(getattr(mod, func))


def test_extras():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(d.startswith("ros-kilted-rclpy") for d in extras["ros"])
    assert any(d.startswith("distributed") for d in extras["dist"])
    assert {"pytest", "hypothesis", "ruff"} <= {re.split(r"[<>=]", d)[0] for d in extras["dev"]}
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"


def _source_packages() -> dict[str, Path]:
    """Every Python package of the source tree, by its import name under ``officina``."""
    out = {}
    for name, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        top = ROOT / folder
        for init in top.rglob("__init__.py"):
            rel = init.parent.relative_to(top).parts
            if "__pycache__" not in rel:
                out[".".join((name, *rel))] = init.parent
    return out


def test_every_python_package_of_the_tree_is_in_the_distribution():
    # `packages` is an explicit list (the folders are mapped, so setuptools cannot find them): a
    # subpackage missing from it is missing from the wheel, and `pip install officina` breaks on
    # its import although an editable install works
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    missing = sorted(set(_source_packages()) - listed)
    assert not missing, f"Python packages missing from [tool.setuptools] packages: {missing}"


def test_every_data_file_of_the_tree_is_package_data():
    from fnmatch import fnmatch

    globs = PYPROJECT["tool"]["setuptools"]["package-data"]
    packages = _source_packages()
    missing = []
    for name, folder in packages.items():
        for f in folder.rglob("*"):
            rel = f.relative_to(folder).as_posix()
            if (not f.is_file() or f.suffix in (".py", ".pyc") or "__pycache__" in rel
                    or any(q != folder and folder in q.parents and q in f.parents for q in packages.values())):
                continue  # code, caches, and files of a subpackage (checked under its own name)
            if not any(fnmatch(rel, g) for g in globs.get(name, ())):
                missing.append(f.relative_to(ROOT).as_posix())
    assert not missing, f"data files not in [tool.setuptools.package-data]: {missing}"


_FROM_THE_WHEEL = r"""
import importlib, pkgutil, sys
# the checkout's editable install would answer first: take it away, so officina comes from the wheel
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()
                 and "editable" not in type(f).__module__.lower()]
sys.path = [sys.argv[1]] + [p for p in sys.path if "__editable__" not in p]
import officina
assert officina.__file__.startswith(sys.argv[1]), officina.__file__
names = [m.name for m in pkgutil.walk_packages(officina.__path__, "officina.")]
for name in names:
    importlib.import_module(name)
from officina.cli import main
sys.argv = ["officina", "run", "pick-place", "--robot", "ur5e", "--set", "params.n_objects=1",
            "--out", sys.argv[2]]
main()
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_built_wheel_holds_every_module_and_runs_a_task(tmp_path):
    """What `pip install officina` gets: the wheel built from this tree, installed on its own,
    imports every module of the tree and runs pick-place (the planner, the robots' and the
    sim's data files, the plot process)."""
    import subprocess
    import sys

    import shutil

    # a copy of the tree: setuptools builds in the source folder and reuses what an earlier
    # build left in its build/ folder
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "runs",
                                                             "__pycache__", ".pytest_cache"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"),
                            str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("officina-*.whl")
    site = tmp_path / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           str(wheel)], capture_output=True, text=True)
    assert inst.returncode == 0, inst.stderr[-2000:]
    import zipfile

    in_wheel = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")}
    in_tree = {"/".join((*name.split("."), f.name)) for name, folder in _source_packages().items()
               for f in folder.glob("*.py")}
    assert in_tree - in_wheel == set()
    run = subprocess.run([sys.executable, "-c", _FROM_THE_WHEEL, str(site), str(tmp_path / "run")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=500)
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["success"] and metrics["objects_placed"] == 1
