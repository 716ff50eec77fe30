"""Message conversions, QoS choices, parameter helpers and the node runner shared by officina's nodes.

Conversions never raise on a well-typed message: they return None (or raise `MalformedMessage`)
with a reason, and the node logs it and carries on.
"""

from __future__ import annotations

import array
import re
import struct
from typing import Any, Callable, Sequence

import numpy as np

from officina.interfaces import CameraIntrinsics, JointState
from officina.ros.jtc import TrajectoryMsg, TrajectoryPointMsg

__all__ = [
    "MalformedMessage", "time_to_s", "s_to_time", "duration_to_s", "s_to_duration",
    "trajectory_from_msg", "trajectory_to_msg", "joint_state_msg", "joint_state_from_msg",
    "JointStateWire", "raw_publish_supported",
    "image_msg", "image_from_msg", "camera_info_msg", "intrinsics_from_camera_info",
    "pose_msg", "pose_to_xyzquat", "qos_reliable", "qos_latched", "qos_sensor", "declare", "run_node",
    "executor_kind", "make_executor", "spin_forever", "EXECUTORS",
    "ros_env_defaults",
]


class MalformedMessage(ValueError):
    pass


# --- time -------------------------------------------------------------------------------------------
def time_to_s(t) -> float:
    return float(t.sec) + float(t.nanosec) * 1e-9


def _sec_nanosec(t: float) -> tuple[int, int]:
    ns = int(round(float(t) * 1e9))
    return ns // 1_000_000_000, ns % 1_000_000_000


def s_to_time(t: float):
    from builtin_interfaces.msg import Time

    sec, nanosec = _sec_nanosec(t)
    return Time(sec=sec, nanosec=nanosec)


def duration_to_s(d) -> float:
    return float(d.sec) + float(d.nanosec) * 1e-9


def s_to_duration(t: float):
    from builtin_interfaces.msg import Duration

    ns = int(round(float(t) * 1e9))
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


# --- trajectories ---------------------------------------------------------------------------------------
def trajectory_from_msg(msg) -> TrajectoryMsg:
    return TrajectoryMsg(
        stamp=time_to_s(msg.header.stamp),
        joint_names=tuple(msg.joint_names),
        points=tuple(
            TrajectoryPointMsg(duration_to_s(p.time_from_start), tuple(p.positions), tuple(p.velocities),
                               tuple(p.accelerations))
            for p in msg.points
        ),
    )


def trajectory_to_msg(traj: TrajectoryMsg, frame_id: str = ""):
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    m = JointTrajectory()
    m.header.stamp = s_to_time(traj.stamp)
    m.header.frame_id = frame_id
    m.joint_names = list(traj.joint_names)
    for p in traj.points:
        pt = JointTrajectoryPoint()
        pt.positions = [float(x) for x in p.positions]
        pt.velocities = [float(x) for x in p.velocities]
        pt.accelerations = [float(x) for x in p.accelerations]
        pt.time_from_start = s_to_duration(p.time_from_start)
        m.points.append(pt)
    return m


# --- joint states -----------------------------------------------------------------------------------------
def joint_state_msg(names: Sequence[str], stamp: float, q, qd, effort, reuse=None):
    """A sensor_msgs/JointState; ``reuse``: a message from an earlier call with the same names to
    refill (a publisher at a high rate skips building the message and checking the names)."""
    from sensor_msgs.msg import JointState as JS

    m = reuse if reuse is not None else JS()
    m.header.stamp = s_to_time(stamp)
    if reuse is None or len(m.name) != len(names):
        m.name = list(names)
    # array.array('d') is the generated setters' fast path (a list is checked value by value)
    m.position = _doubles(q)
    m.velocity = _doubles(qd)
    m.effort = _doubles(effort)
    return m


class JointStateWire:
    """A sensor_msgs/JointState of fixed joint names (empty frame_id, as the sim's), kept serialized:
    ``fill`` writes the stamp and the three arrays into CDR bytes that rclpy serialized once, for
    ``Publisher.publish(bytes)`` (rclpy's raw publish). A publisher at the control rate skips the
    per-message conversion from Python and the serialization, most of the sim's publishing work.

    The offsets are found, not assumed: the template is serialized with marker values and each
    field is located by its marker's bytes. ``fill`` checks the arrays' lengths."""

    _SEC, _NSEC = 0x5EC0_5EC0, 0x0DE5_0DE5

    def __init__(self, names: Sequence[str]) -> None:
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import JointState as JS

        self.n = n = len(names)
        if n == 0:
            raise ValueError("JointStateWire needs at least one joint")
        marks = [np.array([1.0 + 1e-9 * (k * n + i + 1) for i in range(n)]) for k in range(3)]
        m = JS()
        m.header.stamp.sec, m.header.stamp.nanosec = self._SEC, self._NSEC
        m.name = list(names)
        m.position, m.velocity, m.effort = (_doubles(a) for a in marks)
        buf = bytes(serialize_message(m))
        little = buf[1] == 1  # CDR encapsulation: 0x0001 little endian, 0x0000 big endian
        self._end = "<" if little else ">"
        self._stamp_fmt = self._end + "iI"

        def find(raw: bytes) -> int:
            if buf.count(raw) != 1:
                raise RuntimeError("JointStateWire: cannot locate a field in the serialized template")
            return buf.index(raw)

        self._stamp_at = find(struct.pack(self._stamp_fmt, self._SEC, self._NSEC))
        self._doubles_fmt = f"{self._end}{n}d"
        self._at = [find(struct.pack(self._doubles_fmt, *a)) for a in marks]
        self._buf = bytearray(buf)

    def fill(self, stamp: float, q, qd, effort) -> bytes:
        """The serialized message with this stamp (clock seconds) and these n-joint arrays."""
        struct.pack_into(self._stamp_fmt, self._buf, self._stamp_at, *_sec_nanosec(stamp))
        for at, values in zip(self._at, (q, qd, effort)):
            if len(values) != self.n:
                raise ValueError(f"JointStateWire: {len(values)} values for {self.n} joints")
            struct.pack_into(self._doubles_fmt, self._buf, at, *values)
        return bytes(self._buf)


