"""`officina ros record`: topics to a rosbag2-compatible MCAP file.

What rosbag2's MCAP storage writes, and so what ``ros2 bag info/play``, Foxglove and the Python
``mcap`` / ``mcap_ros2`` readers expect: profile ``ros2``; one schema per message type, named
``pkg/msg/Type``, encoding ``ros2msg``, data = the type's ``.msg`` text followed, for each nested
type, by a line of 80 ``=``, ``MSG: pkg/Type`` and that type's ``.msg`` text; one channel per topic
with message encoding ``cdr`` and metadata ``offered_qos_profiles`` (the publishers' QoS, YAML)
and ``topic_type_hash`` (RIHS01); messages are the serialized CDR bytes exactly as received
(subscriptions with ``raw=True``: nothing is deserialized), log and publish time = receive time.

Message definitions come from the installed interface files (``share/<pkg>/msg/*.msg`` under the
ament prefixes, the conda prefix or the Python environment: the ROS wheels and RoboStack ship them).
The file is written as ``FILE.part`` and renamed when recording stops, so an interrupted
recording never leaves a half-written FILE.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

__all__ = ["Recorder", "find_msg_file", "message_definition", "record"]

_SEP = "=" * 80
_PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
               "int64", "uint64", "string", "wstring"}


def _prefixes() -> list[Path]:
    out = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for p in (os.environ.get("CONDA_PREFIX"), sys.prefix, sys.base_prefix):
        if p:
            out.append(Path(p))
    return out


def find_msg_file(pkg: str, name: str) -> Path:
    for prefix in _prefixes():
        f = prefix / "share" / pkg / "msg" / f"{name}.msg"
        if f.is_file():
            return f
    raise FileNotFoundError(f"no {pkg}/msg/{name}.msg under {', '.join(map(str, _prefixes()))} (set AMENT_PREFIX_PATH)")


def _field_types(text: str, pkg: str) -> list[str]:
    """Nested message types (``pkg/Type``) of a .msg text, in order of appearance."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        tok, _, rest = line.partition(" ")
        name = rest.strip().split(" ", 1)[0]
        if "=" in name or rest.strip()[len(name):].lstrip().startswith("="):
            continue  # a constant: TYPE NAME=VALUE
        base = re.sub(r"\[.*?\]$", "", tok)
        base = re.sub(r"<=\d+$", "", base)
        if base in _PRIMITIVES:
            continue
        if base == "Header":
            out.append("std_msgs/Header")
        elif "/" in base:
            p, n = base.split("/")[0], base.split("/")[-1]
            out.append(f"{p}/{n}")
        else:
            out.append(f"{pkg}/{base}")
    return out


def message_definition(type_name: str) -> str:
    """The rosbag2 ``ros2msg`` definition of ``pkg/msg/Type``: its .msg text and every nested type's."""
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ValueError(f"message type {type_name!r}: expected pkg/msg/Type")
    pkg, name = parts[0], parts[2]
    top = find_msg_file(pkg, name).read_text()
    chunks = [top.rstrip("\n")]
    seen: set[str] = set()
    queue = _field_types(top, pkg)
    while queue:
        dep = queue.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        p, n = dep.split("/")
        text = find_msg_file(p, n).read_text()
        chunks.append(f"{_SEP}\nMSG: {dep}\n{text.rstrip(chr(10))}")
        queue.extend(_field_types(text, p))
    return "\n".join(chunks) + "\n"


def _qos_yaml(infos) -> str:
    """rosbag2's ``offered_qos_profiles`` of the topic's publishers."""
    def dur(d) -> str:
        ns = int(getattr(d, "nanoseconds", 0))
        if ns <= 0 or ns >= 0x7FFFFFFFFFFFFFFF:
            return "    sec: 2147483647\n    nsec: 4294967295\n"
        return f"    sec: {ns // 1_000_000_000}\n    nsec: {ns % 1_000_000_000}\n"

    out = []
    for i in infos:
        q = i.qos_profile
        out.append(
            f"- history: {int(q.history)}\n  depth: {int(q.depth)}\n  reliability: {int(q.reliability)}\n"
            f"  durability: {int(q.durability)}\n  deadline:\n{dur(q.deadline)}  lifespan:\n{dur(q.lifespan)}"
            f"  liveliness: {int(q.liveliness)}\n  liveliness_lease_duration:\n{dur(q.liveliness_lease_duration)}"
            f"  avoid_ros_namespace_conventions: false\n")
    return "".join(out)


