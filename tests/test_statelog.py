"""The state log as Foxglove's 3D panel reads it, checked with the mcap library's own ROS 2 decoder
(independent of rosbags, which writes it): the robot's links in /tf against the control model's
forward kinematics, the scene's markers against the world's bodies, the URDF against the frames,
the camera's image and calibration, for the writer process and the inline writer alike."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from officina.statelog import iter_decoded

REPLAY_TASK = str(Path(__file__).parent / "data" / "replay_task.py") + ":ReplayCheck"


def _T(tr) -> np.ndarray:
    from officina.vision.transforms import pose_to_transform

    t, r = tr.translation, tr.rotation
    return pose_to_transform((t.x, t.y, t.z), (r.x, r.y, r.z, r.w))


class TfBuffer:
    """The transform tree as /tf and /tf_static give it: a child's latest transform at or before a
    time (what a viewer shows then)."""

    def __init__(self) -> None:
        self.static: dict[str, tuple[str, np.ndarray]] = {}
        self.dynamic: dict[str, list[tuple[float, str, np.ndarray]]] = {}

    def add(self, topic: str, msg) -> None:
        for ts in msg.transforms:
            T = _T(ts.transform)
            if topic == "/tf_static":
                self.static[ts.child_frame_id] = (ts.header.frame_id, T)
            else:
                t = ts.header.stamp.sec + 1e-9 * ts.header.stamp.nanosec
                self.dynamic.setdefault(ts.child_frame_id, []).append((t, ts.header.frame_id, T))

    def frames(self) -> set[str]:
        return set(self.static) | set(self.dynamic)

    def parent(self, child: str, t: float) -> tuple[str, np.ndarray]:
        if child in self.static:
            return self.static[child]
        best = None
        for ti, p, T in self.dynamic[child]:
            if ti <= t + 1e-9:
                best = (p, T)
        assert best is not None, f"no transform of {child} at or before {t}"
        return best

    def lookup(self, target: str, frame: str, t: float) -> np.ndarray:
        """target_T_frame at time t (target an ancestor of frame)."""
        T = np.eye(4)
        while frame != target:
            parent, P = self.parent(frame, t)
            T = P @ T
            frame = parent
        return T


def _read(path: Path):
    tf = TfBuffer()
    msgs: dict[str, list] = {}
    for _, channel, message, decoded in iter_decoded(path):
        msgs.setdefault(channel.topic, []).append((message.log_time * 1e-9, decoded))
        if channel.topic in ("/tf", "/tf_static"):
            tf.add(channel.topic, decoded)
    return tf, msgs


@pytest.fixture(scope="module")
def replay_runs(tmp_path_factory):
    """The test cell run on the Panda with the writer process and inline, and on the UR5e (its URDF
    generated from the arm's and the gripper's, primitive shapes only)."""
    from officina.runner import execute_run, resolve_config

    out = {}
    for robot, writer in (("panda", "process"), ("panda", "inline"), ("ur5e", "process")):
        d = tmp_path_factory.mktemp(f"{robot}-{writer}") / "run"
        cfg = resolve_config(REPLAY_TASK, robot=robot, seed=0, overrides=["log.plots=false", f"log.writer={writer}"])
        out[robot, writer] = execute_run(cfg, d)
    return out


@pytest.fixture(scope="module")
def replay(replay_runs):
    res = replay_runs["panda", "process"]
    tf, msgs = _read(res.run_dir / "state.mcap")
    return res, tf, msgs


@pytest.mark.parametrize("robot", ["panda", "ur5e"])
def test_tcp_in_tf_is_the_models_forward_kinematics_of_the_logged_joint_state(replay_runs, robot):
    from officina.controllers.model import RobotModel
    from officina.robots import load_robot

    tf, msgs = _read(replay_runs[robot, "process"].run_dir / "state.mcap")
    model = RobotModel.from_spec(load_robot(robot))
    js = {round(t, 6): np.asarray(m.position) for t, m in msgs["/joint_states"]}
    assert len(js) > 200
    stamps = sorted({round(t, 6) for t, _, _ in tf.dynamic[_child_of_first_joint(replay_runs, robot)]})
    # log.tf_hz (50 Hz) of the joint states' 250 Hz, and the last one
    assert len(stamps) == pytest.approx(len(js) / 5, abs=2) and stamps[-1] == max(js)
    moved = 0.0
    q0 = js[min(js)]
    for t in stamps[:: max(1, len(stamps) // 40)] + stamps[-1:]:
        q = js[t]
        w_T_tcp = tf.lookup("world", "tcp", t)
        ref = model.frame_transform(q, "tcp")  # the robot stands at the world's origin
        assert np.allclose(w_T_tcp, ref, atol=1e-9)
        moved = max(moved, float(np.linalg.norm(q - q0)))
    assert moved > 0.2  # the arm went somewhere: the check compared more than one pose


def _child_of_first_joint(replay_runs, robot: str) -> str:
    import pinocchio as pin

    from officina.robots import load_robot

    spec = load_robot(robot)
    m = pin.buildModelFromUrdf(spec.urdf)
    j = m.getJointId(spec.joint_names[0])
    return next(f.name for f in m.frames if f.type == pin.FrameType.BODY and f.parentJoint == j)


def test_fingers_in_tf_follow_the_gripper_width(replay):
    res, tf, msgs = replay
    g = msgs["/gripper/joint_states"]
    assert [m.name for _, m in g[:1]] == [["panda_finger_joint1", "panda_finger_joint2"]]
    widths = []
    told = {round(t, 6) for t, _, _ in tf.dynamic["panda_leftfinger"]}
    for t, m in [(t, m) for t, m in g if round(t, 6) in told][::8]:
        left = tf.lookup("panda_hand", "panda_leftfinger", t)
        right = tf.lookup("panda_hand", "panda_rightfinger", t)
        sep = float(np.linalg.norm(left[:3, 3] - right[:3, 3]))
        assert sep == pytest.approx(sum(m.position), abs=1e-9)
        widths.append(sep)
    assert max(widths) - min(widths) > 0.03  # closed part way, then the fingers moved


def test_every_body_has_markers_of_its_size_in_its_own_frame(replay):
    res, tf, msgs = replay
    (t0, arr), *_ = msgs["/scene/markers"]
    by_ns: dict[str, list] = {}
    for mk in arr.markers:
        assert mk.frame_locked and mk.header.frame_id == mk.ns
        by_ns.setdefault(mk.ns, []).append(mk)
    scale = {ns: sorted(tuple(round(v, 6) for v in (m.scale.x, m.scale.y, m.scale.z)) for m in ms)
             for ns, ms in by_ns.items()}
    types = {ns: sorted(m.type for m in ms) for ns, ms in by_ns.items()}
    CUBE, SPHERE, CYLINDER = 1, 2, 3
    assert types["scene/table"] == [CUBE] and scale["scene/table"] == [(1.3, 1.2, 0.05)]
    assert types["scene/box"] == [CUBE] and scale["scene/box"] == [(0.04, 0.05, 0.06)]
    assert types["scene/can"] == [CYLINDER] and scale["scene/can"] == [(0.05, 0.05, 0.08)]
    assert types["scene/ball"] == [SPHERE] and scale["scene/ball"] == [(0.06, 0.06, 0.06)]
    assert types["scene/bin"] == [CUBE] * 5  # floor and four walls
    assert (0.24, 0.24, 0.01) in scale["scene/bin"] and max(s[2] for s in scale["scene/bin"]) == 0.08
    # the robot is drawn from its URDF, not as markers; every marker's frame is in the tf tree
    assert not any(ns.startswith("panda") for ns in by_ns)
    assert set(by_ns) <= tf.frames()


def test_object_frames_follow_the_ground_truth(replay):
    res, tf, msgs = replay
    poses = msgs["/ground_truth/object_poses"]
    assert len(poses) > 40
    for t, m in poses[::10]:
        for name, p in zip(("scene/box", "scene/can"), m.poses):
            T = tf.lookup("world", name, t)
            assert np.allclose(T[:3, 3], (p.position.x, p.position.y, p.position.z), atol=1e-9)


def test_robot_description_is_a_urdf_whose_links_all_have_frames(replay):
    import pinocchio as pin

    res, tf, msgs = replay
    (t0, desc), *_ = msgs["/robot_description"]
    assert t0 == 0.0
    model = pin.buildModelFromXML(desc.data)
    links = {f.name for f in model.frames if f.type == pin.FrameType.BODY}
    assert "panda_link0" in links and "panda_hand" in links
    assert links <= tf.frames() | {"panda_link0"}  # the root hangs from world in /tf_static
    assert tf.static["panda_link0"][0] == "world"
    import xml.etree.ElementTree as ET

    meshes = [m.get("filename") for m in ET.fromstring(desc.data).iter("mesh")]
    assert meshes and all(f.startswith("file://") and Path(f[len("file://"):]).is_file() for f in meshes)


def test_camera_images_decode_to_the_cameras_size_with_its_calibration(replay):
    import cv2

    res, tf, msgs = replay
    (t_img, img), = msgs["/camera/image_raw/compressed"]
    (t_info, info), = msgs["/camera/camera_info"]
    assert t_img == t_info > 0 and img.header.frame_id == info.header.frame_id == "camera"
    rgb = cv2.imdecode(np.frombuffer(bytes(img.data), np.uint8), cv2.IMREAD_COLOR)
    assert rgb.shape == (240, 320, 3) and (info.width, info.height) == (320, 240)
    f = 120.0 / math.tan(math.radians(30.0))  # 60 degrees vertical field of view over 240 rows
    assert info.k[0] == pytest.approx(f) and info.k[4] == pytest.approx(f)
    w_T_cam = tf.lookup("world", "camera", t_img)
    assert np.allclose(w_T_cam[:3, 3], (0.5, 0.0, 1.0), atol=1e-9)
    assert np.allclose(w_T_cam[:3, 2], (0.0, 0.0, -1.0), atol=1e-9)  # looking straight down


def test_events_are_on_rosout(replay):
    res, tf, msgs = replay
    lines = [m.msg for _, m in msgs["/rosout"]]
    assert lines[0].startswith("moved ") and lines[1] == "picture"


def test_the_inline_writer_writes_the_same_log(replay_runs):
    def digest(path):
        out = []
        for _, channel, message, decoded in iter_decoded(path):
            out.append((channel.topic, message.log_time, bytes(message.data)))
        return sorted(out)

    a = digest(replay_runs["panda", "process"].run_dir / "state.mcap")
    b = digest(replay_runs["panda", "inline"].run_dir / "state.mcap")
    assert len(a) > 500 and a == b


def test_the_shipped_foxglove_layout_shows_what_the_log_has(replay):
    import json

    from officina.statelog import FOXGLOVE_LAYOUT

    res, tf, msgs = replay
    layout = json.loads(FOXGLOVE_LAYOUT.read_text())

    def leaves(node):
        return {node} if isinstance(node, str) else leaves(node["first"]) | leaves(node["second"])

    panels = layout["configById"]
    assert leaves(layout["layout"]) == set(panels)
    three_d = panels["3D!officina"]
    assert three_d["followTf"] in tf.frames() | {"world"}
    shown = [t for t, s in three_d["topics"].items() if s.get("visible")]
    image = panels["Image!officina-camera"]["imageMode"]
    plotted = [p["value"].split(".", 1)[0] for k, v in panels.items() if k.startswith("Plot!") for p in v["paths"]]
    used = {*shown, image["imageTopic"], image["calibrationTopic"], *plotted}
    assert used <= set(msgs), used - set(msgs)
    assert {"/robot_description", "/scene/markers", "/camera/image_raw/compressed"} <= set(shown)


def test_markers_for_every_kind_of_visual_shape(tmp_path):
    """Capsules, planes and meshes, which the test cell has none of: a capsule is a cylinder and
    two spheres at its ends, a plane a thin square, a mesh a MESH_RESOURCE with a file:// URI."""
    from officina.statelog import LogEncoder, StateLog

    mesh = str(tmp_path / "part.obj")
    header = {"joint_names": ["j1"], "frames": [
        {"name": "scene/pill", "is_base": True, "com_offset": [0, 0, 0, 0, 0, 0, 1], "shapes": [
            {"kind": "capsule", "size": [0.02, 0.1], "pose": [0, 0, 0, 0, 0, 0, 1], "rgba": [1, 0, 0, 1], "mesh": ""}]},
        {"name": "scene/floor", "is_base": True, "com_offset": [0, 0, 0, 0, 0, 0, 1], "shapes": [
            {"kind": "plane", "size": [], "pose": [0, 0, 0, 0, 0, 0, 1], "rgba": [1, 1, 1, 1], "mesh": ""}]},
        {"name": "scene/part", "is_base": True, "com_offset": [0, 0, 0, 0, 0, 0, 1], "shapes": [
            {"kind": "mesh", "size": [0.001, 0.001, 0.001], "pose": [0, 0, 0.1, 0, 0, 0, 1], "rgba": [0, 1, 0, 1],
             "mesh": mesh}]},
    ]}
    enc = LogEncoder(StateLog(tmp_path / "s.mcap"), header)
    enc.close()
    (_, _, _, arr), = list(iter_decoded(tmp_path / "s.mcap", ["/scene/markers"]))
    by = {}
    for m in arr.markers:
        by.setdefault(m.ns, []).append(m)
    pill = sorted(by["scene/pill"], key=lambda m: m.pose.position.z)
    assert [m.type for m in pill] == [2, 3, 2]  # sphere, cylinder, sphere
    assert [round(m.pose.position.z, 9) for m in pill] == [-0.05, 0.0, 0.05]
    assert (pill[1].scale.x, pill[1].scale.z) == (0.04, 0.1) and pill[0].scale.x == 0.04
    (floor,) = by["scene/floor"]
    assert floor.type == 1 and floor.scale.z < 0.01 and floor.scale.x >= 10
    (part,) = by["scene/part"]
    assert part.type == 10 and part.mesh_resource == Path(mesh).as_uri() and part.scale.x == 0.001


