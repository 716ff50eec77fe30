"""The hardware boundary of officina.

Controllers, skills, tasks and vision talk to hardware only through these small
protocols. PyBullet (``officina.sim``) and ROS 2 (``officina.ros``) each implement
them once. This module imports nothing else of the project, so every part may import it.

Conventions (see DESIGN.md): SI units; quaternions ``(x, y, z, w)``; joint arrays are
in the robot's own joint-name order (``Arm.joint_names``); camera frames follow the
ROS/OpenCV optical convention (z forward, x right, y down).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = [
    "ControlMode",
    "JointLimits",
    "JointState",
    "joint_state",
    "GripperSpec",
    "VacuumSpec",
    "RobotSpec",
    "ProtectiveStopSpec",
    "WristSensorSpec",
    "Arm",
    "AdmittanceConfig",
    "CompliantArm",
    "Gripper",
    "GraspState",
    "CameraIntrinsics",
    "CameraFrame",
    "Camera",
    "Wrench",
    "ForceTorqueSensor",
    "as_joint_array",
    "read_yaml",
]


class ControlMode(str, enum.Enum):
    """How an `Arm` interprets commands."""

    POSITION = "position"
    VELOCITY = "velocity"
    TORQUE = "torque"


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits, arrays in joint-name order. SI units (rad, rad/s, rad/s^2, rad/s^3, N·m)."""

    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    jerk: np.ndarray
    effort: np.ndarray

    @property
    def n(self) -> int:
        return int(len(self.lower))

    def mid(self) -> np.ndarray:
        return 0.5 * (self.lower + self.upper)


@dataclass(frozen=True)
class JointState:
    """A stamped joint state. ``stamp`` is seconds of the clock in use (sim time in simulation)."""

    stamp: float
    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


_new_object = object.__new__


def joint_state(stamp: float, names: tuple[str, ...], position: np.ndarray, velocity: np.ndarray,
                effort: np.ndarray) -> JointState:
    """``JointState(stamp, names, position, velocity, effort)``, the same object made at a third
    of the cost (the frozen dataclass' ``__init__`` sets each field through
    ``object.__setattr__``): for the arms that make one per physics step."""
    js = _new_object(JointState)
    d = js.__dict__
    d["stamp"] = stamp
    d["names"] = names
    d["position"] = position
    d["velocity"] = velocity
    d["effort"] = effort
    return js


@dataclass(frozen=True)
class VacuumSpec:
    """The suction cups of a vacuum gripper and what makes them seal.

    Each cup is a link whose origin is the centre of its lip, z out of the cup. A cup seals on
    a flat face only: cup axis within ``seal_angle_deg`` of the face normal, lip within
    ``seal_gap_m`` of the face, the whole lip circle (``cup_diameter_m``) on the face. A sealed
    cup pulls with ``vacuum_kpa`` x its lip area (at full vacuum), reached with the time
    constant ``evacuation_time_s``.
    """

    cup_links: tuple[str, ...]
    cup_diameter_m: float
    vacuum_kpa: float  # pressure difference to the atmosphere at full vacuum
    seal_angle_deg: float = 5.0
    seal_gap_m: float = 0.002
    evacuation_time_s: float = 0.05

    @property
    def cup_area_m2(self) -> float:
        return float(np.pi * (self.cup_diameter_m / 2.0) ** 2)

    @property
    def cup_force_n(self) -> float:
        """Holding force of one sealed cup at full vacuum (pull normal to the face)."""
        return self.vacuum_kpa * 1e3 * self.cup_area_m2

    @property
    def rated_force_n(self) -> float:
        """Holding force with every cup sealed at full vacuum."""
        return len(self.cup_links) * self.cup_force_n


@dataclass(frozen=True)
class GripperSpec:
    """A gripper: a parallel gripper (finger joints, travel, force) or a vacuum gripper (cups).

    ``kind`` is ``"panda_hand"``, ``"parallel"`` or ``"vacuum"``. For a parallel gripper
    ``max_width_m`` is the full opening and ``max_force_n`` the largest grip force. For a vacuum
    gripper ``finger_joints`` is empty, ``vacuum`` holds the cups, ``max_force_n`` is the rated
    holding force (``vacuum.rated_force_n``) and ``max_width_m`` the larger side of the cups'
    footprint (the rectangle around the lips); see `Gripper` for what width means there.
    """

    kind: str  # "panda_hand" | "parallel" | "vacuum"
    finger_joints: tuple[str, ...]
    max_width_m: float
    max_force_n: float
    speed_m_s: float = 0.1
    urdf: str | None = None  # gripper URDF attached to the flange when the arm has none
    vacuum: VacuumSpec | None = None


@dataclass(frozen=True)
class ProtectiveStopSpec:
    """When the real arm stops on contact (its protective stop or collision reflex): an external
    joint torque above ``joint_torque_nm`` (per joint, N·m) or a force at the tcp above
    ``tcp_force_n`` (N); ``source`` names the manufacturer's figure or the standard it comes from."""

    joint_torque_nm: tuple[float, ...] | None = None
    tcp_force_n: float | None = None
    source: str = ""


