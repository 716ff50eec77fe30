"""Packaging: one distribution, subpackages mapped from the top-level folders, console scripts
for every executable a launch file starts, extras for ROS, dist and dev."""

import re

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
