"""The planning scene as data: what the cell's fixed geometry is, and what the procedure added.

A scene is a list of named obstacles (boxes, cylinders, spheres, meshes), each with the pose of
its shape's centre in the robot's base frame at the world origin, plus objects attached to the
robot (a grasped part, carried by the tcp and checked against the scene, not against the
fingers holding it). The simulator builds its static bodies from the same data
(`officina.sim.world.SimWorld.add_planning_scene`), so what the planner avoids is what the
physics has. Obstacles perceived at run time are added and removed by name.

This module is pure data (numpy, PyYAML, pydantic): no Pinocchio, no PyBullet.

Scene file (YAML, SI units, unknown keys are errors)::

    obstacles:
      - {name: table, box: [1.2, 1.6, 0.04], xyz: [0.35, 0.0, -0.02]}
      - {name: post, cylinder: {radius: 0.04, length: 0.8}, xyz: [0.6, 0.3, 0.4], quat_xyzw: [0, 0, 0, 1]}
      - {name: lamp, sphere: 0.06, xyz: [0.4, -0.4, 0.7]}
      - {name: fixture, mesh: {file: fixture.stl, scale: [0.001, 0.001, 0.001]}, xyz: [0.5, 0, 0]}

``box`` gives the full side lengths (x, y, z); a cylinder's axis is its local z; ``quat_xyzw``
defaults to identity; a mesh file is relative to the scene file.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Union

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "AttachedObject", "Box", "Cylinder", "Mesh", "Obstacle", "PlanningScene", "Shape", "Sphere",
    "load_scene", "parse_scene",
]


@dataclass(frozen=True)
class Box:
    """A box with full side lengths ``size`` (x, y, z) in metres, centred on its pose."""

    size: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.size) != 3 or not all(math.isfinite(s) and s > 0 for s in self.size):
            raise ValueError(f"box: expected 3 positive side lengths in m, got {list(self.size)}")


@dataclass(frozen=True)
class Cylinder:
    """A cylinder along its local z axis, centred on its pose."""

    radius: float
    length: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.radius) and self.radius > 0 and math.isfinite(self.length) and self.length > 0):
            raise ValueError(f"cylinder: radius and length must be positive (m), got {self.radius}, {self.length}")


@dataclass(frozen=True)
class Sphere:
    radius: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.radius) and self.radius > 0):
            raise ValueError(f"sphere: radius must be positive (m), got {self.radius}")


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh file (.obj or .stl), vertices scaled by ``scale`` (x, y, z) to metres."""

    file: str
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if not Path(self.file).is_file():
            raise ValueError(f"mesh: file not found: {self.file}")
        if len(self.scale) != 3 or not all(math.isfinite(s) and s > 0 for s in self.scale):
            raise ValueError(f"mesh: scale must be 3 positive factors, got {list(self.scale)}")


Shape = Union[Box, Cylinder, Sphere, Mesh]


