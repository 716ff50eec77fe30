"""`officina ros exo`: in-process (private Context) against the exoskeleton library's own static
numbers; malformed messages never kill the node."""

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("pinocchio")
pytestmark = pytest.mark.ros

POSTURES = [  # ankle, knee, hip, l5s1, shoulder, elbow (rad)
    np.zeros(6),
    np.radians([5.0, 20.0, 60.0, 30.0, 90.0, 0.0]),    # stoop, arms hanging (shoulder = trunk angle)
    np.radians([30.0, 100.0, 90.0, 20.0, 70.0, 10.0]),  # squat
]


def _spin_until(executor, pred, timeout):
    import time

    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out"
        executor.spin_once(timeout_sec=0.01)


def _js(names, q, stamp):
    from officina.ros.convert import s_to_time
    from sensor_msgs.msg import JointState

    m = JointState()
    m.header.stamp = s_to_time(stamp)
    m.name = list(names)
    m.position = [float(x) for x in q]
    return m


@pytest.mark.timeout(60)
def test_exo_node_matches_the_static_model_and_the_exo_library(ctx):
    import rclpy
    from geometry_msgs.msg import WrenchStamped
    from officina.exoskeleton.exo import back_exo_torque, exo_by_name
    from officina.exoskeleton.model import JOINTS, human_model, static_l5s1_q
    from officina.ros.qos import qos_reliable
    from officina.ros.exo_node import LOADS_LABELS, ExoNode
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    over = [Parameter("body_mass_kg", value=82.0), Parameter("stature_m", value=1.80), Parameter("sex", value="male"),
            Parameter("load_kg", value=10.0), Parameter("exo", value="spexor"), Parameter("rate_hz", value=200.0)]
    node = ExoNode(context=ctx, parameter_overrides=over)
    client = rclpy.create_node("exo_test_client", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(client)
    got = {"w": [], "w0": [], "loads": [], "tau": []}
    client.create_subscription(WrenchStamped, "/exo/l5s1/wrench", got["w"].append, qos_reliable())
    client.create_subscription(WrenchStamped, "/exo/l5s1/wrench_no_exo", got["w0"].append, qos_reliable())
    client.create_subscription(Float64MultiArray, "/exo/l5s1/loads", got["loads"].append, qos_reliable())
    client.create_subscription(Float64MultiArray, "/exo/assist_torque", got["tau"].append, qos_reliable())
    pub = client.create_publisher(JointState, "/human/joint_states", qos_reliable())
    model = human_model(82.0, 1.80, "male")
    spexor = exo_by_name("spexor")
    # the wire carries the joints in another order, with an extra joint
    order = [3, 0, 5, 1, 4, 2]
    try:
        _spin_until(ex, lambda: pub.get_subscription_count() > 0 and all(
            client.count_publishers(t) > 0 for t in ("/exo/l5s1/wrench", "/exo/assist_torque")), 10)
        _spin_until(ex, lambda: node.pub_wrench.get_subscription_count() > 0
                    and node.pub_assist.get_subscription_count() > 0, 10)
        for k, q in enumerate(POSTURES):
            n = len(got["loads"])
            pub.publish(_js([JOINTS[i] for i in order] + ["neck"], list(q[order]) + [0.3], 1.0 + k))
            _spin_until(ex, lambda: len(got["loads"]) > n and len(got["tau"]) > n and len(got["w"]) > n
                        and len(got["w0"]) > n, 10)
            s = static_l5s1_q(model, q, 10.0)
            L = dict(zip(LOADS_LABELS, got["loads"][-1].data))
            assert got["loads"][-1].layout.dim[0].label == ",".join(LOADS_LABELS)
            # without the exo: the library's static model, same values
            np.testing.assert_allclose(L["l5s1_moment_no_exo_nm"], s.moment, rtol=1e-6, atol=1e-5)
            np.testing.assert_allclose(L["compression_no_exo_n"], s.compression, rtol=1e-6, atol=1e-4)
            np.testing.assert_allclose(L["shear_no_exo_n"], s.shear, rtol=1e-6, atol=1e-4)
            w0 = got["w0"][-1]
            assert w0.header.frame_id == "l5s1" and w0.header.stamp.sec == 1 + k
            np.testing.assert_allclose(-w0.wrench.torque.y, s.moment, rtol=1e-6, atol=1e-5)
            np.testing.assert_allclose(-w0.wrench.force.x, s.shear, rtol=1e-6, atol=1e-4)
            # the device's torque is the library's curve at the trunk-thigh angle (hip + l5s1)
            tau = float(back_exo_torque(spexor, model, q, 10.0))
            np.testing.assert_allclose(got["tau"][-1].data, [tau], atol=1e-9)
            if tau > 0:
                assert L["l5s1_moment_nm"] < L["l5s1_moment_no_exo_nm"] - 0.5 * tau
                assert L["chest_pad_force_n"] > 0
            np.testing.assert_allclose(-got["w"][-1].wrench.torque.y, L["l5s1_moment_nm"], rtol=1e-9)
        assert got["tau"][0].data[0] == 0.0 and got["tau"][1].data[0] > 20.0  # upright: no support
        # a load change through the parameter interface is validated and takes effect
        assert not node.set_parameters([Parameter("load_kg", value=-3.0)])[0].successful
        assert node.set_parameters([Parameter("load_kg", value=0.0)])[0].successful
        node.process(_js(JOINTS, POSTURES[1], 9.0))
        assert node.last.moment_no_exo == pytest.approx(float(static_l5s1_q(model, POSTURES[1], 0.0).moment), rel=1e-6)
    finally:
        client.destroy_node()
        node.destroy_node()


@pytest.mark.timeout(60)
def test_exo_node_survives_malformed_messages_and_active_exo_matches_library(ctx):
    from officina.exoskeleton.exo import back_exo_torque, exo_by_name
    from officina.exoskeleton.model import JOINTS, human_model
    from officina.ros.exo_node import ExoNode
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState

    node = ExoNode(context=ctx, parameter_overrides=[Parameter("exo", value="xotrunk"),
                                                     Parameter("load_kg", value=5.0)])
    try:
        bad = [
            _js(JOINTS[:4], np.zeros(4), 1.0),                              # joints missing
            _js(JOINTS, [0.0, float("nan"), 0, 0, 0, 0], 1.0),               # not finite
            _js(JOINTS, np.zeros(3), 1.0),                                  # 6 names, 3 positions
            JointState(),                                                   # empty
        ]
        for k, m in enumerate(bad):
            node._on_joint_state(m)
            node._on_timer()
            assert node.counts["malformed"] == k + 1
        assert node.counts["processed"] == 0 and "joint" in node.last_error
        q = POSTURES[1]
        node._on_joint_state(_js(JOINTS, q, 2.0))
        node._on_timer()
        assert node.counts["processed"] == 1
        tau = float(back_exo_torque(exo_by_name("xotrunk"), human_model(), q, 5.0))
        assert 0 < node.last.exo_torque == pytest.approx(tau, rel=1e-9)
    finally:
        node.destroy_node()


@pytest.mark.timeout(60)
def test_exo_node_refuses_bad_parameters(ctx):
    from officina.ros.exo_node import ExoNode
    from rclpy.parameter import Parameter

    from officina.errors import BadInput

    for over in ([Parameter("exo", value="paexo")], [Parameter("joint_names", value=["a", "b"])],
                 [Parameter("sex", value="x")]):
        with pytest.raises(BadInput):
            ExoNode(context=ctx, parameter_overrides=over)


@pytest.mark.timeout(60)
def test_dynamic_mode_adds_inertial_terms(ctx):
    """A posture sequence with finite-difference accelerations differs from quasi-static, and a
    still posture gives the static value again."""
    from officina.exoskeleton.model import JOINTS, human_model, static_l5s1_q
    from officina.ros.exo_node import ExoNode
    from rclpy.parameter import Parameter

    node = ExoNode(context=ctx, parameter_overrides=[Parameter("dynamic", value=True)])
    try:
        q = POSTURES[1]
        for k in range(3):  # still
            node.process(_js(JOINTS, q, 1.0 + 0.01 * k))
        s = float(static_l5s1_q(human_model(), q, 0.0).moment)
        assert node.last.moment == pytest.approx(s, rel=1e-6)
        dq = np.radians([0, 0, 2.0, 1.0, 2.0, 0])  # trunk accelerating into flexion
        node.process(_js(JOINTS, q + dq, 1.03))
        assert abs(node.last.moment - float(static_l5s1_q(human_model(), q + dq, 0.0).moment)) > 1.0
    finally:
        node.destroy_node()
