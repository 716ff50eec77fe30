"""The run's state log: MCAP with ROS 2 message schemas (``ros2`` profile, CDR encoding).

Foxglove and ``ros2 bag`` (rosbag2's MCAP storage) open it. The message definitions below are
the ROS 2 interface definitions of the named types (comments stripped), concatenated the way
rosbag2 writes them, so the log is written without a ROS 2 installation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["JOINT_STATE_DEF", "POSE_ARRAY_DEF", "write_state_log", "read_topic_counts", "iter_decoded"]

_SEP = "\n" + "=" * 80 + "\n"
_HEADER = "builtin_interfaces/Time stamp\nstring frame_id\n"
_TIME = "int32 sec\nuint32 nanosec\n"
_POSE = "Point position\nQuaternion orientation\n"
_POINT = "float64 x\nfloat64 y\nfloat64 z\n"
_QUAT = "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n"

JOINT_STATE_DEF = (
    "std_msgs/Header header\nstring[] name\nfloat64[] position\nfloat64[] velocity\nfloat64[] effort\n"
    + _SEP + "MSG: std_msgs/Header\n" + _HEADER
    + _SEP + "MSG: builtin_interfaces/Time\n" + _TIME
)
POSE_ARRAY_DEF = (
    "std_msgs/Header header\nPose[] poses\n"
    + _SEP + "MSG: std_msgs/Header\n" + _HEADER
    + _SEP + "MSG: builtin_interfaces/Time\n" + _TIME
    + _SEP + "MSG: geometry_msgs/Pose\n" + _POSE
    + _SEP + "MSG: geometry_msgs/Point\n" + _POINT
    + _SEP + "MSG: geometry_msgs/Quaternion\n" + _QUAT
)


def _stamp(t: float) -> dict:
    ns = int(round(t * 1e9))
    return {"sec": ns // 1_000_000_000, "nanosec": ns % 1_000_000_000}


def write_state_log(
    path: str | Path,
    joint_names: list[str],
    t: np.ndarray,
    q: np.ndarray,
    qd: np.ndarray,
    effort: np.ndarray,
    pose_t: np.ndarray,
    poses: np.ndarray,
    *,
    base_frame: str = "world",
) -> None:
    """Write /joint_states (sensor_msgs/JointState) and /ground_truth/object_poses
    (geometry_msgs/PoseArray; poses (M, K, 7) as x y z qx qy qz qw) to an MCAP file, atomically."""
    from mcap_ros2.writer import Writer

    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        w = Writer(f)
        js = w.register_msgdef("sensor_msgs/msg/JointState", JOINT_STATE_DEF)
        pa = w.register_msgdef("geometry_msgs/msg/PoseArray", POSE_ARRAY_DEF)
        names = list(joint_names)
        # Merge the two streams in time order (MCAP readers like monotonic log times).
        i = j = 0
        while i < len(t) or j < len(pose_t):
            if j >= len(pose_t) or (i < len(t) and t[i] <= pose_t[j]):
                ns = int(round(float(t[i]) * 1e9))
                msg = {
                    "header": {"stamp": _stamp(float(t[i])), "frame_id": ""},
                    "name": names,
                    "position": q[i].tolist(),
                    "velocity": qd[i].tolist(),
                    "effort": effort[i].tolist(),
                }
                w.write_message("/joint_states", js, msg, log_time=ns, publish_time=ns, sequence=i)
                i += 1
            else:
                ns = int(round(float(pose_t[j]) * 1e9))
                msg = {
                    "header": {"stamp": _stamp(float(pose_t[j])), "frame_id": base_frame},
                    "poses": [
                        {
                            "position": {"x": float(p[0]), "y": float(p[1]), "z": float(p[2])},
                            "orientation": {"x": float(p[3]), "y": float(p[4]), "z": float(p[5]), "w": float(p[6])},
                        }
                        for p in poses[j]
                    ],
                }
                w.write_message("/ground_truth/object_poses", pa, msg, log_time=ns, publish_time=ns, sequence=j)
                j += 1
        w.finish()
    os.replace(tmp, path)


def read_topic_counts(path: str | Path) -> dict[str, int]:
    """Number of messages per topic (decoding every message, as a reader would)."""
    counts: dict[str, int] = {}
    for _, channel, _, _ in iter_decoded(path):
        counts[channel.topic] = counts.get(channel.topic, 0) + 1
    return counts


def iter_decoded(path: str | Path, topics: list[str] | None = None):
    """Yield (schema, channel, message, decoded ROS 2 message) from an MCAP file."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        yield from reader.iter_decoded_messages(topics=topics)
