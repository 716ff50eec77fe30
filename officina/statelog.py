"""The run's state log: MCAP with ROS 2 message schemas (``ros2`` profile, CDR encoding), streamed
to disk as the run goes.

Foxglove and ``ros2 bag`` (rosbag2's MCAP storage) open it. The messages are built and serialized
with rosbags' type store (the ROS 2 Kilted message definitions, no ROS 2 installation needed) and
written with the ``mcap`` library in chunks while the simulation runs, so a run that is stopped
keeps what it logged: the writer is finished on every way out of the run, and a process killed
outright leaves the complete chunks before the kill readable.

Topics: ``/joint_states`` (sensor_msgs/JointState), ``/ground_truth/object_poses``
(geometry_msgs/PoseArray, the task's tracked objects in a fixed order), ``/signals/NAME``
(std_msgs/Float64, what the procedure logged with ``Cell.log_signal``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["StateLog", "StateLogObserver", "read_topic_counts", "iter_decoded"]

_STORE = None


def _typestore():
    global _STORE
    if _STORE is None:
        from rosbags.typesys import Stores, get_typestore

        _STORE = get_typestore(Stores.ROS2_KILTED)
    return _STORE


class StateLog:
    """An MCAP file of ROS 2 messages, written as they come."""

    def __init__(self, path: str | Path, *, chunk_size: int = 256 * 1024) -> None:
        from mcap.writer import CompressionType, Writer

        from officina import __version__

        self.path = Path(path)
        self._ts = _typestore()
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file, chunk_size=chunk_size, compression=CompressionType.LZ4)
        self._writer.start(profile="ros2", library=f"officina {__version__}")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._seq: dict[str, int] = {}
        self._closed = False
        t = self._ts.types
        self._Time = t["builtin_interfaces/msg/Time"]
        self._Header = t["std_msgs/msg/Header"]

    def _channel(self, topic: str, typename: str) -> int:
        cid = self._channels.get(topic)
        if cid is None:
            sid = self._schemas.get(typename)
            if sid is None:
                text, _ = self._ts.generate_msgdef(typename, ros_version=2)
                sid = self._writer.register_schema(typename, "ros2msg", text.encode())
                self._schemas[typename] = sid
            cid = self._writer.register_channel(topic, "cdr", sid)
            self._channels[topic] = cid
            self._seq[topic] = 0
        return cid

    def header(self, t: float, frame_id: str = ""):
        ns = int(round(float(t) * 1e9))
        return self._Header(stamp=self._Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=frame_id)

    def write(self, topic: str, typename: str, msg, t: float) -> None:
        """Serialize ``msg`` (a rosbags message of ``typename``) and log it at time ``t`` (s)."""
        cid = self._channel(topic, typename)
        ns = int(round(float(t) * 1e9))
        seq = self._seq[topic]
        self._seq[topic] = seq + 1
        self._writer.add_message(cid, log_time=ns, publish_time=ns, sequence=seq,
                                 data=self._ts.serialize_cdr(msg, typename))

    def joint_state(self, t: float, names: Sequence[str], q, qd, effort) -> None:
        JS = self._ts.types["sensor_msgs/msg/JointState"]
        self.write("/joint_states", "sensor_msgs/msg/JointState",
                   JS(header=self.header(t), name=list(names), position=np.ascontiguousarray(q, float),
                      velocity=np.ascontiguousarray(qd, float), effort=np.ascontiguousarray(effort, float)), t)

    def poses(self, topic: str, t: float, poses: np.ndarray, frame_id: str = "world") -> None:
        """``poses``: (K, 7) x y z qx qy qz qw."""
        ty = self._ts.types
        P, Pt, Q = ty["geometry_msgs/msg/Pose"], ty["geometry_msgs/msg/Point"], ty["geometry_msgs/msg/Quaternion"]
        msg = ty["geometry_msgs/msg/PoseArray"](header=self.header(t, frame_id), poses=[
            P(position=Pt(x=float(p[0]), y=float(p[1]), z=float(p[2])),
              orientation=Q(x=float(p[3]), y=float(p[4]), z=float(p[5]), w=float(p[6]))) for p in poses])
        self.write(topic, "geometry_msgs/msg/PoseArray", msg, t)

    def scalar(self, topic: str, t: float, value: float) -> None:
        self.write(topic, "std_msgs/msg/Float64", self._ts.types["std_msgs/msg/Float64"](data=float(value)), t)

    def close(self) -> None:
        """Finish the file (summary and index); safe to call more than once."""
        if not self._closed:
            self._closed = True
            try:
                self._writer.finish()
            finally:
                self._file.close()


class StateLogObserver:
    """Observes the run loop and streams what the `Recorder` recorded (joint states, object poses)
    and what the procedure logged (signals) to a `StateLog`."""

    def __init__(self, log: StateLog, joint_names: Sequence[str], base_frame: str = "world") -> None:
        self.log = log
        self._rec = None
        self._names = list(joint_names)
        self._frame = base_frame
        self._n_js = 0
        self._n_pose = 0
        self._n_sig: dict[str, int] = {}

    def attach(self, recorder) -> None:
        self._rec = recorder

    def on_tick(self, k: int, state) -> None:
        rec = self._rec
        if len(rec.t) > self._n_js or len(rec.pose_t) > self._n_pose:
            self.flush()

    def flush(self) -> None:
        """Write everything recorded since the last call (the loop calls it; so does the end of a run)."""
        rec, log = self._rec, self.log
        if rec is None:
            return
        for i in range(self._n_js, len(rec.t)):
            log.joint_state(rec.t[i], self._names, rec.q[i], rec.qd[i], rec.effort[i])
        self._n_js = len(rec.t)
        for j in range(self._n_pose, len(rec.pose_t)):
            log.poses("/ground_truth/object_poses", rec.pose_t[j], rec.poses[j], self._frame)
        self._n_pose = len(rec.pose_t)
        for name, samples in rec.signals.items():
            done = self._n_sig.get(name, 0)
            for t, v in samples[done:]:
                log.scalar(f"/signals/{name}", t, v)
            self._n_sig[name] = len(samples)


def read_topic_counts(path: str | Path) -> dict[str, int]:
    """Number of messages per topic (decoding every message, as a reader would)."""
    counts: dict[str, int] = {}
    for _, channel, _, _ in iter_decoded(path):
        counts[channel.topic] = counts.get(channel.topic, 0) + 1
    return counts


def iter_decoded(path: str | Path, topics: list[str] | None = None):
    """Yield (schema, channel, message, decoded ROS 2 message) from an MCAP file, with the mcap
    library's own ROS 2 decoder (independent of the writer's serializer)."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        yield from reader.iter_decoded_messages(topics=topics)