def raw_publish_supported() -> bool:
    """Whether this rclpy publishes serialized bytes (``Publisher.publish(bytes)``)."""
    try:
        from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
    except ImportError:
        return False
    return hasattr(getattr(_rclpy, "Publisher", None), "publish_raw")


def _doubles(values) -> array.array:
    return array.array("d", np.ascontiguousarray(values, dtype=np.float64).tobytes())


def joint_state_from_msg(msg, names: Sequence[str]) -> JointState:
    """The named joints of a /joint_states message, in the order of ``names`` (raises MalformedMessage)."""
    idx = {n: i for i, n in enumerate(msg.name)}
    missing = [n for n in names if n not in idx]
    if missing:
        raise MalformedMessage(f"joint_states lacks joints {missing}")
    npos = len(msg.position)
    if npos != len(msg.name):
        raise MalformedMessage(f"joint_states has {len(msg.name)} names and {npos} positions")
    sel = [idx[n] for n in names]
    q = np.asarray(msg.position, float)[sel]

    def opt(arr) -> np.ndarray:
        a = np.asarray(arr, float)
        return a[sel] if a.size == len(msg.name) else np.zeros(len(sel))

    qd, eff = opt(msg.velocity), opt(msg.effort)
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(qd))):
        raise MalformedMessage("joint_states has non-finite values")
    return JointState(time_to_s(msg.header.stamp), tuple(names), q, qd, eff)


# --- images ----------------------------------------------------------------------------------------------
def image_msg(array: np.ndarray, stamp: float, frame_id: str, encoding: str):
    from sensor_msgs.msg import Image

    a = np.ascontiguousarray(array)
    m = Image()
    m.header.stamp = s_to_time(stamp)
    m.header.frame_id = frame_id
    m.height, m.width = int(a.shape[0]), int(a.shape[1])
    m.encoding = encoding
    m.is_bigendian = 0
    m.step = int(a.strides[0])
    m.data = a.tobytes()
    return m


_ENC = {"rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "mono8": (np.uint8, 1), "32FC1": (np.float32, 1),
        "16UC1": (np.uint16, 1)}


def image_from_msg(msg) -> np.ndarray:
    """HxW(x3) array of an Image (rgb8/bgr8 -> RGB; 32FC1 metres; 16UC1 millimetres -> metres)."""
    if msg.encoding not in _ENC:
        raise MalformedMessage(f"unsupported image encoding {msg.encoding!r}")
    dt, ch = _ENC[msg.encoding]
    dtype = np.dtype(dt).newbyteorder(">" if msg.is_bigendian else "<")
    row = msg.width * ch * dtype.itemsize
    if msg.step < row or len(msg.data) < msg.step * msg.height:
        raise MalformedMessage(f"image data too short for {msg.width}x{msg.height} {msg.encoding}")
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)[:, :row]
    a = np.ascontiguousarray(buf).view(dtype).reshape(msg.height, msg.width, ch) if ch > 1 else \
        np.ascontiguousarray(buf).view(dtype).reshape(msg.height, msg.width)
    if msg.encoding == "bgr8":
        a = a[..., ::-1]
    if msg.encoding == "16UC1":
        return a.astype(np.float32) / 1000.0
    return a.astype(dt, copy=True)


