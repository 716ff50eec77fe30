"""Nodes in-process on a private Context (no other process): malformed messages never kill them."""

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros


@pytest.mark.timeout(60)
def test_sim_node_survives_malformed_messages_and_steps_in_lockstep(ctx):
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState  # noqa: F401
    from std_msgs.msg import Float64MultiArray
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from officina.ros.sim_node import SimNode

    node = SimNode(context=ctx, parameter_overrides=[Parameter("pacing", value="lockstep"),
                                                     Parameter("task", value="none")])
    try:
        t = JointTrajectory()
        t.joint_names = list(node.resolved.joint_names)
        t.points = [JointTrajectoryPoint(positions=[1.0, 2.0])]
        node._on_trajectory(t)
        node._on_trajectory(JointTrajectory())
        node._on_commands(Float64MultiArray(data=[float("inf")] * 7))
        node._on_commands(Float64MultiArray(data=[]))
        node._on_gripper(Float64MultiArray(data=[-1.0, 2.0, 3.0]))
        assert node.hw.counts["trajectories_rejected"] == 2
        assert node.hw.counts["commands_rejected"] == 2 and node.hw.counts["gripper_rejected"] == 1
        q0 = node.hw.joint_state().position[:7].copy()
        resp = node._on_step(None, type("R", (), {})())
        assert resp.success and node.hw.periods == 1
        np.testing.assert_allclose(node.hw.joint_state().position[:7], q0, atol=1e-3)  # held
    finally:
        node.destroy_node()


@pytest.mark.timeout(60)
def test_gate_node_survives_malformed_messages(ctx):
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, Float64MultiArray
    from trajectory_msgs.msg import JointTrajectory

    from officina.ros.gate_node import GateNode

    node = GateNode(context=ctx)
    try:
        bad = JointState()
        bad.name = ["panda_joint1"]
        bad.position = [0.0, 1.0]
        node._on_joint_state(bad)
        node._on_commands(Float64MultiArray(data=[float("nan")]))
        node._on_trajectory(JointTrajectory())
        node._on_gripper(Float64MultiArray(data=[]))
        node._on_estop(Bool(data=True))
        node._on_estop(Bool(data=False))
        assert node.core.counts["refused"] == 3 and not node.core.armed and node.core.state is None
        node._on_timer()
    finally:
        node.destroy_node()
