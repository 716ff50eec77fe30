"""`officina ros record`: the sim's /joint_states recorded across processes to MCAP, read back with
the Python MCAP readers (mcap + mcap_ros2's decoder), as rosbag2 would have written it."""

import subprocess
import sys

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("mcap_ros2")
pytestmark = pytest.mark.ros


def test_message_definitions_decode_what_rclpy_serializes():
    """The definition text built from the installed .msg files decodes rclpy's CDR bytes field for
    field (mcap_ros2's dynamic decoder, what Foxglove-style readers use)."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
    from geometry_msgs.msg import PoseArray, WrenchStamped
    from mcap_ros2._dynamic import generate_dynamic
    from officina.ros.convert import pose_msg, s_to_time
    from officina.ros.recorder import message_definition
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    js = JointState(name=["a", "b"], position=[1.0, 2.5], velocity=[0.1, 0.2], effort=[3.0, 4.0])
    js.header.stamp = s_to_time(12.25)
    js.header.frame_id = "base"
    pa = PoseArray(poses=[pose_msg([1, 2, 3], [0, 0, 0.6, 0.8])])
    ws = WrenchStamped()
    ws.wrench.torque.y = -42.0
    img = Image(height=2, width=3, encoding="mono8", step=3, data=bytes(range(6)))
    ci = CameraInfo(width=640, height=480, distortion_model="plumb_bob", d=[0.1, 0, 0, 0, 0])
    st = DiagnosticStatus(level=b"\x01", name="n", values=[KeyValue(key="k", value="v")])
    jt = JointTrajectory(joint_names=["a"], points=[JointTrajectoryPoint(positions=[0.5])])
    checks = {
        "sensor_msgs/msg/JointState": (js, lambda m: (list(m.name), list(m.position), m.header.stamp.nanosec,
                                                      m.header.frame_id) == (["a", "b"], [1.0, 2.5], 250000000, "base")),
        "geometry_msgs/msg/PoseArray": (pa, lambda m: (m.poses[0].position.z, m.poses[0].orientation.w) == (3.0, 0.8)),
        "geometry_msgs/msg/WrenchStamped": (ws, lambda m: m.wrench.torque.y == -42.0),
        "sensor_msgs/msg/Image": (img, lambda m: bytes(m.data) == bytes(range(6)) and m.encoding == "mono8"),
        "sensor_msgs/msg/CameraInfo": (ci, lambda m: m.width == 640 and list(m.d)[0] == 0.1),
        "diagnostic_msgs/msg/DiagnosticStatus": (st, lambda m: m.values[0].value == "v" and m.level == 1),
        "trajectory_msgs/msg/JointTrajectory": (jt, lambda m: list(m.points[0].positions) == [0.5]),
    }
    for t, (msg, ok) in checks.items():
        d = message_definition(t)
        assert ("MSG: builtin_interfaces/Time" in d) == (t != "diagnostic_msgs/msg/DiagnosticStatus")
        decoded = generate_dynamic(t, d)[t](serialize_message(msg))
        assert ok(decoded), (t, decoded)
    with pytest.raises(FileNotFoundError):
        message_definition("nope_msgs/msg/Nothing")


@pytest.mark.timeout(120)
def test_record_sim_joint_states_and_read_back(tmp_path, request):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from officina.ros.testing import NodeProcess, domain_id_for, ros_env

    from officina.robots import load_robot

    dom = domain_id_for(request.node.name)
    out = tmp_path / "js.mcap"
    sim = NodeProcess(["ros", "sim", "--task", "none", "--rate-hz", "250"], dom, str(tmp_path / "sim.log"))
    try:
        code = "import sys; from officina.cli import main; main(sys.argv[1:])"
        r = subprocess.run([sys.executable, "-c", code, "ros", "record", "--topics", "/joint_states,/officina/sim/controller_state",
                            "--out", str(out), "--duration", "1.0", "--discovery-timeout", "60"],
                           env=ros_env(dom), capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, r.stdout + r.stderr + sim.output()
        assert sim.alive()
    finally:
        sim.stop()
    assert out.exists() and not (tmp_path / "js.mcap.part").exists()
    with open(out, "rb") as fh:
        reader = make_reader(fh, decoder_factories=[DecoderFactory()])
        header = reader.get_header()
        summary = reader.get_summary()
        assert header.profile == "ros2"
        chans = {c.topic: c for c in summary.channels.values()}
        assert chans["/joint_states"].message_encoding == "cdr"
        assert "offered_qos_profiles" in chans["/joint_states"].metadata
        assert chans["/joint_states"].metadata["topic_type_hash"].startswith("RIHS01_")
        sch = summary.schemas[chans["/joint_states"].schema_id]
        assert (sch.name, sch.encoding) == ("sensor_msgs/msg/JointState", "ros2msg")
        msgs = [m for _, _, _, m in reader.iter_decoded_messages(topics=["/joint_states"])]
    # 250 Hz for 1 s (the wall clock of two processes on a loaded machine: generous bounds)
    assert 150 <= len(msgs) <= 300, len(msgs)
    names = load_robot("panda").joint_names
    m = msgs[-1]
    assert list(m.name)[:7] == list(names) and len(m.position) == len(m.name) == len(m.effort)
    stamps = [x.header.stamp.sec + 1e-9 * x.header.stamp.nanosec for x in msgs]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert 0.7 < stamps[-1] - stamps[0] < 1.3