@pytest.mark.timeout(300)
def test_a_pick_place_runs_log_reads_back_in_rosbags_and_mcap_ros2(cli, tmp_path):
    """`officina run pick-place --robot panda --seed 0`'s state.mcap, read by two readers that
    share nothing with the writer's code path: rosbags' AnyReader (its types parsed from the
    message definitions stored in the file) and the mcap library's ROS 2 decoder. Both see the same
    topics, types and counts, the counts the run's own metrics and events imply, and the same
    joint positions."""
    import json

    import cv2
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from rosbags.highlevel import AnyReader

    from officina.robots import load_robot

    d = tmp_path / "run"
    res = cli(["run", "pick-place", "--robot", "panda", "--seed", "0", "--out", d])
    assert res.exit_code == 0, res.output
    metrics = json.loads((d / "metrics.json").read_text())
    events = json.loads((d / "events.json").read_text())
    assert metrics["success"]
    steps = metrics["sim_steps"]  # control periods of 1 ms
    n_js = steps // 4  # log.joint_state_hz = 250
    n_pose = steps // 20  # log.object_pose_hz = 50
    n_robot_tf = -(-n_js // 5) + (1 if (n_js - 1) % 5 else 0)  # log.tf_hz = 50, and the last sample
    n_captures = sum(1 for e in events if e["event"] == "perceived")
    n_republish = int(metrics["cycle_time_s"]) + 1  # at t = 0, then every second
    expected = {
        "/joint_states": ("sensor_msgs/msg/JointState", n_js),
        "/gripper/joint_states": ("sensor_msgs/msg/JointState", n_js),
        "/tf": ("tf2_msgs/msg/TFMessage", n_robot_tf + n_pose + n_captures),
        "/tf_static": ("tf2_msgs/msg/TFMessage", 1),
        "/robot_description": ("std_msgs/msg/String", n_republish),
        "/scene/markers": ("visualization_msgs/msg/MarkerArray", n_republish),
        "/ground_truth/object_poses": ("geometry_msgs/msg/PoseArray", n_pose),
        "/rosout": ("rcl_interfaces/msg/Log", len(events)),
        "/camera/image_raw/compressed": ("sensor_msgs/msg/CompressedImage", n_captures),
        "/camera/camera_info": ("sensor_msgs/msg/CameraInfo", n_captures),
    }
    assert n_captures >= 3 and len(events) >= 9  # three objects: perceived, picked and placed each

    rb: dict[str, list] = {}
    rb_types: dict[str, str] = {}
    with AnyReader([d / "state.mcap"]) as reader:
        for conn, stamp, raw in reader.messages():
            rb.setdefault(conn.topic, []).append((stamp, reader.deserialize(raw, conn.msgtype)))
            rb_types[conn.topic] = conn.msgtype
    mc: dict[str, list] = {}
    mc_types: dict[str, str] = {}
    with open(d / "state.mcap", "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        for schema, channel, message, decoded in reader.iter_decoded_messages():
            mc.setdefault(channel.topic, []).append((message.log_time, decoded))
            mc_types[channel.topic] = schema.name

    assert {k: (rb_types[k], len(v)) for k, v in rb.items()} == expected
    assert {k: (mc_types[k], len(v)) for k, v in mc.items()} == expected

    spec = load_robot("panda")
    js_rb, js_mc = rb["/joint_states"], mc["/joint_states"]
    assert js_rb[0][1].name == list(spec.joint_names)
    assert [s for s, _ in js_rb] == [s for s, _ in js_mc] == [4_000_000 * (k + 1) for k in range(n_js)]
    q_rb = np.array([m.position for _, m in js_rb])
    q_mc = np.array([m.position for _, m in js_mc])
    assert q_rb.shape == (n_js, 7) and np.array_equal(q_rb, q_mc)
    assert np.ptp(q_rb, axis=0).max() > 0.5  # the arm moved
    # every message's header stamp is its log time
    for topic in ("/joint_states", "/ground_truth/object_poses", "/camera/image_raw/compressed"):
        for stamp, m in rb[topic]:
            assert m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec == stamp
    assert all(len(m.poses) == 3 for _, m in rb["/ground_truth/object_poses"])
    # the pictures were taken when the procedure perceived, and decode to the camera's size
    assert [s for s, _ in rb["/camera/image_raw/compressed"]] == [
        round(e["t"] * 1e9) for e in events if e["event"] == "perceived"]
    for (_, img), (_, info) in zip(rb["/camera/image_raw/compressed"], rb["/camera/camera_info"]):
        assert img.format == "jpeg"
        rgb = cv2.imdecode(np.frombuffer(bytes(img.data), np.uint8), cv2.IMREAD_COLOR)
        assert rgb.shape == (info.height, info.width, 3)
    assert [m.msg.split(" ", 1)[0] for _, m in rb["/rosout"]] == [e["event"] for e in events]
    children = {ts.child_frame_id for _, m in rb["/tf"] for ts in m.transforms}
    assert "camera" in children and any(c.startswith("scene/") for c in children)
    assert {"panda_link1", "panda_leftfinger"} <= children


def test_the_auto_writer_is_a_process_unless_a_sweep_worker_asks_for_inline(tmp_path):
    """``writer="auto"`` (the default): a writer process, as for a run on its own; inline (no child
    process) within `auto_writer("inline")`, what a sweep's worker wraps its runs in. Both logs
    hold the same messages."""
    from types import SimpleNamespace

    from officina.statelog import StateLogObserver, auto_writer

    def log_to(path):
        rec = SimpleNamespace(t=[0.004, 0.008], q=[np.zeros(2), np.ones(2)], qd=[np.zeros(2)] * 2,
                              effort=[np.zeros(2)] * 2, pose_t=[], poses=[], objects=[], events=[{"t": 0.004,
                              "event": "start"}], signals={"force_n": [(0.004, 1.5)]}, pose_every=20)
        obs = StateLogObserver(path, {"joint_names": ["j1", "j2"]})
        obs.attach(rec)
        obs.close()
        return obs.writer, [(c.topic, m.log_time, bytes(m.data)) for _, c, m, _ in iter_decoded(path)]

    alone, logged_alone = log_to(tmp_path / "alone.mcap")
    with auto_writer("inline"):
        in_sweep, logged_in_sweep = log_to(tmp_path / "sweep.mcap")
    assert (alone, in_sweep) == ("process", "inline")
    assert logged_alone == logged_in_sweep and len(logged_alone) == 4
    assert StateLogObserver(tmp_path / "after.mcap", {"joint_names": ["j1"]}, writer="inline").writer == "inline"
    with pytest.raises(ValueError, match="expected 'process' or 'inline'"):
        with auto_writer("thread"):
            pass


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_a_run_stopped_between_two_appends_logs_its_complete_samples(tmp_path, writer):
    """A signal can stop the run loop between two of the recorder's appends (a joint state's time
    without its position, an object pose's time without the poses): closing the log writes the
    complete samples and finishes the file."""
    from types import SimpleNamespace

    from officina.statelog import StateLogObserver, read_topic_counts

    rec = SimpleNamespace(
        t=[0.004, 0.008, 0.012], q=[np.zeros(2), np.ones(2)], qd=[np.zeros(2)] * 2, effort=[np.zeros(2)] * 2,
        width=[0.08, 0.08], pose_t=[0.02, 0.04], poses=[np.zeros((1, 7))], objects=["part"], events=[],
        signals={}, pose_every=20)
    log = StateLogObserver(tmp_path / "state.mcap", {"joint_names": ["j1", "j2"]}, writer=writer)
    log.attach(rec)
    log.close()
    assert (tmp_path / "state.mcap").read_bytes().endswith(b"\x89MCAP0\r\n")
    counts = read_topic_counts(tmp_path / "state.mcap")
    assert counts["/joint_states"] == 2 and counts["/ground_truth/object_poses"] == 1
    (_, _, _, last), = [x for x in iter_decoded(tmp_path / "state.mcap", ["/joint_states"])][-1:]
    assert list(last.position) == [1.0, 1.0]


def test_the_observer_reads_only_frames_that_may_move_and_logs_every_frames_pose(tmp_path):
    """The observer takes the tracked objects' poses from the recorder and reads the bodies the
    dynamics cannot move once: its frame poses are, bit for bit, those of a full read of every
    frame at the same periods, while the arm moves a part it pushes."""
    from officina.controllers.safe_arm import SafeArm
    from officina.controllers.safety import SafetyFilter
    from officina.robots import load_robot
    from officina.sim.visuals import FramePoseReader
    from officina.statelog import StateLogObserver
    from officina.tasks import get_task
    from officina.tasks.runtime import Clock, Recorder, build_sim_cell

    task = get_task("pick-place")
    sim = build_sim_cell(task, task.Params(), load_robot("panda"), rng=np.random.default_rng(0))
    try:
        arm = SafeArm(sim.arm, SafetyFilter(sim.model.limits, sim.control_dt))
        rec = Recorder(sim.world, arm, sim.scene.objects, sim.control_dt, object_pose_hz=250.0)
        log = StateLogObserver.for_cell(tmp_path / "state.mcap", sim, writer="inline")
        batches = []
        log._sink.send = batches.append
        log.attach(rec)
        assert log._fixed_rows and log._shared_rows and not log._live_rows  # table and bin; the parts
        full = FramePoseReader(sim.world.client_id, log._frames)
        reads = []

        class Full:
            def on_tick(self, k, state):
                if k % rec.pose_every == 0:
                    reads.append(full.read())

        clock = Clock(sim.world, arm, sim.substeps, [rec, log, Full()])
        obj = sim.scene.objects[0].body_id
        sim.world.set_object_velocity(obj, (0.3, 0.0, 0.5))  # the part is thrown: it moves every period
        for _ in range(40):
            clock.tick()
        log.flush()
        got = np.concatenate([b["frames_raw"] for b in batches if len(b["frames_t"])])
        assert got.shape == (10, len(log._frames), 7)
        assert np.array_equal(got, np.array(reads)) and not np.array_equal(got[0], got[-1])
    finally:
        sim.close()


def test_a_failed_writer_process_says_why(tmp_path):
    """The writer process exits as soon as it is done, failed or not; a failure reaches the run
    as an error with the writer's last line of stderr."""
    from officina.statelog import StateLogObserver, StateLogWriterError

    log = StateLogObserver(tmp_path / "missing" / "state.mcap", {"joint_names": ["j1"]}, writer="process")
    with pytest.raises(StateLogWriterError, match=r"exit 1\): FileNotFoundError"):
        log.close()


def test_frame_poses_are_where_the_last_step_left_the_links():
    """A moving arm's link frames are read where the step left them, the pose forward kinematics
    gives from the joint positions now: PyBullet's cached link state is the one from the start
    of the step, about a millimetre behind at 1 m/s and 1 ms."""
    import pybullet as p

    from officina.robots import load_robot
    from officina.sim.visuals import FramePoseReader, scene_frames
    from officina.tasks import get_task
    from officina.tasks.runtime import build_sim_cell

    task = get_task("pick-place")
    sim = build_sim_cell(task, task.Params(), load_robot("panda"), rng=np.random.default_rng(0))
    try:
        cid, body = sim.world.client_id, sim.robot.body_id
        p.setJointMotorControlArray(body, list(range(7)), p.VELOCITY_CONTROL, targetVelocities=[1.0] * 7,
                                    forces=[500.0] * 7, physicsClientId=cid)
        sim.world.step(50)
        frames = [f for f in scene_frames(cid) if f.body_id == body and f.link == 6]  # panda_link7
        cached = p.getLinkState(body, 6, physicsClientId=cid)  # PyBullet's cache, left as it is
        got = FramePoseReader(cid, frames).read()[0]
        want = p.getLinkState(body, 6, computeForwardKinematics=1, physicsClientId=cid)
        assert np.linalg.norm(np.subtract(cached[4], want[4])) > 1e-4  # the cache is a step behind
        assert np.allclose(got[:3], want[4], rtol=0, atol=1e-12)
        assert np.allclose(got[3:], want[5], rtol=0, atol=1e-12)
    finally:
        sim.close()
