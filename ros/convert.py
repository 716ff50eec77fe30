"""Conversions between ROS 2 messages and officina's types (time, trajectories, joint states,
images, camera info, poses).

A conversion from a message never raises on a well-typed message except `MalformedMessage`, with
the reason; the node logs it and carries on. Message packages are imported where a message is
built, so that the pure code of officina.ros imports without rclpy.
"""

from __future__ import annotations

import array
from typing import Sequence

import numpy as np

from officina.interfaces import CameraIntrinsics, JointState
from officina.ros.jtc import TrajectoryMsg, TrajectoryPointMsg

__all__ = [
    "MalformedMessage", "time_to_s", "s_to_time", "duration_to_s", "s_to_duration",
    "trajectory_from_msg", "trajectory_to_msg", "joint_state_msg", "joint_state_from_msg",
    "image_msg", "image_from_msg", "camera_info_msg", "intrinsics_from_camera_info",
    "pose_msg", "pose_to_xyzquat",
]


class MalformedMessage(ValueError):
    """A well-typed message whose content cannot be used (missing joints, sizes that disagree,
    non-finite values, an unknown image encoding)."""


# --- time -------------------------------------------------------------------------------------------
def time_to_s(t) -> float:
    return float(t.sec) + float(t.nanosec) * 1e-9


def _sec_nanosec(t: float) -> tuple[int, int]:
    """Seconds -> (sec, nanosec) as builtin_interfaces Time and Duration carry them."""
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

    sec, nanosec = _sec_nanosec(t)
    return Duration(sec=sec, nanosec=nanosec)


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