@dataclass(frozen=True)
class WristSensorSpec:
    """A 6-axis force/torque measurement at the wrist: in simulation at the fixed ``joint``
    between flange and tool, with Gaussian noise; on the real arm its driver's wrench (UR e-Series'
    built-in sensor, Franka's estimated external wrench). ``source`` says which."""

    joint: str
    noise_force_n: float = 0.0
    noise_torque_nm: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class StoppingSpec:
    """How the arm stops on a protective stop signal, for speed and separation monitoring: the
    time and distance it takes to stop (``stop_time_s``, ``stop_distance_m``, measured at the
    tcp) from ``speed_m_s``, and ``reaction_time_s`` from the signal to the start of braking;
    ``source`` says where each figure comes from (the maker's manual, or a stated conservative
    value where the maker publishes none)."""

    speed_m_s: float
    stop_time_s: float
    stop_distance_m: float
    reaction_time_s: float
    source: str = ""


@dataclass(frozen=True)
class RobotSpec:
    """Everything officina needs to know about a robot, as data (see officina/robots/*.yaml).

    ``urdf`` is an absolute path of the URDF loaded by both the simulator and Pinocchio
    (for arms whose gripper is attached by officina, the combined URDF is generated).
    """

    name: str
    urdf: str
    model_source: str
    joint_names: tuple[str, ...]
    limits: JointLimits
    home: np.ndarray
    base_link: str
    flange_frame: str
    tcp_parent: str  # the tcp is tcp_parent * (tcp_offset_xyz, tcp_offset_rpy)
    tcp_offset_xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tcp_offset_rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gripper: GripperSpec | None = None
    base_xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    description: str = ""
    named_poses: dict[str, np.ndarray] = field(default_factory=dict)
    srdf: str | None = None  # self-collision pairs to skip (MoveIt's SRDF), when the robot has a file
    protective_stop: ProtectiveStopSpec | None = None
    wrist_sensor: WristSensorSpec | None = None
    stopping: StoppingSpec | None = None

    @property
    def dof(self) -> int:
        return len(self.joint_names)


@runtime_checkable
class Arm(Protocol):
    """A position/velocity/torque-controlled serial arm."""

    @property
    def joint_names(self) -> tuple[str, ...]: ...

    @property
    def limits(self) -> JointLimits: ...

    @property
    def control_period(self) -> float:
        """Seconds between two control ticks (e.g. 0.001 for 1 kHz)."""
        ...

    def read(self) -> JointState: ...

    def set_mode(self, mode: ControlMode) -> None: ...

    def command_positions(self, q: np.ndarray, qd: np.ndarray | None = None) -> None:
        """Joint position targets (rad), with an optional velocity feed-forward (rad/s), as a
        joint_trajectory_controller sends them."""
        ...

    def command_velocities(self, qd: np.ndarray) -> None: ...

    def command_torques(self, tau: np.ndarray) -> None: ...

    def fault(self) -> str | None:
        """Why the arm stopped on its own (a protective stop, a reflex), or None while it takes
        commands."""
        ...

    def clear_fault(self) -> bool:
        """Resume after a fault (as unlocking a protective stop); True when the arm takes commands."""
        ...


@dataclass(frozen=True)
class AdmittanceConfig:
    """Compliant position control, as ros2_controllers' ``admittance_controller`` takes it: per
    axis of the compliant frame (x, y, z, then rotations about x, y, z; axes of the robot's base,
    origin at the tcp offset by ``frame_offset_xyz``, in the tcp frame) whether it is compliant
    (``selected_axes``), its ``mass`` (kg, kg·m^2), ``damping_ratio`` and ``stiffness`` (N/m,
    N·m/rad); the offset from the reference is bounded by ``max_offset_m`` and ``max_offset_rad``;
    the wrench is low-pass filtered with ``filter_time_s`` (0: the virtual mass is the filter). The
    defaults are stable on the simulated arms at 250 Hz: a light virtual mass, or a filter's lag,
    lets the tool's own inertia, which the wrist sensor measures, drive the loop. ``enabled``
    False: the joint references pass unchanged."""

    enabled: bool = False
    selected_axes: tuple[bool, ...] = (True, True, True, False, False, False)
    mass: tuple[float, ...] = (20.0, 20.0, 20.0, 0.5, 0.5, 0.5)
    damping_ratio: tuple[float, ...] = (2.0,) * 6
    stiffness: tuple[float, ...] = (1500.0, 1500.0, 1500.0, 40.0, 40.0, 40.0)
    frame_offset_xyz: tuple[float, ...] = (0.0, 0.0, 0.0)
    max_offset_m: float = 0.01
    max_offset_rad: float = 0.1
    filter_time_s: float = 0.0


