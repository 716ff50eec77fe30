"""The run's state log: MCAP with ROS 2 message schemas (``ros2`` profile, CDR encoding), streamed
to disk as the run goes, with what Foxglove's 3D panel needs to show the run as it happened.

Foxglove and ``ros2 bag`` (rosbag2's MCAP storage) open it. The messages are built and serialized
with rosbags' type store (the ROS 2 Kilted message definitions, no ROS 2 installation needed) and
written with the ``mcap`` library in chunks.

Topics (frames: ``world``, the robot's URDF links, ``tcp``, ``scene/NAME`` for every other body,
``camera`` for the camera's optical frame):

* ``/joint_states`` (sensor_msgs/JointState, the arm's joints) and ``/gripper/joint_states`` (the
  fingers' positions from the gripper's width), at ``log.joint_state_hz``;
* ``/tf`` (tf2_msgs/TFMessage): the robot's moving joints at ``log.tf_hz`` and at the last sample
  (Pinocchio's forward kinematics of the robot's full URDF at the logged joint states), every
  other body's links at ``log.object_pose_hz``, the camera at each capture;
* ``/tf_static``: world to the robot's root link, the robot's fixed joints, ``tcp``;
* ``/robot_description`` (std_msgs/String): the URDF the run used, mesh references made absolute
  ``file://`` URIs (of this machine: a run folder copied elsewhere shows no mesh, docs/replay.md);
* ``/scene/markers`` (visualization_msgs/MarkerArray): every body that is not the robot, as
  PyBullet describes its visual shapes (boxes, cylinders, spheres, meshes, colours), one marker
  per shape in its link's frame;
* ``/camera/image_raw/compressed`` (sensor_msgs/CompressedImage, JPEG) and
  ``/camera/camera_info`` (sensor_msgs/CameraInfo) for every image the procedure captured;
* ``/ground_truth/object_poses`` (geometry_msgs/PoseArray, the task's tracked objects in a fixed
  order), ``/signals/NAME`` (std_msgs/Float64, what the procedure logged with
  ``Cell.log_signal``), ``/rosout`` (rcl_interfaces/Log, the procedure's events).

``/robot_description`` and ``/scene/markers`` are written at time zero and again every
``republish_s`` of simulated time, so that a player that seeks finds them.

Off the simulation's critical path: the run loop only gathers raw arrays (`StateLogObserver`);
building, serializing and writing the messages (`LogEncoder`) happens in a writer process
(``python -m officina.statelog_writer``) fed through a pipe in batches, or inline (in the run's
thread) when asked and in a sweep's workers, where every core runs a run and a writer process
would only add its start-up. A run that is stopped keeps what it logged: the observer is closed
on every way out of the run, and when the run's process is killed outright the writer process
sees the pipe close and finishes the file with everything it was sent; an inline log of a process
killed outright has no summary and is readable up to its last complete chunk (`iter_decoded`).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from officina.processes import wait_process

__all__ = ["StateLog", "LogEncoder", "StateLogObserver", "auto_writer", "warm_up", "cell_header", "read_topic_counts", "iter_decoded",
           "CAMERA_FRAME", "IMAGE_TOPIC", "CAMERA_INFO_TOPIC", "MARKER_TOPIC", "FOXGLOVE_LAYOUT"]

# A Foxglove layout for these logs: the 3D panel (robot, scene, camera image), the camera, joint and
# finger plots, the events (Layouts > Import from file).
FOXGLOVE_LAYOUT = Path(__file__).parent / "data" / "foxglove_layout.json"

CAMERA_FRAME = "camera"
IMAGE_TOPIC = "/camera/image_raw/compressed"
CAMERA_INFO_TOPIC = "/camera/camera_info"
MARKER_TOPIC = "/scene/markers"

_STORE = None

# What ``writer="auto"`` means in this process: a writer process, unless a sweep's worker said
# otherwise (`auto_writer`).
_AUTO_WRITER = "process"


@contextlib.contextmanager
def auto_writer(kind: str):
    """Within the block, ``writer="auto"`` is ``kind`` ("process" or "inline"). A sweep's worker
    runs its runs with "inline": there every core runs a run, so a writer process would take its
    CPU from another run, and encoding in the run's thread saves the process's start-up (the
    interpreter, the ROS type store, the robot's model) and the pickling."""
    global _AUTO_WRITER
    if kind not in ("process", "inline"):
        raise ValueError(f"state log writer {kind!r}: expected 'process' or 'inline'")
    saved, _AUTO_WRITER = _AUTO_WRITER, kind
    try:
        yield
    finally:
        _AUTO_WRITER = saved


def _typestore():
    global _STORE
    if _STORE is None:
        from rosbags.typesys import Stores, get_typestore

        _STORE = get_typestore(Stores.ROS2_KILTED)
    return _STORE


# the message types a run's log writes
LOGGED_TYPES = ("sensor_msgs/msg/JointState", "geometry_msgs/msg/PoseArray", "std_msgs/msg/Float64",
                "std_msgs/msg/String", "tf2_msgs/msg/TFMessage", "rcl_interfaces/msg/Log",
                "visualization_msgs/msg/MarkerArray", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo")


def warm_up() -> None:
    """Load what the first log in a process would: the MCAP writer, the ROS 2 type store and the
    generated serializers of the logged message types (for a process that runs many runs)."""
    import mcap.writer  # noqa: F401

    ts = _typestore()
    for typename in LOGGED_TYPES:
        ts.get_msgdef(typename)


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
        self._channels: dict[str, list] = {}  # topic -> [channel id, next sequence number, serializer]
        self._closed = False
        self.types = self._ts.types
        self._Time = self.types["builtin_interfaces/msg/Time"]
        self._Header = self.types["std_msgs/msg/Header"]
        self._JointState = self.types["sensor_msgs/msg/JointState"]
        self._no_values = np.zeros(0)
        # (topic, the lists' ids) -> (parents, children, the TFMessage last written for them)
        self._tf_messages: dict[tuple[str, int, int], tuple[list, list, Any]] = {}

    def _channel(self, topic: str, typename: str) -> list:
        ch = self._channels.get(topic)
        if ch is None:
            sid = self._schemas.get(typename)
            if sid is None:
                text, _ = self._ts.generate_msgdef(typename, ros_version=2)
                sid = self._writer.register_schema(typename, "ros2msg", text.encode())
                self._schemas[typename] = sid
            ch = self._channels[topic] = [self._writer.register_channel(topic, "cdr", sid), 0,
                                          self._serializer(typename)]
        return ch

    def _serializer(self, typename: str):
        """CDR of a ``typename`` message with its 4-byte encapsulation header, in this machine's byte
        order: rosbags' generated size and serialize functions of the type, called directly (what
        its ``Typestore.serialize_cdr`` does after looking the type up)."""
        ts = self._ts
        msgdef = ts.get_msgdef(typename)
        if not all(hasattr(msgdef, f) for f in ("getsize_cdr", "serialize_cdr_le", "serialize_cdr_be")):
            return lambda msg: ts.serialize_cdr(msg, typename)  # a rosbags that keeps them elsewhere
        little = sys.byteorder == "little"
        getsize, ser = msgdef.getsize_cdr, (msgdef.serialize_cdr_le if little else msgdef.serialize_cdr_be)
        head = bytes((0, int(little)))

        def serialize(msg) -> bytearray:
            raw = bytearray(4 + getsize(0, msg, ts))
            raw[:2] = head
            ser(memoryview(raw)[4:], 0, msg, ts)
            return raw

        return serialize

    def stamp(self, t: float):
        ns = int(round(float(t) * 1e9))
        return self._Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def header(self, t: float, frame_id: str = ""):
        return self._Header(stamp=self.stamp(t), frame_id=frame_id)

    def write(self, topic: str, typename: str, msg, t: float) -> None:
        """Serialize ``msg`` (a rosbags message of ``typename``) and log it at time ``t`` (s)."""
        ch = self._channels.get(topic) or self._channel(topic, typename)
        ns = int(round(float(t) * 1e9))
        seq = ch[1]
        ch[1] = seq + 1
        self._writer.add_message(ch[0], log_time=ns, publish_time=ns, sequence=seq, data=ch[2](msg))

    def joint_state(self, t: float, names: Sequence[str], q, qd=None, effort=None, topic: str = "/joint_states") -> None:
        empty = self._no_values
        self.write(topic, "sensor_msgs/msg/JointState",
                   self._JointState(header=self.header(t), name=names if isinstance(names, list) else list(names),
                                    position=np.ascontiguousarray(q, float),
                                    velocity=empty if qd is None else np.ascontiguousarray(qd, float),
                                    effort=empty if effort is None else np.ascontiguousarray(effort, float)), t)

    def pose_msg(self, p):
        """geometry_msgs/Pose of x y z qx qy qz qw."""
        ty = self.types
        return ty["geometry_msgs/msg/Pose"](
            position=ty["geometry_msgs/msg/Point"](x=float(p[0]), y=float(p[1]), z=float(p[2])),
            orientation=ty["geometry_msgs/msg/Quaternion"](x=float(p[3]), y=float(p[4]), z=float(p[5]),
                                                           w=float(p[6])))

    def poses(self, topic: str, t: float, poses: np.ndarray, frame_id: str = "world") -> None:
        """``poses``: (K, 7) x y z qx qy qz qw."""
        msg = self.types["geometry_msgs/msg/PoseArray"](header=self.header(t, frame_id),
                                                         poses=[self.pose_msg(p) for p in poses])
        self.write(topic, "geometry_msgs/msg/PoseArray", msg, t)

    def scalar(self, topic: str, t: float, value: float) -> None:
        self.write(topic, "std_msgs/msg/Float64", self.types["std_msgs/msg/Float64"](data=float(value)), t)

    def string(self, topic: str, t: float, text: str) -> None:
        self.write(topic, "std_msgs/msg/String", self.types["std_msgs/msg/String"](data=text), t)

    def transforms(self, t: float, parents: Sequence[str], children: Sequence[str], poses: np.ndarray,
                   topic: str = "/tf") -> None:
        """One tf2_msgs/TFMessage: ``children[i]`` in ``parents[i]`` at ``poses[i]`` (x y z qx qy qz qw)."""
        stamp = self.stamp(t)
        key = (topic, id(parents), id(children))
        cached = self._tf_messages.get(key)
        if cached is not None and cached[0] is parents and cached[1] is children:
            # the same frames as last time: the message's objects filled with this sample
            msg = cached[2]
            for ts_, p in zip(msg.transforms, np.asarray(poses, float).tolist()):
                ts_.header.stamp = stamp
                tr, rot = ts_.transform.translation, ts_.transform.rotation
                tr.x, tr.y, tr.z, rot.x, rot.y, rot.z, rot.w = p
        else:
            ty = self.types
            TS, TF = ty["geometry_msgs/msg/TransformStamped"], ty["geometry_msgs/msg/Transform"]
            V, Q = ty["geometry_msgs/msg/Vector3"], ty["geometry_msgs/msg/Quaternion"]
            Header = self._Header
            out = []
            for parent, child, p in zip(parents, children, np.asarray(poses, float).tolist()):
                out.append(TS(header=Header(stamp=stamp, frame_id=parent), child_frame_id=child,
                              transform=TF(translation=V(x=p[0], y=p[1], z=p[2]),
                                           rotation=Q(x=p[3], y=p[4], z=p[5], w=p[6]))))
            msg = ty["tf2_msgs/msg/TFMessage"](transforms=out)
            if isinstance(parents, list) and isinstance(children, list):  # the caller's own lists: reused
                self._tf_messages[key] = (parents, children, msg)
        self.write(topic, "tf2_msgs/msg/TFMessage", msg, t)

    def log_line(self, t: float, name: str, text: str, level: int = 20) -> None:
        """One rcl_interfaces/Log on /rosout (level 20: INFO, 30: WARN)."""
        Log = self.types["rcl_interfaces/msg/Log"]
        self.write("/rosout", "rcl_interfaces/msg/Log",
                   Log(stamp=self.stamp(t), level=level, name=name, msg=text, file="", function="", line=0), t)

    def close(self) -> None:
        """Finish the file (summary and index); safe to call more than once."""
        if not self._closed:
            self._closed = True
            try:
                self._writer.finish()
            finally:
                self._file.close()


# --- the robot's links from its model ------------------------------------------------------------

def _mesh_uri(filename: str, urdf_dir: Path) -> str:
    """An absolute file:// URI for a URDF mesh reference (package://, relative or absolute path);
    http(s):// and file:// unchanged; what cannot be found unchanged."""
    if filename.startswith(("http://", "https://", "file://")):
        return filename
    if filename.startswith("package://"):
        rest = filename[len("package://"):]
        # PyBullet resolves package://REST against the URDF's folder; ROS against the package
        # named by REST's first component. Try both, walking up from the URDF's folder.
        cands = []
        for d in (urdf_dir, *urdf_dir.parents):
            cands += [d / rest, d / rest.split("/", 1)[-1]]
        for c in cands:
            if c.is_file():
                return c.resolve().as_uri()
        return filename
    path = Path(filename)
    path = path if path.is_absolute() else urdf_dir / path
    return path.resolve().as_uri() if path.is_file() else filename


def robot_description(urdf_path: str | Path) -> str:
    """The URDF text with every mesh reference an absolute file:// URI (what Foxglove's desktop app
    loads from the machine that holds the files)."""
    import xml.etree.ElementTree as ET

    path = Path(urdf_path)
    root = ET.parse(path).getroot()
    for mesh in root.iter("mesh"):
        fn = mesh.get("filename")
        if fn:
            mesh.set("filename", _mesh_uri(fn, path.parent))
    return ET.tostring(root, encoding="unicode")


def _rpy_quat(rpy) -> np.ndarray:
    import pinocchio as pin

    return np.asarray(pin.Quaternion(pin.rpy.rpyToMatrix(*map(float, rpy))).coeffs(), float)


class RobotTransforms:
    """The transforms between a robot's URDF links at a joint state: Pinocchio's forward kinematics
    of the full URDF (arm joints from the joint state, each finger at width / number of fingers,
    any other joint at its neutral value)."""

    def __init__(self, urdf_path: str, joint_names: Sequence[str], finger_joints: Sequence[str]) -> None:
        import pinocchio as pin

        self._pin = pin
        self.model = pin.buildModelFromUrdf(str(urdf_path))
        self.data = self.model.createData()
        m = self.model
        self._q0 = pin.neutral(m)

        def q_index(name: str) -> tuple[int, int]:
            if not m.existJointName(name):
                raise ValueError(f"state log: joint {name!r} is not in {urdf_path}")
            j = m.getJointId(name)
            return m.idx_qs[j], m.nqs[j]

        self._arm = [q_index(n) for n in joint_names]
        self._fingers = [q_index(n) for n in finger_joints]
        self.root = m.frames[1].name if len(m.frames) > 1 else "base"
        moving, fixed = [], []
        for fid, f in enumerate(m.frames):
            if f.type != pin.FrameType.BODY or f.parentFrame == 0:
                continue
            jf = m.frames[f.parentFrame]
            parent = m.frames[jf.parentFrame]
            if parent.type != pin.FrameType.BODY:
                continue
            (moving if jf.type == pin.FrameType.JOINT else fixed).append((jf.parentFrame, fid))
        self._moving = moving
        self.moving_parents = [m.frames[a].name for a, _ in moving]
        self.moving_children = [m.frames[b].name for _, b in moving]
        self.fixed_parents = [m.frames[a].name for a, _ in fixed]
        self.fixed_children = [m.frames[b].name for _, b in fixed]
        self.links = [f.name for f in m.frames if f.type == pin.FrameType.BODY]
        self._fixed = fixed

    def q(self, q_arm, width: float | None) -> np.ndarray:
        q = self._q0.copy()
        for (i, nq), v in zip(self._arm, q_arm):
            self._set(q, i, nq, float(v))
        if self._fingers and width is not None and math.isfinite(width):
            per = float(width) / len(self._fingers)
            for i, nq in self._fingers:
                self._set(q, i, nq, per)
        return q

    @staticmethod
    def _set(q: np.ndarray, i: int, nq: int, v: float) -> None:
        if nq == 1:
            q[i] = v
        elif nq == 2:  # continuous joint: (cos, sin)
            q[i], q[i + 1] = math.cos(v), math.sin(v)

    def _relative(self, pairs) -> np.ndarray:
        oMf, xyzquat = self.data.oMf, self._pin.SE3ToXYZQUAT
        out = np.empty((len(pairs), 7))
        for k, (a, b) in enumerate(pairs):
            out[k] = xyzquat(oMf[a].actInv(oMf[b]))
        return out

    def moving_poses(self, q: np.ndarray) -> np.ndarray:
        """(J, 7) child-in-parent poses of the moving joints at the full configuration ``q``."""
        self._pin.framesForwardKinematics(self.model, self.data, q)
        return self._relative(self._moving)

    def fixed_poses(self) -> np.ndarray:
        self._pin.framesForwardKinematics(self.model, self.data, self._q0)
        return self._relative(self._fixed)


# --- the encoder: raw arrays in, messages out ----------------------------------------------------

_MARKER_TYPES = {"box": 1, "sphere": 2, "cylinder": 3, "mesh": 10}


class LogEncoder:
    """Turns what the run loop gathered (`cell_header`, then batches from `StateLogObserver`) into
    the state log's messages. Runs in the writer process, or inline."""

    def __init__(self, log: StateLog, header: dict[str, Any]) -> None:
        self.log = log
        self.h = header
        self._base = header.get("base_frame", "world")
        self._names = list(header["joint_names"])
        self._republish_s = float(header.get("republish_s", 1.0))
        self._next_republish = self._republish_s
        self._tf_period = float(header.get("tf_period_s", 0.0))
        self._next_tf = 0.0
        self._untold = None  # the last joint state whose links are not on /tf yet
        self._robot = None
        self._description = None
        self._finger_names: list[str] = []
        frames = header.get("frames", [])
        self._frame_names = [f["name"] for f in frames]
        self._frame_parents = [self._base] * len(frames)
        self._com = np.array([f["com_offset"] for f in frames], float).reshape(-1, 7)
        self._is_base = np.array([f["is_base"] for f in frames], bool)
        r = header.get("robot")
        if r is not None:
            self._robot = RobotTransforms(r["urdf"], r["joint_names"], r["finger_joints"])
            self._finger_names = list(r["finger_joints"])
            self._description = robot_description(r["urdf"])
        self._markers = self._marker_array(frames)
        self._static()

    def _static(self) -> None:
        log, parents, children, poses = self.log, [], [], []
        r = self.h.get("robot")
        if self._robot is not None:
            rt = self._robot
            if rt.root != self._base:
                parents.append(self._base)
                children.append(rt.root)
                poses.append(np.asarray(r["world_T_root"], float))
            parents += rt.fixed_parents
            children += rt.fixed_children
            poses += list(rt.fixed_poses())
            tcp = r.get("tcp")
            if tcp and "tcp" not in rt.links:
                parents.append(tcp["parent"])
                children.append("tcp")
                poses.append(np.concatenate([np.asarray(tcp["xyz"], float), _rpy_quat(tcp["rpy"])]))
        if parents:
            log.transforms(0.0, parents, children, np.array(poses), topic="/tf_static")
        self._republish(0.0)

    def _republish(self, t: float) -> None:
        if self._description is not None:
            self.log.string("/robot_description", t, self._description)
        if self._markers is not None:
            for m in self._markers.markers:
                m.header.stamp = self.log.stamp(t)
            self.log.write(MARKER_TOPIC, "visualization_msgs/msg/MarkerArray", self._markers, t)

    def _marker_array(self, frames):
        if not frames:
            return None
        ty = self.log.types
        M, C, V = ty["visualization_msgs/msg/Marker"], ty["std_msgs/msg/ColorRGBA"], ty["geometry_msgs/msg/Vector3"]
        Duration = ty["builtin_interfaces/msg/Duration"]
        MeshFile = ty["visualization_msgs/msg/MeshFile"]
        Image = ty["sensor_msgs/msg/CompressedImage"]
        log = self.log
        markers = []

        def add(frame: str, idx: int, kind: str, pose, scale, rgba, mesh: str = "") -> None:
            markers.append(M(
                header=log.header(0.0, frame), ns=frame, id=idx, type=_MARKER_TYPES[kind], action=0,
                pose=log.pose_msg(pose), scale=V(x=float(scale[0]), y=float(scale[1]), z=float(scale[2])),
                color=C(r=float(rgba[0]), g=float(rgba[1]), b=float(rgba[2]), a=float(rgba[3])),
                lifetime=Duration(sec=0, nanosec=0), frame_locked=True, points=[], colors=[],
                texture_resource="", texture=Image(header=log.header(0.0), format="", data=np.zeros(0, np.uint8)),
                uv_coordinates=[], text="", mesh_resource=mesh,
                mesh_file=MeshFile(filename="", data=np.zeros(0, np.uint8)), mesh_use_embedded_materials=False))

        for f in frames:
            i = 0
            for s in f["shapes"]:
                kind, size, pose, rgba = s["kind"], s["size"], np.asarray(s["pose"], float), s["rgba"]
                if kind == "box":
                    add(f["name"], i, "box", pose, size, rgba)
                elif kind == "sphere":
                    add(f["name"], i, "sphere", pose, [2 * size[0]] * 3, rgba)
                elif kind in ("cylinder", "capsule"):
                    r, length = size
                    add(f["name"], i, "cylinder", pose, (2 * r, 2 * r, length), rgba)
                    if kind == "capsule":  # a cylinder and its two end spheres
                        from officina.sim.visuals import compose_xyzw

                        for sgn in (-1.0, 1.0):
                            i += 1
                            end = compose_xyzw(pose, np.array([0, 0, sgn * length / 2, 0, 0, 0, 1.0]))
                            add(f["name"], i, "sphere", end, [2 * r] * 3, rgba)
                elif kind == "plane":
                    add(f["name"], i, "box", pose, (20.0, 20.0, 0.001), rgba)
                elif kind == "mesh":
                    uri = s["mesh"]
                    uri = Path(uri).as_uri() if uri and os.path.isabs(uri) else uri
                    add(f["name"], i, "mesh", pose, size, rgba, uri)
                i += 1
        return ty["visualization_msgs/msg/MarkerArray"](markers=markers)

    def batch(self, b: dict[str, Any]) -> None:
        """Write one batch of samples (see `StateLogObserver.flush`)."""
        log = self.log
        t, q, qd, effort = b["t"], b["q"], b["qd"], b["effort"]
        width = b.get("width")
        rt = self._robot
        names, fingers = self._names, self._finger_names
        times = np.asarray(t, float).tolist()
        widths = [None] * len(times) if width is None else np.asarray(width, float).tolist()
        if fingers and width is not None:  # each finger at the width / the number of fingers
            finger_q = np.repeat((np.asarray(width, float) / len(fingers))[:, None], len(fingers), axis=1)
        for i, ti in enumerate(times):
            log.joint_state(ti, names, q[i], qd[i], effort[i])
            w = widths[i]
            if fingers and w is not None and math.isfinite(w):
                log.joint_state(ti, fingers, finger_q[i], topic="/gripper/joint_states")
            if rt is not None:
                if ti >= self._next_tf - 1e-9:
                    self._robot_tf(ti, q[i], w)
                    while self._next_tf <= ti + 1e-9:
                        self._next_tf += self._tf_period
                else:
                    self._untold = (ti, q[i], w)
        for j in range(len(b.get("pose_t", ()))):
            log.poses("/ground_truth/object_poses", b["pose_t"][j], b["tracked"][j], self._base)
        ft = b.get("frames_t", ())
        if len(ft) and self._frame_names:
            from officina.sim.visuals import link_frames_from_raw

            poses = link_frames_from_raw(b["frames_raw"], self._com, self._is_base)
            for j in range(len(ft)):
                log.transforms(float(ft[j]), self._frame_parents, self._frame_names, poses[j])
        for name, samples in b.get("signals", {}).items():
            for ts_, v in samples:
                log.scalar(f"/signals/{name}", ts_, v)
        for ev in b.get("events", ()):
            info = {k: v for k, v in ev.items() if k not in ("t", "event")}
            text = ev.get("event", "") + (" " + _json(info) if info else "")
            log.log_line(float(ev.get("t", 0.0)), self.h.get("task", "task"), text)
        for cap in b.get("captures", ()):
            self._capture(cap)
        last = float(t[-1]) if len(t) else 0.0
        while last >= self._next_republish:
            self._republish(self._next_republish)
            self._next_republish += self._republish_s

    def _robot_tf(self, t: float, q, width) -> None:
        rt = self._robot
        self.log.transforms(t, rt.moving_parents, rt.moving_children, rt.moving_poses(rt.q(q, width)))
        self._untold = None

    def _capture(self, cap: dict[str, Any]) -> None:
        import cv2

        log, ty = self.log, self.log.types
        t = float(cap["t"])
        if cap.get("world_T_camera") is not None:
            log.transforms(t, [self._base], [CAMERA_FRAME], np.asarray(cap["world_T_camera"], float)[None])
        rgb = np.asarray(cap["rgb"])
        ok, jpg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if ok:
            log.write(IMAGE_TOPIC, "sensor_msgs/msg/CompressedImage",
                      ty["sensor_msgs/msg/CompressedImage"](header=log.header(t, CAMERA_FRAME), format="jpeg",
                                                            data=np.asarray(jpg, np.uint8).reshape(-1)), t)
        w, h, fx, fy, cx, cy, dist = cap["intrinsics"]
        roi = ty["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        d = np.zeros(5) if not any(dist) else np.asarray(dist, float)
        info = ty["sensor_msgs/msg/CameraInfo"](
            header=log.header(t, CAMERA_FRAME), height=int(h), width=int(w), distortion_model="plumb_bob", d=d,
            k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], float), r=np.eye(3).reshape(-1),
            p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], float), binning_x=0, binning_y=0, roi=roi)
        log.write(CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo", info, t)

    def close(self) -> None:
        try:
            if self._untold is not None:  # the robot's last pose
                self._robot_tf(*self._untold)
        finally:
            self.log.close()


def _json(obj) -> str:
    import json

    return json.dumps(obj, default=str, separators=(",", ":"))


# --- the run loop's side: gather raw arrays, hand them to the encoder ------------------------------

def cell_header(sim, frames: Sequence[Any] = (), *, tf_hz: float = 50.0, republish_s: float = 1.0) -> dict[str, Any]:
    """What the encoder needs to know before the first sample, as plain data: the robot of a
    simulated cell (`officina.tasks.runtime.SimCell`: its URDF, joints, fingers, where its root link
    is, its tcp) and the other bodies' frames with their visual shapes (`officina.sim.visuals.scene_frames`)."""
    from officina.sim.visuals import link_frame_pose

    world, robot = sim.world, sim.robot
    spec = robot.spec
    g = spec.gripper
    return {
        "task": sim.task.name,
        "joint_names": list(sim.model.joint_names),
        "base_frame": "world",
        "republish_s": float(republish_s),
        "tf_period_s": 1.0 / float(tf_hz),
        "robot": {
            "name": spec.name, "urdf": str(spec.urdf), "joint_names": list(spec.joint_names),
            "finger_joints": list(g.finger_joints) if g is not None and g.finger_joints else [],
            "world_T_root": link_frame_pose(world.client_id, robot.body_id, -1).tolist(),
            "tcp": {"parent": spec.tcp_parent, "xyz": list(map(float, spec.tcp_offset_xyz)),
                    "rpy": list(map(float, spec.tcp_offset_rpy))},
        },
        "frames": [{"name": f.name, "is_base": f.link < 0, "com_offset": list(f.com_offset),
                    "shapes": [{"kind": s.kind, "size": list(s.size), "pose": list(s.pose), "rgba": list(s.rgba),
                                "mesh": s.mesh} for s in f.shapes]} for f in frames],
    }


class _InlineSink:
    """Encodes in the calling thread."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self._enc = LogEncoder(StateLog(path), header)

    def send(self, batch: dict[str, Any]) -> None:
        self._enc.batch(batch)

    def close(self) -> None:
        self._enc.close()


class StateLogWriterError(RuntimeError):
    """The state log's writer process failed (its stderr is in the message)."""


class _ProcessSink:
    """Hands batches to a writer process (``python -m officina.statelog_writer PATH``) through its
    stdin as pickles, without ever waiting for it: the pipe is written without blocking, and what
    does not fit (while the writer starts, or falls behind) waits in memory for the next batch.
    The writer finishes the file when its stdin closes: when this sink is closed (after the rest
    is written), or when this process dies."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self._err = tempfile.TemporaryFile()
        # its own session: a Ctrl-C at the terminal stops the run, whose pipe then closes
        self._proc = subprocess.Popen([sys.executable, "-m", "officina.statelog_writer", str(path)],
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err,
                                      start_new_session=True)
        self._fd = self._proc.stdin.fileno()
        try:  # Linux: a larger pipe (up to the system's limit for unprivileged processes)
            import fcntl

            limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
            fcntl.fcntl(self._fd, 1031, min(limit, 4 * 1024 * 1024))  # F_SETPIPE_SZ
        except (ImportError, OSError, ValueError):
            pass
        os.set_blocking(self._fd, False)
        self._pending: list[memoryview] = []
        self._closed = False
        self.send(header)

    def send(self, obj) -> None:
        self._pending.append(memoryview(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)))
        self._pump()

    def _pump(self) -> None:
        """Write what the pipe takes now."""
        try:
            while self._pending:
                buf = self._pending[0]
                n = os.write(self._fd, buf)
                if n < len(buf):
                    self._pending[0] = buf[n:]
                    return
                self._pending.pop(0)
        except BlockingIOError:
            return
        except OSError:  # the writer is gone (EPIPE)
            self._proc.wait()
            raise StateLogWriterError(self._failure()) from None

    @property
    def pending_bytes(self) -> int:
        """What waits in memory for the writer."""
        return sum(len(b) for b in self._pending)

    def _failure(self) -> str:
        self._err.seek(0)
        text = self._err.read().decode(errors="replace").strip().splitlines()
        return f"the state log writer stopped (exit {self._proc.returncode})" + (f": {text[-1]}" if text else "")

    def close(self, timeout_s: float = 300.0) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            os.set_blocking(self._fd, True)
            self._pump()  # the rest, waiting for the writer now
        finally:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        try:
            rc = wait_process(self._proc, timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise StateLogWriterError(f"the state log writer did not finish within {timeout_s:g} s") from None
        if rc != 0:
            raise StateLogWriterError(self._failure())
        self._err.close()


class StateLogObserver:
    """Observes the run loop and gathers, as raw arrays, what the state log shows: what the
    `Recorder` recorded (joint states, the gripper's width, tracked objects' poses), the poses of
    every body's frames at the object-pose rate, the procedure's signals and events, and each
    camera capture (``on_capture``). Every ``batch_s`` of simulated time it hands a batch to the
    encoder: a writer process (``writer="process"``), the calling thread (``"inline"``), or the
    one `auto_writer` says (``"auto"``, a writer process unless in a sweep's worker). `close` sends
    the rest and finishes the file. A batch costs the loop its conversion and pickle and, with a
    writer process, a wake-up of that process, whatever its size: half a second of simulated time
    per batch keeps that a small share of the loop, and the last batch quick to encode.

    The frames' poses cost the loop one PyBullet query per body, so the observer queries only
    the frames that may have moved: a tracked object's base takes the pose the `Recorder` read
    from the same step (the recorder observes each period before this observer, as `run_episode`
    orders them), and the base of a body in ``fixed_bodies`` (bodies nothing moves during the
    run, see `for_cell`) is read once, when the recorder is attached."""

    def __init__(self, path: str | Path, header: dict[str, Any], *, frames: Sequence[Any] = (),
                 client_id: int | None = None, control_dt: float = 0.001, batch_s: float = 0.5,
                 writer: str = "auto", fixed_bodies: Sequence[int] = ()) -> None:
        if writer == "auto":
            writer = _AUTO_WRITER
        if writer not in ("process", "inline"):
            raise ValueError(f"state log writer {writer!r}: expected 'auto', 'process' or 'inline'")
        self.writer = writer
        self.path = Path(path)
        self._frames = list(frames) if client_id is not None else []
        self._cid = client_id
        self._fixed_bodies = frozenset(fixed_bodies)
        self._n_frames = len(self._frames)
        # which frames are read how (`_plan_reads`, once the recorder is attached)
        self._live = self._live_rows = self._fixed_rows = self._fixed_raw = None
        self._shared_rows: list[int] = []  # frames that are the recorder's tracked objects' bases
        self._shared_objects: list[int] = []  # and those objects' rows in the recorder's poses
        self._dof = len(header["joint_names"])
        self._batch_every = max(1, int(round(batch_s / control_dt)))
        self._rec = None
        self._n_js = self._n_pose = self._n_ev = 0
        self._n_sig: dict[str, int] = {}
        self._frames_t: list[float] = []
        self._frames_live: list[np.ndarray] = []  # the frames read at each pose sample
        self._frames_shared: list[np.ndarray] = []  # the recorder's tracked poses at that sample
        self._captures: list[dict[str, Any]] = []
        self._sink = _ProcessSink(self.path, header) if writer == "process" else _InlineSink(self.path, header)
        self._closed = False

    @classmethod
    def for_cell(cls, path: str | Path, sim, *, writer: str = "auto", tf_hz: float = 50.0,
                 batch_s: float = 0.5) -> "StateLogObserver":
        """The observer of a simulated cell's run (`officina.tasks.runtime.SimCell`): the robot and
        every other body of its world."""
        from officina.sim.visuals import fixed_bodies, scene_frames
        from officina.tasks.runtime import task_hook

        world = sim.world
        frames = scene_frames(world.client_id, {o.body_id: o.name for o in world.objects}, exclude=(sim.robot.body_id,))
        # Without per-period hooks nothing places a body during the run (the procedure reaches the
        # world through the cell's interfaces only), so a body the dynamics cannot move stays put.
        hooks = any(task_hook(sim.task, name, sim) is not None for name in ("before_step", "after_step"))
        fixed = () if hooks else fixed_bodies(world.client_id, sorted({f.body_id for f in frames}))
        return cls(path, cell_header(sim, frames, tf_hz=tf_hz), frames=frames, client_id=world.client_id,
                   control_dt=sim.control_dt, batch_s=batch_s, writer=writer, fixed_bodies=fixed)

    def attach(self, recorder) -> None:
        self._rec = recorder
        self._plan_reads(recorder)

    def _plan_reads(self, recorder) -> None:
        from officina.sim.visuals import FramePoseReader

        frames = self._frames
        tracked = {getattr(o, "body_id", None): j for j, o in enumerate(getattr(recorder, "objects", ()))}
        shared, fixed, live = [], [], []
        for i, f in enumerate(frames):
            if f.link < 0 and f.body_id in tracked:
                shared.append(i)
            elif f.link < 0 and f.body_id in self._fixed_bodies:
                fixed.append(i)
            else:
                live.append(i)
        self._shared_rows = shared
        self._shared_objects = [tracked[frames[i].body_id] for i in shared]
        self._live_rows, self._fixed_rows = live, fixed
        self._live = FramePoseReader(self._cid, [frames[i] for i in live]) if live else None
        self._fixed_raw = FramePoseReader(self._cid, [frames[i] for i in fixed]).read() if fixed else None

    def on_tick(self, k: int, state) -> None:
        rec = self._rec
        if self._frames and rec is not None and k % rec.pose_every == 0:
            if self._shared_rows:
                if not rec.pose_t or rec.pose_t[-1] != state.stamp:
                    raise RuntimeError("state log: the recorder must observe each period before the state log")
                self._frames_shared.append(rec.poses[-1])
            self._frames_live.append(self._live.read() if self._live is not None else None)
            self._frames_t.append(state.stamp)
        if k % self._batch_every == 0:
            self.flush()

    def _frames_raw(self, nf: int) -> np.ndarray:
        """(nf, frames, 7) raw poses of the first ``nf`` samples gathered since the last batch."""
        raw = np.empty((nf, self._n_frames, 7))
        if self._live_rows:
            raw[:, self._live_rows] = np.asarray(self._frames_live[:nf], float).reshape(nf, len(self._live_rows), 7)
        if self._shared_rows:
            tracked = np.asarray(self._frames_shared[:nf], float).reshape(nf, len(self._rec.objects), 7)
            raw[:, self._shared_rows] = tracked[:, self._shared_objects]
        if self._fixed_rows:
            raw[:, self._fixed_rows] = self._fixed_raw
        return raw

    def on_capture(self, frame, camera) -> None:
        """A camera capture the procedure made (the run loop's camera hook calls this)."""
        intr = camera.intrinsics
        ext = camera.extrinsics()
        T = None
        if ext is not None:
            from officina.vision.transforms import matrix_to_quat

            T = np.concatenate([ext[:3, 3], matrix_to_quat(ext[:3, :3])])
        self._captures.append({"t": float(frame.stamp), "rgb": np.array(frame.rgb, np.uint8), "world_T_camera": T,
                               "intrinsics": (intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy,
                                              tuple(float(d) for d in intr.distortion))})

    def flush(self) -> None:
        """Hand everything gathered since the last call to the encoder."""
        rec = self._rec
        if rec is None or self._closed:
            return
        # complete samples only: a run stopped by a signal may have stopped between two appends
        widths = (len(rec.width),) if hasattr(rec, "width") else ()
        n = min(len(rec.t), len(rec.q), len(rec.qd), len(rec.effort), *widths)
        m = min(len(rec.pose_t), len(rec.poses))
        nf = len(self._frames_t)  # appended last in a sample
        a, b = self._n_js, self._n_pose
        d, k = self._dof, len(rec.objects)
        batch: dict[str, Any] = {
            "t": np.asarray(rec.t[a:n], float), "q": np.asarray(rec.q[a:n], float).reshape(n - a, d),
            "qd": np.asarray(rec.qd[a:n], float).reshape(n - a, d),
            "effort": np.asarray(rec.effort[a:n], float).reshape(n - a, d),
            "width": np.asarray(rec.width[a:n], float) if hasattr(rec, "width") else None,
            "pose_t": np.asarray(rec.pose_t[b:m], float),
            "tracked": np.asarray(rec.poses[b:m], float).reshape(m - b, k, 7),
            "frames_t": np.asarray(self._frames_t[:nf], float),
            "frames_raw": self._frames_raw(nf),
            "signals": {}, "events": list(rec.events[self._n_ev:]), "captures": self._captures,
        }
        for name, samples in rec.signals.items():
            done = self._n_sig.get(name, 0)
            if len(samples) > done:
                batch["signals"][name] = list(samples[done:])
                self._n_sig[name] = len(samples)
        self._n_js, self._n_pose, self._n_ev = n, m, len(rec.events)
        self._frames_t, self._frames_live, self._frames_shared, self._captures = [], [], [], []
        self._sink.send(batch)

    def close(self) -> None:
        """Send what is left and finish the file (waits for the writer); safe to call twice."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._sink.close()


def read_topic_counts(path: str | Path) -> dict[str, int]:
    """Number of messages per topic (decoding every message, as a reader would)."""
    counts: dict[str, int] = {}
    for _, channel, _, _ in iter_decoded(path):
        counts[channel.topic] = counts.get(channel.topic, 0) + 1
    return counts


def iter_decoded(path: str | Path, topics: list[str] | None = None):
    """Yield (schema, channel, message, decoded ROS 2 message) from an MCAP file, with the mcap
    library's own ROS 2 decoder (independent of the writer's serializer). A file that was never
    finished (its writer killed) is read record by record up to its last complete chunk."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - len(_MAGIC)))
        finished = f.read() == _MAGIC
        f.seek(0)
        if finished:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            yield from reader.iter_decoded_messages(topics=topics)
        else:
            yield from _iter_unfinished(f, topics, DecoderFactory())


_MAGIC = b"\x89MCAP0\r\n"


def _iter_unfinished(f, topics, factory):
    import struct

    from mcap.exceptions import McapError
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas: dict[int, Any] = {}
    channels: dict[int, Any] = {}
    decoders: dict[int, Any] = {}
    records = StreamReader(f).records
    while True:
        try:
            rec = next(records)
        except StopIteration:
            return
        except (McapError, EOFError, ValueError, RuntimeError, OSError, struct.error):  # the file's torn tail
            return
        if isinstance(rec, Schema):
            schemas[rec.id] = rec
        elif isinstance(rec, Channel):
            channels[rec.id] = rec
        elif isinstance(rec, Message):
            ch = channels.get(rec.channel_id)
            if ch is None or (topics is not None and ch.topic not in topics):
                continue
            dec = decoders.get(ch.id)
            if dec is None:
                dec = decoders[ch.id] = factory.decoder_for(ch.message_encoding, schemas.get(ch.schema_id))
            schema = schemas.get(ch.schema_id)
            yield schema, ch, rec, dec(rec.data)