def _pose(xyz, quat_xyzw) -> np.ndarray:
    x, y, z, w = (float(v) for v in quat_xyzw)
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not math.isfinite(n) or n < 1e-9:
        raise ValueError("quat_xyzw: expected 4 finite values (x, y, z, w) with a non-zero norm")
    x, y, z, w = x / n, y / n, z / n, w / n
    T = np.eye(4)
    T[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    T[:3, 3] = [float(v) for v in xyz]
    if not np.all(np.isfinite(T)):
        raise ValueError("xyz: expected 3 finite values in m")
    return T


@dataclass(frozen=True)
class Obstacle:
    """A named shape whose centre is at ``xyz`` (m) with orientation ``quat_xyzw``, in the
    robot's base frame (the world frame when the robot's base is at the world origin)."""

    name: str
    shape: Shape
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat_xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("obstacle: name must not be empty")
        _pose(self.xyz, self.quat_xyzw)

    @property
    def pose(self) -> np.ndarray:
        """4x4 ``base_T_shape``."""
        return _pose(self.xyz, self.quat_xyzw)


@dataclass(frozen=True)
class AttachedObject:
    """A shape carried by the robot: ``frame_T_shape`` (4x4) places it in ``frame`` ("tcp" or a
    link). It is checked against the scene and the arm, not against the gripper's links."""

    name: str
    shape: Shape
    frame_T_shape: np.ndarray = field(default_factory=lambda: np.eye(4))
    frame: str = "tcp"


_EDITS = itertools.count(1)  # every scene's versions: a new number at each edit


class PlanningScene:
    """Obstacles by name (in insertion order) and attached objects; ``version`` changes with
    every edit, so a collision checker knows when to rebuild its environment. Versions are drawn
    from one count for every scene of the process: no two scenes share one, so a checker handed
    another scene (a copy, say) rebuilds too."""

    def __init__(self, obstacles: Iterable[Obstacle] = ()) -> None:
        self._obstacles: dict[str, Obstacle] = {}
        self._attached: dict[str, AttachedObject] = {}
        self.version = next(_EDITS)
        for o in obstacles:
            self.add(o)

    # --- obstacles -------------------------------------------------------------------------------
    @property
    def obstacles(self) -> tuple[Obstacle, ...]:
        return tuple(self._obstacles.values())

    def __contains__(self, name: str) -> bool:
        return name in self._obstacles or name in self._attached

    def __len__(self) -> int:
        return len(self._obstacles)

    def get(self, name: str) -> Obstacle:
        if name not in self._obstacles:
            raise KeyError(f"no obstacle named {name!r} in the planning scene")
        return self._obstacles[name]

    def add(self, obstacle: Obstacle) -> None:
        """Add an obstacle; its name must be new (``replace`` to move one)."""
        if obstacle.name in self:
            raise ValueError(f"obstacle {obstacle.name!r} is already in the planning scene")
        self._obstacles[obstacle.name] = obstacle
        self.version = next(_EDITS)

    def replace(self, obstacle: Obstacle) -> None:
        self._obstacles[obstacle.name] = obstacle
        self.version = next(_EDITS)

    def remove(self, name: str) -> Obstacle:
        o = self.get(name)
        del self._obstacles[name]
        self.version = next(_EDITS)
        return o

    # --- attached objects ------------------------------------------------------------------------
    @property
    def attached(self) -> tuple[AttachedObject, ...]:
        return tuple(self._attached.values())

    def attach(self, name: str, shape: Shape, frame_T_shape: np.ndarray, frame: str = "tcp") -> None:
        """Attach a shape to the robot (a grasped object); an obstacle of that name is removed
        from the scene (it moves with the robot now)."""
        T = np.asarray(frame_T_shape, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise ValueError("attach: frame_T_shape must be a finite 4x4 transform")
        self._obstacles.pop(name, None)
        self._attached[name] = AttachedObject(name, shape, T.copy(), frame)
        self.version = next(_EDITS)

    def detach(self, name: str) -> AttachedObject:
        if name not in self._attached:
            raise KeyError(f"no object named {name!r} is attached")
        a = self._attached.pop(name)
        self.version = next(_EDITS)
        return a

    def copy(self) -> "PlanningScene":
        s = PlanningScene(self._obstacles.values())
        s._attached = dict(self._attached)
        return s

    def to_dict(self) -> dict:
        """The scene file's mapping (obstacles only)."""
        out = []
        for o in self._obstacles.values():
            d: dict = {"name": o.name}
            s = o.shape
            if isinstance(s, Box):
                d["box"] = [float(v) for v in s.size]
            elif isinstance(s, Cylinder):
                d["cylinder"] = {"radius": float(s.radius), "length": float(s.length)}
            elif isinstance(s, Sphere):
                d["sphere"] = float(s.radius)
            else:
                d["mesh"] = {"file": s.file, "scale": [float(v) for v in s.scale]}
            d["xyz"] = [float(v) for v in o.xyz]
            if tuple(o.quat_xyzw) != (0.0, 0.0, 0.0, 1.0):
                d["quat_xyzw"] = [float(v) for v in o.quat_xyzw]
            out.append(d)
        return {"obstacles": out}

    def __repr__(self) -> str:
        return f"PlanningScene({len(self._obstacles)} obstacles, {len(self._attached)} attached)"


# --- the scene file ----------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _CylinderFile(_Strict):
    radius: float = Field(gt=0)
    length: float = Field(gt=0)


class _MeshFile(_Strict):
    file: str
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)


class _ObstacleFile(_Strict):
    name: str = Field(min_length=1)
    box: tuple[float, float, float] | None = None
    cylinder: _CylinderFile | None = None
    sphere: float | None = Field(None, gt=0)
    mesh: _MeshFile | None = None
    xyz: tuple[float, float, float]
    quat_xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)

    @model_validator(mode="after")
    def _one_shape(self) -> "_ObstacleFile":
        given = [k for k in ("box", "cylinder", "sphere", "mesh") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of box, cylinder, sphere, mesh; got {given or 'none'}")
        return self


class _SceneFile(_Strict):
    obstacles: list[_ObstacleFile] = Field(default_factory=list)


def parse_scene(raw: object, base_dir: str | Path = ".", what: str = "scene") -> PlanningScene:
    """A `PlanningScene` from the scene file's mapping. Raises ValueError with one line naming
    the key that is wrong and what was expected."""
    if not isinstance(raw, dict):
        raise ValueError(f"{what}: expected a mapping with the key 'obstacles'")
    try:
        sf = _SceneFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ValueError(f"{what}: {loc}: {msg}" if loc else f"{what}: {msg}") from None
    scene = PlanningScene()
    for i, o in enumerate(sf.obstacles):
        key = f"{what}: obstacles.{i} ({o.name})"
        try:
            if o.box is not None:
                shape: Shape = Box(tuple(float(v) for v in o.box))
            elif o.cylinder is not None:
                shape = Cylinder(o.cylinder.radius, o.cylinder.length)
            elif o.sphere is not None:
                shape = Sphere(float(o.sphere))
            else:
                f = Path(o.mesh.file)
                f = f if f.is_absolute() else Path(base_dir) / f
                shape = Mesh(str(f.resolve()), tuple(float(v) for v in o.mesh.scale))
            scene.add(Obstacle(o.name, shape, tuple(o.xyz), tuple(o.quat_xyzw)))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return scene


def load_scene(path: str | Path) -> PlanningScene:
    """Read a scene file (YAML). Raises ValueError with one line on any problem."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"scene file not found: {path}")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"scene file {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_scene(raw, p.parent, f"scene file {path}")