def _type_hash(infos) -> str:
    for i in infos:
        h = getattr(i, "topic_type_hash", None)
        if h is None:
            continue
        s = str(h)
        m = re.search(r"RIHS01_[0-9a-f]{64}", s)
        if m:
            return m.group(0)
        value = getattr(h, "value", None)
        if value is not None and int(getattr(h, "version", 1)) == 1:
            return "RIHS01_" + bytes(value).hex()
    return ""


class Recorder:
    """Subscribes ``topics`` raw on ``node`` (once their type is known) and writes an MCAP file."""

    def __init__(self, node, topics: list[str], out: str | os.PathLike) -> None:
        from mcap.writer import CompressionType, Writer

        if not topics:
            raise ValueError("record: no topics given")
        self.node = node
        self.topics = [t if t.startswith("/") else "/" + t for t in topics]
        self.out = Path(out)
        self.part = self.out.with_name(self.out.name + ".part")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.part, "wb")
        self.writer = Writer(self._fh, compression=CompressionType.ZSTD)
        self.writer.start(profile="ros2", library="officina ros record")
        self.channels: dict[str, int] = {}
        self.counts: dict[str, int] = {t: 0 for t in self.topics}
        self._schemas: dict[str, int] = {}
        self._subs = []
        self._closed = False

    def pending(self) -> list[str]:
        return [t for t in self.topics if t not in self.channels]

    def discover(self) -> None:
        """Subscribe the topics whose type (and publishers' QoS) is now known."""
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        known = dict(self.node.get_topic_names_and_types())
        for topic in self.pending():
            types = known.get(topic)
            if not types:
                continue
            type_name = types[0]
            infos = self.node.get_publishers_info_by_topic(topic)
            if not infos:
                continue
            if type_name not in self._schemas:
                self._schemas[type_name] = self.writer.register_schema(
                    name=type_name, encoding="ros2msg", data=message_definition(type_name).encode())
            self.channels[topic] = self.writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=self._schemas[type_name],
                metadata={"offered_qos_profiles": _qos_yaml(infos), "topic_type_hash": _type_hash(infos)})
            # as rosbag2: reliable/transient-local only if every publisher offers it
            rel = all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
            tl = all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
            qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE if rel else ReliabilityPolicy.BEST_EFFORT,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if tl else DurabilityPolicy.VOLATILE)
            msg_cls = _import_type(type_name)
            self._subs.append(self.node.create_subscription(
                msg_cls, topic, lambda data, topic=topic: self._write(topic, data), qos, raw=True))
            self.node.get_logger().info(f"recording {topic} [{type_name}]")

    def _write(self, topic: str, data: bytes) -> None:
        if self._closed:
            return
        t = time.time_ns()
        self.writer.add_message(channel_id=self.channels[topic], log_time=t, publish_time=t, data=bytes(data),
                                sequence=self.counts[topic])
        self.counts[topic] += 1

    def close(self) -> Path:
        """Finish the file and move it into place (also after Ctrl-C)."""
        if self._closed:
            return self.out
        self._closed = True
        for s in self._subs:
            self.node.destroy_subscription(s)
        self.writer.finish()
        self._fh.close()
        os.replace(self.part, self.out)
        return self.out


def _import_type(type_name: str):
    import importlib

    pkg, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


def record(node, executor, topics: list[str], out, duration_s: float | None = None,
           discovery_timeout_s: float = 10.0) -> dict[str, int]:
    """Record until ``duration_s`` has passed since the first topic was subscribed (None: until
    Ctrl-C); returns message counts per topic. Topics not found within ``discovery_timeout_s`` are
    reported and the others are recorded."""
    rec = Recorder(node, topics, out)
    try:
        start = time.monotonic()
        t0 = None
        warned = False
        while True:
            if rec.pending():
                rec.discover()
                if t0 is None and rec.channels:
                    t0 = time.monotonic()
                if rec.pending() and time.monotonic() - start > discovery_timeout_s and not warned:
                    warned = True
                    node.get_logger().warning(f"no publisher of {rec.pending()} after {discovery_timeout_s} s; "
                                              "recording the others")
                    if not rec.channels:
                        from officina.errors import JobFailed

                        raise JobFailed(f"no publisher of any of {rec.topics} within {discovery_timeout_s} s")
            if t0 is not None and duration_s is not None and time.monotonic() - t0 >= duration_s:
                break
            executor.spin_once(timeout_sec=0.05)
    finally:
        rec.close()
    return dict(rec.counts)
