"""Robots are data: one small YAML file per robot, and this registry.

``load_robot("panda")`` reads ``officina/robots/panda.yaml``; ``load_robot("path/to/arm.yaml")``
reads a lab's own file with the same schema (see README, "Add your own robot"). Paths inside
the YAML may be ``pybullet_data:REL`` (shipped with PyBullet), ``officina:REL`` (shipped with
officina in sim/models/) or relative to the YAML file.

When a gripper URDF is mounted on the arm's flange, the combined URDF is generated once (arm +
gripper, mesh paths made absolute) into a cache folder and both the simulator and the
Pinocchio model load that same file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from officina.errors import BadInput
from officina.interfaces import (
    GripperSpec, JointLimits, ProtectiveStopSpec, RobotSpec, StoppingSpec, VacuumSpec, WristSensorSpec, read_yaml,
)

ROBOTS_DIR = Path(__file__).parent / "robots"


def _models_dir() -> Path:
    from importlib.resources import files

    return Path(str(files("officina.sim") / "models"))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrameOffset(_Strict):
    parent: str
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)


class LimitsFile(_Strict):
    lower: list[float] | None = None
    upper: list[float] | None = None
    velocity: list[float] | None = None
    acceleration: list[float]
    jerk: list[float]
    effort: list[float] | None = None


class VacuumFile(_Strict):
    """A vacuum gripper's cups (links of the URDF: origin at the lip centre, z out of the cup)."""

    cups: list[str] = Field(min_length=1)
    cup_diameter_m: float = Field(gt=0, le=1.0)
    vacuum_kpa: float = Field(gt=0, le=101.325)  # below the atmosphere: at most a perfect vacuum
    seal_angle_deg: float = Field(default=5.0, gt=0, lt=45)
    seal_gap_m: float = Field(default=0.002, gt=0, le=0.02)
    evacuation_time_s: float = Field(default=0.05, gt=0, le=5)


class GripperFile(_Strict):
    kind: Literal["panda_hand", "parallel", "vacuum"]
    finger_joints: list[str] = Field(default_factory=list)
    max_width_m: float = Field(gt=0)
    max_force_n: float | None = Field(default=None, gt=0)
    speed_m_s: float = Field(default=0.1, gt=0)
    urdf: str | None = None
    mount: FrameOffset | None = None
    vacuum: VacuumFile | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "GripperFile":
        if (self.urdf is None) != (self.mount is None):
            raise ValueError("gripper: 'urdf' and 'mount' go together (a gripper mounted on the flange)")
        if self.kind == "vacuum":
            if self.vacuum is None:
                raise ValueError("a vacuum gripper needs 'vacuum' (cups, cup_diameter_m, vacuum_kpa)")
            if self.finger_joints:
                raise ValueError("a vacuum gripper has no finger_joints")
            if self.max_force_n is not None:
                raise ValueError("max_force_n is not given for a vacuum gripper: its rated force is "
                                 "cups x lip area x vacuum_kpa")
        else:
            if self.vacuum is not None:
                raise ValueError(f"'vacuum' is only for kind vacuum, not {self.kind}")
            if not self.finger_joints:
                raise ValueError(f"a {self.kind} gripper needs finger_joints (at least one)")
            if self.max_force_n is None:
                raise ValueError(f"a {self.kind} gripper needs max_force_n")
        return self


class ProtectiveStopFile(_Strict):
    """When the arm stops on contact; at least one threshold, and where it comes from."""

    joint_torque_nm: list[float] | None = None
    tcp_force_n: float | None = Field(None, gt=0)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self) -> "ProtectiveStopFile":
        if self.joint_torque_nm is None and self.tcp_force_n is None:
            raise ValueError("give joint_torque_nm, tcp_force_n or both")
        if self.joint_torque_nm is not None and any(not t > 0 for t in self.joint_torque_nm):
            raise ValueError("joint_torque_nm must be positive")
        return self


class WristSensorFile(_Strict):
    """The wrist force/torque measurement: the fixed joint it is taken at in simulation, its noise."""

    joint: str
    noise_force_n: float = Field(0.0, ge=0)
    noise_torque_nm: float = Field(0.0, ge=0)
    source: str = ""


