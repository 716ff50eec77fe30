"""Per-robot ROS profiles (data in ``officina/ros/profiles/*.yaml``): which controller, namespace
and joint names a real driver uses, so the sim can stand in for it and the gate can front it.

Joint names of a profile map onto the officina robot's joints by order (the FR3 profile's
``fr3_joint1..7`` drive the Panda model's ``panda_joint1..7`` in simulation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from officina.errors import BadInput
from officina.interfaces import RobotSpec, read_yaml

__all__ = ["RosProfile", "ResolvedProfile", "load_profile", "builtin_profiles", "resolve_profile", "topic"]

PROFILES_DIR = Path(__file__).parent / "profiles"


class RosProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    driver: str = ""
    robot: str = "panda"
    namespace: str = ""
    controller: str = "joint_trajectory_controller"
    forward_controller: str = "forward_position_controller"
    joint_names: list[str] | None = Field(default=None, min_length=1)
    gripper_controller: str = "gripper_controller"
    camera: str = "camera"
    # the wrist force/torque sensor's geometry_msgs/WrenchStamped, under the namespace (as
    # ros2_controllers' force_torque_sensor_broadcaster publishes it)
    wrench: str = "force_torque_sensor_broadcaster/wrench"


def builtin_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | None) -> RosProfile:
    """A built-in profile by name (``default`` when None/empty) or a YAML file of the same schema."""
    ref = name_or_path or "default"
    p = Path(ref) if ref.endswith((".yaml", ".yml")) else PROFILES_DIR / f"{ref}.yaml"
    if p != PROFILES_DIR / f"{ref}.yaml" and not p.is_file():
        raise BadInput(f"ROS profile file not found: {ref}")
    if not p.is_file():
        raise BadInput(f"unknown ROS profile {ref!r}; expected one of {', '.join(builtin_profiles())} or a YAML file")
    raw = read_yaml(p, "ROS profile", mapping=True)
    try:
        return RosProfile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise BadInput(f"ROS profile {p}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def topic(namespace: str, *parts: str) -> str:
    """``/ns/a/b`` from a namespace (may be empty) and name parts."""
    segs = [s.strip("/") for s in (namespace, *parts) if s and s.strip("/")]
    return "/" + "/".join(segs)


@dataclass(frozen=True)
class ResolvedProfile:
    """A profile applied to a robot: the names on the wire and the topics."""

    profile: RosProfile
    spec: RobotSpec
    joint_names: tuple[str, ...]  # arm joints on the wire, robot order
    finger_joints: tuple[str, ...]  # gripper finger joints on the wire (robot's own names)
    controller: str
    namespace: str

    @property
    def joint_states(self) -> str:
        return topic(self.namespace, "joint_states")

    @property
    def trajectory_topic(self) -> str:
        return topic(self.namespace, self.controller, "joint_trajectory")

    @property
    def commands_topic(self) -> str:
        return topic(self.namespace, self.profile.forward_controller, "commands")

    @property
    def gripper_topic(self) -> str:
        return topic(self.namespace, self.profile.gripper_controller, "commands")

    @property
    def vacuum_topic(self) -> str:
        """The vacuum switch of a vacuum gripper (std_msgs/Bool, true while a part is held)."""
        return topic(self.namespace, self.profile.gripper_controller, "vacuum_switch")

    @property
    def wrench_topic(self) -> str:
        """The wrist force/torque sensor's wrench (geometry_msgs/WrenchStamped, sensor frame)."""
        return topic(self.namespace, self.profile.wrench)

    def camera_topic(self, *parts: str) -> str:
        return topic(self.namespace, self.profile.camera, *parts)


def resolve_profile(spec: RobotSpec, profile: RosProfile, *, controller: str | None = None,
                    namespace: str | None = None) -> ResolvedProfile:
    names = tuple(profile.joint_names) if profile.joint_names else spec.joint_names
    if len(names) != spec.dof:
        raise BadInput(
            f"ROS profile {profile.name!r} names {len(names)} joints but robot {spec.name!r} has {spec.dof}"
        )
    fingers = spec.gripper.finger_joints if spec.gripper is not None else ()
    return ResolvedProfile(profile, spec, names, tuple(fingers), controller or profile.controller,
                           profile.namespace if namespace is None else namespace)
