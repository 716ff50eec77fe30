"""The run's state log: MCAP with ROS 2 message schemas (``ros2`` profile, CDR encoding).

Foxglove and ``ros2 bag`` (rosbag2's MCAP storage) open it. The message definitions below are
the ROS 2 interface definitions of the named types (comments stripped), concatenated the way
rosbag2 writes them, so the log is written without a ROS 2 installation.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["JOINT_STATE_DEF", "POSE_ARRAY_DEF", "FLOAT64_DEF", "write_state_log", "read_topic_counts", "iter_decoded"]

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


FLOAT64_DEF = "float64 data\n"


def write_state_log(path: str | Path, rec, *, base_frame: str = "world") -> None:
    """Write a `RunRecord` to an MCAP file, atomically: /joint_states (sensor_msgs/JointState),
    /ground_truth/object_poses (geometry_msgs/PoseArray, the tracked objects in the record's
    order) and one /signals/NAME (std_msgs/Float64) per signal the procedure logged."""
    from mcap_ros2.writer import Writer

    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    names = list(rec.joint_names)
    # (time, order, topic, message) of every message, written in time order (MCAP readers like
    # monotonic log times); ties keep the order of the streams.
    items: list[tuple[int, int, str, dict]] = []
    for i, t in enumerate(rec.t):
        items.append((_ns(t), 0, "/joint_states", {
            "header": {"stamp": _stamp(float(t)), "frame_id": ""},
            "name": names, "position": rec.q[i].tolist(), "velocity": rec.qd[i].tolist(),
            "effort": rec.effort[i].tolist(),
        }))
    for j, t in enumerate(rec.object_t):
        items.append((_ns(t), 1, "/ground_truth/object_poses", {
            "header": {"stamp": _stamp(float(t)), "frame_id": base_frame},
            "poses": [
                {"position": {"x": float(p[0]), "y": float(p[1]), "z": float(p[2])},
                 "orientation": {"x": float(p[3]), "y": float(p[4]), "z": float(p[5]), "w": float(p[6])}}
                for p in rec.object_poses[j]
            ],
        }))
    for k, (name, samples) in enumerate(sorted(rec.signals.items())):
        for t, v in samples:
            items.append((_ns(t), 2 + k, f"/signals/{name}", {"data": float(v)}))
    items.sort(key=lambda it: (it[0], it[1]))
    with open(tmp, "wb") as f:
        w = Writer(f)
        schemas = {
            "/joint_states": w.register_msgdef("sensor_msgs/msg/JointState", JOINT_STATE_DEF),
            "/ground_truth/object_poses": w.register_msgdef("geometry_msgs/msg/PoseArray", POSE_ARRAY_DEF),
        }
        if rec.signals:
            f64 = w.register_msgdef("std_msgs/msg/Float64", FLOAT64_DEF)
            schemas.update({f"/signals/{name}": f64 for name in rec.signals})
        seq: dict[str, int] = {}
        for ns, _, topic, msg in items:
            seq[topic] = seq.get(topic, -1) + 1
            w.write_message(topic, schemas[topic], msg, log_time=ns, publish_time=ns, sequence=seq[topic])
        w.finish()
    os.replace(tmp, path)


def _ns(t: float) -> int:
    return int(round(float(t) * 1e9))


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