class StoppingFile(_Strict):
    """How the arm stops (speed and separation monitoring): time and distance at the tcp from a
    speed, the reaction time before braking, and where the figures come from."""

    speed_m_s: float = Field(gt=0)
    stop_time_s: float = Field(gt=0)
    stop_distance_m: float = Field(gt=0)
    reaction_time_s: float = Field(ge=0)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _physical(self) -> "StoppingFile":
        if self.stop_distance_m >= self.speed_m_s * self.stop_time_s:
            raise ValueError("stop_distance_m must be below speed_m_s x stop_time_s (the arm slows down)")
        return self


class RobotFile(_Strict):
    """Schema of a robot YAML file. Unknown keys are errors."""

    name: str
    description: str = ""
    urdf: str
    model_source: str = ""
    base_link: str
    joints: list[str] = Field(min_length=1)
    limits: LimitsFile
    home: list[float]
    named_poses: dict[str, list[float]] = Field(default_factory=dict)
    flange: str
    tcp: FrameOffset
    gripper: GripperFile | None = None
    srdf: str | None = None  # default: <this file's stem>.srdf beside it, when present
    protective_stop: ProtectiveStopFile | None = None
    wrist_sensor: WristSensorFile | None = None
    stopping: StoppingFile | None = None


def builtin_robots() -> list[str]:
    return sorted(p.stem for p in ROBOTS_DIR.glob("*.yaml"))


def _resolve_path(ref: str, base_dir: Path) -> Path:
    if ref.startswith("pybullet_data:"):
        import pybullet_data

        return Path(pybullet_data.getDataPath()) / ref.split(":", 1)[1]
    if ref.startswith("officina:"):
        return _models_dir() / ref.split(":", 1)[1]
    p = Path(ref)
    return p if p.is_absolute() else (base_dir / p)


def cache_dir(kind: str) -> Path:
    """Where officina keeps files it derives and can make again (``kind``: "urdf" for composed
    robot URDFs, "collision" for collision geometry): ``$OFFICINA_CACHE/kind``, else
    ``$XDG_CACHE_HOME/officina/kind`` (``~/.cache``). Not created here."""
    root = os.environ.get("OFFICINA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "officina"
    )
    return Path(root) / kind


def _cache_dir() -> Path:
    d = cache_dir("urdf")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _absolutize_meshes(root: ET.Element, base_dir: Path) -> None:
    for mesh in root.iter("mesh"):
        fn = mesh.get("filename")
        if fn and not fn.startswith(("package://", "file://", "/")):
            mesh.set("filename", str((base_dir / fn).resolve()))


def _parse_urdf(path: Path, what: str) -> ET.Element:
    if not path.is_file():
        raise BadInput(f"{what}: URDF file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise BadInput(f"{what}: URDF {path} is not valid XML ({exc})") from None
    if root.tag != "robot":
        raise BadInput(f"{what}: {path} is not a URDF (root element <{root.tag}>, expected <robot>)")
    return root


def _write_cached(text: str, stem: str) -> Path:
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    out = _cache_dir() / f"{stem}-{digest}.urdf"
    if not out.exists():
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, out)
    return out


def _compose(arm_root: ET.Element, arm_dir: Path, grip_path: Path, mount: FrameOffset, name: str) -> Path:
    grip_root = _parse_urdf(grip_path, f"robot {name!r} gripper")
    _absolutize_meshes(arm_root, arm_dir)
    _absolutize_meshes(grip_root, grip_path.parent)
    arm_links = {el.get("name") for el in arm_root.findall("link")}
    if mount.parent not in arm_links:
        raise BadInput(
            f"robot {name!r}: gripper mount parent {mount.parent!r} is not a link of the arm URDF "
            f"(links: {', '.join(sorted(arm_links))})"
        )
    child_links = {el.find("child").get("link") for el in grip_root.findall("joint")}
    roots = [el.get("name") for el in grip_root.findall("link") if el.get("name") not in child_links]
    if len(roots) != 1:
        raise BadInput(f"robot {name!r}: gripper URDF {grip_path} must have exactly one root link")
    # Materials are global in URDF: keep the arm's, add the gripper's new ones.
    arm_materials = {el.get("name") for el in arm_root.findall("material")}
    for el in grip_root:
        if el.tag == "material" and el.get("name") in arm_materials:
            continue
        arm_root.append(el)
    joint = ET.SubElement(arm_root, "joint", {"name": "officina_gripper_mount", "type": "fixed"})
    ET.SubElement(joint, "parent", {"link": mount.parent})
    ET.SubElement(joint, "child", {"link": roots[0]})
    ET.SubElement(
        joint,
        "origin",
        {"xyz": " ".join(repr(float(v)) for v in mount.xyz), "rpy": " ".join(repr(float(v)) for v in mount.rpy)},
    )
    text = ET.tostring(arm_root, encoding="unicode")
    return _write_cached(text, name)