@runtime_checkable
class CompliantArm(Arm, Protocol):
    """An `Arm` whose controller closes a force loop next to it (an admittance controller
    chained after the joint references, or a robot's force mode): position commands are offset by
    the admittance that `set_admittance` configures, each control period, from the arm's own
    wrist sensor. What it commands still passes the arm's safety filter."""

    def set_admittance(self, config: AdmittanceConfig) -> None: ...


class GraspState(str, enum.Enum):
    OPEN = "open"
    MOVING = "moving"
    HOLDING = "holding"  # closed on an object: fingers stopped before the commanded width
    CLOSED_EMPTY = "closed_empty"  # closed all the way: nothing between the fingers


@runtime_checkable
class Gripper(Protocol):
    """A gripper, parallel or vacuum, in SI units (m, N).

    Parallel gripper: ``open(width)`` moves the fingers apart to ``width`` (default: fully
    open); ``close(width, force)`` closes toward ``width`` with at most ``force``; ``width()`` is
    the distance between the fingers; ``grasp_state()`` tells moving / holding / closed on
    nothing / open.

    Vacuum gripper (the same calls, as a vacuum switch and a valve would answer them):
    ``open()`` vents the cups (blow-off: a held part is released at once; ``width`` is
    ignored); ``close(width, force)`` switches the vacuum on, regulated so that the sealed cups
    hold with at most ``force`` (default and ceiling: the rated force; ``width`` is ignored);
    ``width()`` reads ``max_width`` while vented or while a part is held (vacuum built on a
    sealed cup) and 0.0 while the vacuum is on with nothing held, as fingers closed on nothing
    would; ``grasp_state()`` is OPEN (vented), MOVING (a cup sealed, vacuum building),
    HOLDING (a part held) or CLOSED_EMPTY (vacuum on, no cup sealed).
    """

    @property
    def max_width(self) -> float: ...

    def open(self, width: float | None = None) -> None: ...

    def close(self, width: float = 0.0, force: float | None = None) -> None: ...

    def width(self) -> float: ...

    def grasp_state(self) -> GraspState: ...


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels, OpenCV convention. ``distortion`` is OpenCV's (k1,k2,p1,p2,k3...)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @staticmethod
    def from_fov(width: int, height: int, fov_y_deg: float) -> "CameraIntrinsics":
        """Square pixels, principal point at the image centre, vertical field of view in degrees."""
        f = 0.5 * height / np.tan(np.deg2rad(fov_y_deg) / 2.0)
        return CameraIntrinsics(width, height, float(f), float(f), (width - 1) / 2.0, (height - 1) / 2.0)


@dataclass(frozen=True)
class CameraFrame:
    """One frame. ``rgb`` is HxWx3 uint8 (RGB order); ``depth_m`` HxW float32 metres (0 or inf
    where nothing); ``segmentation`` HxW int32 body ids (simulation only, else None)."""

    stamp: float
    rgb: np.ndarray
    depth_m: np.ndarray | None = None
    segmentation: np.ndarray | None = None


@runtime_checkable
class Camera(Protocol):
    @property
    def intrinsics(self) -> CameraIntrinsics: ...

    def extrinsics(self) -> np.ndarray | None:
        """4x4 ``world_T_camera`` (optical frame) when known, else None."""
        ...

    def capture(self) -> CameraFrame: ...


@dataclass(frozen=True)
class Wrench:
    """What a force/torque sensor measures: the wrench the world applies to the tool side of the
    sensor (the tool's weight included), in the sensor frame. A tool pushed against a table reads
    a force pointing away from the table."""

    stamp: float
    force: np.ndarray  # N, in the sensor frame
    torque: np.ndarray  # N·m, in the sensor frame


@runtime_checkable
class ForceTorqueSensor(Protocol):
    def read(self) -> Wrench: ...


def as_joint_array(values: Sequence[float] | np.ndarray, n: int, what: str = "joint array") -> np.ndarray:
    """Validate a 1-D float array of length ``n`` (raises ValueError with a one-line reason)."""
    a = np.asarray(values, dtype=float).reshape(-1)
    if a.shape[0] != n:
        raise ValueError(f"{what}: expected {n} values, got {a.shape[0]}")
    return a


def read_yaml(path: str | Path, what: str = "file", *, mapping: bool = False) -> Any:
    """The document of a YAML file (robot, configuration, camera_info, poses...).

    ``what`` names the file in errors (``"config file"``, ``"robot file"``). With ``mapping=True``
    the document must be a mapping (an empty file gives ``{}``). Raises ValueError with one line
    naming the file and the problem: not found, not valid YAML (the parser's first line), not a
    mapping. Lives here, beside `as_joint_array`, because this is the one module every part of
    officina may import.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what} not found: {path}")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{what} {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path}: cannot be read ({exc})") from None
    if mapping:
        if doc is None:
            return {}
        if not isinstance(doc, dict):
            raise ValueError(f"{what} {path}: expected a mapping at the top level, got {type(doc).__name__}")
    return doc