def camera_info_msg(intr: CameraIntrinsics, stamp: float, frame_id: str):
    from sensor_msgs.msg import CameraInfo

    m = CameraInfo()
    m.header.stamp = s_to_time(stamp)
    m.header.frame_id = frame_id
    m.width, m.height = int(intr.width), int(intr.height)
    m.distortion_model = "plumb_bob"
    m.d = [float(x) for x in intr.distortion]
    m.k = [float(x) for x in intr.K.reshape(-1)]
    m.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    m.p = [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return m


def intrinsics_from_camera_info(msg) -> CameraIntrinsics:
    k = list(msg.k)
    if len(k) != 9 or k[0] <= 0 or k[4] <= 0 or msg.width == 0 or msg.height == 0:
        raise MalformedMessage("camera_info without a valid K matrix or size")
    d = tuple(float(x) for x in msg.d) or (0.0,) * 5
    return CameraIntrinsics(int(msg.width), int(msg.height), float(k[0]), float(k[4]), float(k[2]), float(k[5]), d)


# --- poses ----------------------------------------------------------------------------------------------
def pose_msg(xyz, quat_xyzw):
    from geometry_msgs.msg import Pose

    p = Pose()
    p.position.x, p.position.y, p.position.z = (float(v) for v in xyz)
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = (float(v) for v in quat_xyzw)
    return p


def pose_to_xyzquat(p) -> np.ndarray:
    return np.array([p.position.x, p.position.y, p.position.z,
                     p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w])


# --- QoS ------------------------------------------------------------------------------------------------
def qos_reliable(depth: int = 10):
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def qos_latched():
    """Reliable, transient-local, depth 1: late subscribers get the last state (safety_state, camera pose)."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def qos_sensor():
    from rclpy.qos import qos_profile_sensor_data

    return qos_profile_sensor_data


# --- parameters -----------------------------------------------------------------------------------------
def declare(node, name: str, default: Any, description: str, *, read_only: bool = True,
            floating_point_range: tuple[float, float] | None = None):
    """Declare a typed parameter with a descriptor and return its value."""
    from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor

    desc = ParameterDescriptor(description=description, read_only=read_only)
    if floating_point_range is not None:
        desc.floating_point_range = [FloatingPointRange(from_value=float(floating_point_range[0]),
                                                        to_value=float(floating_point_range[1]), step=0.0)]
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    from officina.errors import BadInput

    try:
        return node.declare_parameter(name, default, desc).value
    except InvalidParameterValueException as exc:
        got = re.search(r"value \((.*?)\)", str(exc))
        val = f" = {got.group(1)}" if got else ""
        if floating_point_range:
            lo, hi = floating_point_range
            raise BadInput(f"parameter {name}{val} is out of range: expected {lo:g} to {hi:g}") from None
        raise BadInput(f"parameter {name}{val}: {exc}") from None
    except InvalidParameterTypeException as exc:
        raise BadInput(f"parameter {name}: {exc}") from None


def ros_env_defaults() -> None:
    """Loopback-only discovery unless the user chose otherwise (lab machines set their own)."""
    import os

    if "ROS_AUTOMATIC_DISCOVERY_RANGE" not in os.environ and "ROS_LOCALHOST_ONLY" not in os.environ:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


EXECUTORS = ("events", "single")


def executor_kind(kind: str) -> str:
    """Check a node's ``executor`` parameter; returns the executor it gets: ``"events"`` is rclpy's
    EventsExecutor (dispatch in C++, several times faster per message than
    SingleThreadedExecutor's Python wait loop; benchmarks/bench_ros.py measures it) where rclpy
    has it (Kilted; Jazzy from rclpy 7.1.4); without it (an older rclpy) and for ``"single"``,
    SingleThreadedExecutor."""
    from officina.errors import BadInput

    if kind not in EXECUTORS:
        raise BadInput(f"parameter executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
    if kind == "events":
        try:
            from rclpy.experimental import EventsExecutor  # noqa: F401
        except ImportError:
            return "single"
    return kind


def make_executor(kind: str = "single", context=None):
    """A new executor of `executor_kind` (kind)."""
    if executor_kind(kind) == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    from rclpy.executors import SingleThreadedExecutor

    return SingleThreadedExecutor(context=context)


def spin_forever(executor) -> None:
    """Spin until the context shuts down (Ctrl-C, SIGTERM, rclpy.shutdown). The EventsExecutor is
    driven by spin_once: its spin() ran no callback and ignored shutdown in rclpy 9.1.2 (the Kilted
    wheels), busy at ~80 % of a core."""
    from rclpy.executors import Executor

    if isinstance(executor, Executor):
        executor.spin()
        return
    while executor.context.ok():
        executor.spin_once(timeout_sec=0.1)


def run_node(make_node: Callable[[list[str]], Any], argv: list[str] | None = None,
             spin: Callable[[Any, Any], None] | None = None) -> int:
    """rclpy.init, build the node, spin until Ctrl-C/shutdown; destroy_node and try_shutdown in finally.

    The node chooses its executor with an ``executor_kind`` attribute (see `make_executor`;
    default ``"single"``)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=argv)
    node = None
    try:
        node = make_node(argv or [])
        executor = make_executor(getattr(node, "executor_kind", "single"))
        executor.add_node(node)
        if spin is not None:
            spin(node, executor)
        else:
            spin_forever(executor)
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except Exception:
        if rclpy.ok():
            raise
        # SIGTERM / Ctrl-C shut the context down between the executor's ok-check and its wait:
        # rclpy raises RCLError ("context is not valid") from the wait set; it is a clean stop
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