def _urdf_joint_limits(root: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for j in root.findall("joint"):
        lim = j.find("limit")
        if lim is None:
            continue
        out[j.get("name")] = (
            float(lim.get("lower", "nan")),
            float(lim.get("upper", "nan")),
            float(lim.get("velocity", "nan")),
            float(lim.get("effort", "nan")),
        )
    return out


def _vec(values: list[float] | None, n: int, what: str, default: np.ndarray | None = None) -> np.ndarray:
    if values is None:
        if default is None or not np.all(np.isfinite(default)):
            raise BadInput(f"{what}: not given and not in the URDF; expected {n} values")
        return default
    if len(values) != n:
        raise BadInput(f"{what}: expected {n} values (one per joint), got {len(values)}")
    return np.asarray(values, dtype=float)


@lru_cache(maxsize=64)
def _load_cached(path_str: str, mtime: float) -> RobotSpec:
    path = Path(path_str)
    raw = read_yaml(path, "robot file", mapping=True)
    try:
        rf = RobotFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise BadInput(f"robot file {path}: {loc}: {err['msg']}") from None
    name = rf.name
    arm_path = _resolve_path(rf.urdf, path.parent)
    arm_root = _parse_urdf(arm_path, f"robot {name!r}")
    urdf_limits = _urdf_joint_limits(arm_root)
    links = {el.get("name") for el in arm_root.findall("link")}
    missing = [j for j in rf.joints if j not in urdf_limits]
    if missing:
        raise BadInput(
            f"robot {name!r}: joints {missing} are not movable joints of {arm_path.name} "
            f"(it has: {', '.join(sorted(urdf_limits))})"
        )
    n = len(rf.joints)
    from_urdf = np.array([urdf_limits[j] for j in rf.joints], dtype=float)
    lower = _vec(rf.limits.lower, n, f"robot {name!r} limits.lower", from_urdf[:, 0])
    upper = _vec(rf.limits.upper, n, f"robot {name!r} limits.upper", from_urdf[:, 1])
    velocity = _vec(rf.limits.velocity, n, f"robot {name!r} limits.velocity", from_urdf[:, 2])
    effort = _vec(rf.limits.effort, n, f"robot {name!r} limits.effort", from_urdf[:, 3])
    acc = _vec(rf.limits.acceleration, n, f"robot {name!r} limits.acceleration")
    jerk = _vec(rf.limits.jerk, n, f"robot {name!r} limits.jerk")
    if np.any(lower >= upper):
        raise BadInput(f"robot {name!r}: every limits.lower must be below limits.upper")
    for nm, arr in (("velocity", velocity), ("acceleration", acc), ("jerk", jerk), ("effort", effort)):
        if np.any(arr <= 0):
            raise BadInput(f"robot {name!r}: limits.{nm} must be positive")
    home = _vec(rf.home, n, f"robot {name!r} home")
    if np.any(home < lower) or np.any(home > upper):
        i = int(np.flatnonzero((home < lower) | (home > upper))[0])
        raise BadInput(f"robot {name!r}: home pose is outside the joint limits: {rf.joints[i]} at {home[i]:g} rad, "
                       f"expected {lower[i]:g} to {upper[i]:g}")
    named = {"home": home}
    for k, v in rf.named_poses.items():
        named[k] = _vec(v, n, f"robot {name!r} named_poses.{k}")

    gripper = None
    urdf_path = arm_path
    if rf.gripper is not None:
        g = rf.gripper
        if g.urdf is not None:
            grip_path = _resolve_path(g.urdf, path.parent)
            urdf_path = _compose(arm_root, arm_path.parent, grip_path, g.mount, name)
            links |= {el.get("name") for el in ET.parse(grip_path).getroot().findall("link")}
        vacuum = None
        if g.vacuum is not None:
            v = g.vacuum
            vacuum = VacuumSpec(tuple(v.cups), v.cup_diameter_m, v.vacuum_kpa, v.seal_angle_deg, v.seal_gap_m,
                                v.evacuation_time_s)
            missing = [c for c in v.cups if c not in links]
            if missing:
                raise BadInput(f"robot {name!r}: gripper.vacuum.cups {missing} are not links of the URDF")
        gripper = GripperSpec(
            kind=g.kind,
            finger_joints=tuple(g.finger_joints),
            max_width_m=g.max_width_m,
            max_force_n=vacuum.rated_force_n if vacuum is not None else g.max_force_n,
            speed_m_s=g.speed_m_s,
            urdf=str(urdf_path) if g.urdf else None,
            vacuum=vacuum,
        )
        movable = _urdf_joint_limits(ET.parse(urdf_path).getroot()) if g.finger_joints else {}
        missing = [j for j in g.finger_joints if j not in movable]
        if missing:
            raise BadInput(f"robot {name!r}: gripper.finger_joints {missing} are not movable joints of the URDF")
    for what, link in (("base_link", rf.base_link), ("flange", rf.flange), ("tcp.parent", rf.tcp.parent)):
        if link not in links:
            raise BadInput(f"robot {name!r}: {what} {link!r} is not a link of the URDF")
    if rf.srdf is not None:
        srdf_path = _resolve_path(rf.srdf, path.parent)
        if not srdf_path.is_file():
            raise BadInput(f"robot {name!r}: srdf file not found: {srdf_path}")
    else:
        srdf_path = path.with_suffix(".srdf")
    stop = None
    if rf.protective_stop is not None:
        ps = rf.protective_stop
        if ps.joint_torque_nm is not None and len(ps.joint_torque_nm) != len(rf.joints):
            raise BadInput(f"robot {name!r}: protective_stop.joint_torque_nm needs {len(rf.joints)} values "
                           f"(one per joint), got {len(ps.joint_torque_nm)}")
        stop = ProtectiveStopSpec(None if ps.joint_torque_nm is None else tuple(ps.joint_torque_nm),
                                  ps.tcp_force_n, ps.source)
    return RobotSpec(
        name=name,
        urdf=str(urdf_path.resolve()),
        model_source=rf.model_source or rf.urdf,
        joint_names=tuple(rf.joints),
        limits=JointLimits(lower, upper, velocity, acc, jerk, effort),
        home=home,
        base_link=rf.base_link,
        flange_frame=rf.flange,
        tcp_parent=rf.tcp.parent,
        tcp_offset_xyz=rf.tcp.xyz,
        tcp_offset_rpy=rf.tcp.rpy,
        gripper=gripper,
        description=rf.description,
        named_poses=named,
        srdf=str(srdf_path.resolve()) if srdf_path.is_file() else None,
        protective_stop=stop,
        wrist_sensor=None if rf.wrist_sensor is None else WristSensorSpec(
            rf.wrist_sensor.joint, rf.wrist_sensor.noise_force_n, rf.wrist_sensor.noise_torque_nm,
            rf.wrist_sensor.source),
        stopping=None if rf.stopping is None else StoppingSpec(
            rf.stopping.speed_m_s, rf.stopping.stop_time_s, rf.stopping.stop_distance_m,
            rf.stopping.reaction_time_s, rf.stopping.source),
    )


def robot_file(name_or_path: str) -> Path:
    """The YAML file behind a robot name (built-in) or path (a lab's own)."""
    if name_or_path.endswith((".yaml", ".yml")) or os.sep in name_or_path:
        p = Path(name_or_path)
        if not p.is_file():
            raise BadInput(f"robot file not found: {name_or_path}")
        return p.resolve()
    p = ROBOTS_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        raise BadInput(
            f"unknown robot {name_or_path!r}; expected one of {', '.join(builtin_robots())} "
            "or a path to a robot YAML file"
        )
    return p


def load_robot(name_or_path: str) -> RobotSpec:
    """Load a robot by built-in name or YAML path. Raises BadInput with a one-line reason."""
    p = robot_file(name_or_path)
    return _load_cached(str(p), p.stat().st_mtime)
