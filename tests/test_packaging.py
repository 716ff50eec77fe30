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
