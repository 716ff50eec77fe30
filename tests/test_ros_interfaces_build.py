"""tests/ros_interfaces/build.py: the control_msgs test interfaces build from the rosidl wheels,
import in this process and, in a subprocess with only PYTHONPATH set, carry a
FollowJointTrajectory goal/feedback/result and a JointTrajectoryControllerState over Fast DDS
between two private Contexts (two DDS participants)."""

import json
import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ros

DOMAIN_ID = 58
ACTION = "/arm_controller/follow_joint_trajectory"
STATE_TOPIC = "/arm_controller/controller_state"

CHILD = r"""
import json, os, sys, time

import rclpy
from rclpy.action import ActionClient, ActionServer
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from builtin_interfaces.msg import Duration
from trajectory_msgs.msg import JointTrajectoryPoint, MultiDOFJointTrajectoryPoint

import control_msgs
from control_msgs.action import FollowJointTrajectory
from control_msgs.msg import JointComponentTolerance, JointTolerance, JointTrajectoryControllerState

ACTION, STATE_TOPIC = sys.argv[1], sys.argv[2]
JOINTS = ["shoulder", "elbow"]
out = {"module": control_msgs.__file__, "ld_library_path": os.environ.get("LD_LIBRARY_PATH", "")}


def point(q, t):
    p = JointTrajectoryPoint()
    p.positions = [float(v) for v in q]
    p.velocities = [0.0] * len(q)
    p.time_from_start = Duration(sec=int(t), nanosec=int(round((t % 1) * 1e9)))
    return p


ctx_srv, ctx_cli = Context(), Context()
rclpy.init(context=ctx_srv)
rclpy.init(context=ctx_cli)
try:
    srv_node = rclpy.create_node("fjt_server", context=ctx_srv)
    cli_node = rclpy.create_node("fjt_client", context=ctx_cli)
    executors = [SingleThreadedExecutor(context=ctx_srv), SingleThreadedExecutor(context=ctx_cli)]
    executors[0].add_node(srv_node)
    executors[1].add_node(cli_node)

    def spin_until(pred, timeout, what):
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise TimeoutError(what)
            for ex in executors:
                ex.spin_once(timeout_sec=0.005)

    got = {}

    def execute(goal_handle):
        goal = goal_handle.request
        got["goal"] = {
            "joint_names": list(goal.trajectory.joint_names),
            "points": [list(p.positions) for p in goal.trajectory.points],
            "t_end": goal.trajectory.points[-1].time_from_start.sec,
            "path_tolerance": [(t.name, t.position) for t in goal.path_tolerance],
            "component_goal_tolerance": [(t.joint_name, t.component)
                                         for t in goal.component_goal_tolerance],
            "goal_time_tolerance_ns": goal.goal_time_tolerance.nanosec,
        }
        fb = FollowJointTrajectory.Feedback()
        fb.header.stamp = srv_node.get_clock().now().to_msg()
        fb.joint_names = list(goal.trajectory.joint_names)
        fb.desired = goal.trajectory.points[-1]
        fb.actual = point([0.1, 0.2], 0.5)
        fb.error = point([v - a for v, a in zip(fb.desired.positions, fb.actual.positions)], 0.5)
        goal_handle.publish_feedback(fb)
        goal_handle.succeed()
        return FollowJointTrajectory.Result(error_code=FollowJointTrajectory.Result.SUCCESSFUL,
                                            error_string="reached")

    server = ActionServer(srv_node, FollowJointTrajectory, ACTION, execute)
    client = ActionClient(cli_node, FollowJointTrajectory, ACTION)
    feedback_topic = ACTION + "/_action/feedback"
    spin_until(lambda: client.server_is_ready()
               and cli_node.count_publishers(feedback_topic) >= 1
               and srv_node.count_subscribers(feedback_topic) >= 1, 15.0, "action discovery")

    goal = FollowJointTrajectory.Goal()
    goal.trajectory.joint_names = JOINTS
    goal.trajectory.points = [point([0.5, -0.25], 1.0), point([1.0, -0.5], 2.0)]
    goal.multi_dof_trajectory.joint_names = []
    goal.path_tolerance = [JointTolerance(name="shoulder", position=0.1)]
    goal.component_goal_tolerance = [
        JointComponentTolerance(joint_name="base", component=JointComponentTolerance.ROTATION,
                                position=0.01)]
    goal.goal_time_tolerance = Duration(sec=0, nanosec=250_000_000)
    feedback = []
    send = client.send_goal_async(goal, feedback_callback=lambda m: feedback.append(m.feedback))
    spin_until(send.done, 10.0, "goal response")
    handle = send.result()
    out["accepted"] = handle.accepted
    result = handle.get_result_async()
    spin_until(result.done, 10.0, "result")
    spin_until(lambda: feedback, 5.0, "feedback")
    res = result.result().result
    out["goal"] = got["goal"]
    out["result"] = {"error_code": res.error_code, "error_string": res.error_string,
                     "status": result.result().status}
    out["feedback"] = [{"joint_names": list(f.joint_names), "desired": list(f.desired.positions),
                        "error": list(f.error.positions)} for f in feedback]

    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    states = []
    sub = cli_node.create_subscription(
        JointTrajectoryControllerState, STATE_TOPIC, states.append, qos)
    pub = srv_node.create_publisher(JointTrajectoryControllerState, STATE_TOPIC, qos)
    spin_until(lambda: pub.get_subscription_count() >= 1, 15.0, "state topic matching")
    st = JointTrajectoryControllerState()
    st.header.frame_id = "base_link"
    st.joint_names = JOINTS
    st.reference = point([1.0, -0.5], 2.0)
    st.feedback = point([0.9, -0.45], 2.0)
    st.error = point([0.1, -0.05], 2.0)
    st.output = st.reference
    st.multi_dof_joint_names = ["base"]
    st.multi_dof_reference = MultiDOFJointTrajectoryPoint()
    st.speed_scaling_factor = 0.5
    pub.publish(st)
    spin_until(lambda: states, 10.0, "controller state")
    s = states[0]
    out["state"] = {"joint_names": list(s.joint_names), "reference": list(s.reference.positions),
                    "error": list(s.error.positions), "frame_id": s.header.frame_id,
                    "multi_dof_joint_names": list(s.multi_dof_joint_names),
                    "speed_scaling_factor": s.speed_scaling_factor}
    server.destroy()
    client.destroy()
    for ex in executors:
        ex.shutdown()
finally:
    rclpy.try_shutdown(context=ctx_srv)
    rclpy.try_shutdown(context=ctx_cli)
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def control_msgs_path(tmp_path_factory):
    pytest.importorskip("rclpy")
    from ros_interfaces.build import default_cache_dir, ensure_control_msgs

    cache = default_cache_dir(tmp_path_factory)
    path = ensure_control_msgs(cache)
    t0 = time.monotonic()
    assert ensure_control_msgs(cache) == path  # cached: the stamp is there
    assert time.monotonic() - t0 < 2.0
    return path


@pytest.mark.timeout(300)
def test_control_msgs_importable_in_process(control_msgs_path, monkeypatch):
    from rclpy.serialization import deserialize_message, serialize_message

    monkeypatch.syspath_prepend(str(control_msgs_path))
    try:
        from control_msgs.action import FollowJointTrajectory
        from control_msgs.msg import (
            JointComponentTolerance, JointTolerance, JointTrajectoryControllerState,
        )

        assert list(FollowJointTrajectory.Goal.get_fields_and_field_types()) == [
            "trajectory", "multi_dof_trajectory", "path_tolerance", "component_path_tolerance",
            "goal_tolerance", "component_goal_tolerance", "goal_time_tolerance"]
        assert list(FollowJointTrajectory.Result.get_fields_and_field_types()) == [
            "error_code", "error_string"]
        assert list(FollowJointTrajectory.Feedback.get_fields_and_field_types()) == [
            "header", "joint_names", "desired", "actual", "error", "multi_dof_joint_names",
            "multi_dof_desired", "multi_dof_actual", "multi_dof_error"]
        R = FollowJointTrajectory.Result
        assert (R.SUCCESSFUL, R.INVALID_GOAL, R.INVALID_JOINTS, R.OLD_HEADER_TIMESTAMP,
                R.PATH_TOLERANCE_VIOLATED, R.GOAL_TOLERANCE_VIOLATED) == (0, -1, -2, -3, -4, -5)
        assert list(JointTolerance.get_fields_and_field_types()) == [
            "name", "position", "velocity", "acceleration"]
        assert (JointComponentTolerance.X_AXIS, JointComponentTolerance.ROTATION) == (1, 5)
        assert list(JointTrajectoryControllerState.get_fields_and_field_types()) == [
            "header", "joint_names", "reference", "feedback", "error", "output",
            "multi_dof_joint_names", "multi_dof_reference", "multi_dof_feedback",
            "multi_dof_error", "multi_dof_output", "speed_scaling_factor"]

        g = FollowJointTrajectory.Goal()
        g.trajectory.joint_names = ["a", "b"]
        g.path_tolerance = [JointTolerance(name="a", position=0.1)]
        back = deserialize_message(serialize_message(g), FollowJointTrajectory.Goal)
        assert back == g
    finally:
        for name in list(sys.modules):
            if name == "control_msgs" or name.startswith("control_msgs."):
                del sys.modules[name]


@pytest.mark.timeout(300)
def test_control_msgs_over_dds_in_subprocess(control_msgs_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(control_msgs_path)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["ROS_DOMAIN_ID"] = str(DOMAIN_ID)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.pop("ROS_LOCALHOST_ONLY", None)
    env.pop("AMENT_PREFIX_PATH", None)
    r = subprocess.run([sys.executable, "-c", CHILD, ACTION, STATE_TOPIC], env=env,
                       capture_output=True, text=True, timeout=60)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, \
        f"child failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}"
    out = json.loads(lines[-1][len("RESULT "):])

    assert out["module"].startswith(str(control_msgs_path))
    assert str(control_msgs_path) not in out["ld_library_path"]
    assert out["accepted"] is True
    assert out["goal"] == {
        "joint_names": ["shoulder", "elbow"], "points": [[0.5, -0.25], [1.0, -0.5]], "t_end": 2,
        "path_tolerance": [["shoulder", 0.1]], "component_goal_tolerance": [["base", 5]],
        "goal_time_tolerance_ns": 250_000_000}
    assert len(out["feedback"]) == 1
    assert out["feedback"][0]["joint_names"] == ["shoulder", "elbow"]
    assert out["feedback"][0]["desired"] == [1.0, -0.5]
    assert out["feedback"][0]["error"] == pytest.approx([0.9, -0.7])
    assert out["result"] == {"error_code": 0, "error_string": "reached", "status": 4}  # SUCCEEDED
    assert out["state"] == {
        "joint_names": ["shoulder", "elbow"], "reference": [1.0, -0.5],
        "error": pytest.approx([0.1, -0.05]), "frame_id": "base_link",
        "multi_dof_joint_names": ["base"], "speed_scaling_factor": 0.5}
