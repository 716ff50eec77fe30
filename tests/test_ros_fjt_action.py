"""FollowJointTrajectory and controller_state end to end, across processes, where control_msgs is
importable — here a control_msgs built from the rosidl wheels (tests/ros_interfaces): the sim
serves the action as joint_trajectory_controller does (success, rejection, cancel, path tolerance,
preemption by a goal and by the topic), and the gate relays /officina/follow_joint_trajectory to
the controller's action only when armed, and aborts it on e-stop."""

import os
import sys

import numpy as np
import pytest

pytest.importorskip("rclpy")

from officina.robots import load_robot  # noqa: E402

pytestmark = pytest.mark.ros

ACTION = "/joint_trajectory_controller/follow_joint_trajectory"
STATE = "/joint_trajectory_controller/controller_state"
GATE_ACTION = "/officina/follow_joint_trajectory"
SUCCEEDED, CANCELED, ABORTED = 4, 5, 6


@pytest.fixture
def fjt(ros, control_msgs_path, monkeypatch):
    """`ros` (conftest) with control_msgs importable here and in the node processes it starts."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(control_msgs_path),
                                                                   os.environ.get("PYTHONPATH")])))
    monkeypatch.syspath_prepend(str(control_msgs_path))
    yield ros
    for m in [m for m in sys.modules if m == "control_msgs" or m.startswith("control_msgs.")]:
        del sys.modules[m]  # other tests run without control_msgs, as on a machine without it


def goal_msg(names, points, path_tolerance=(), goal_tolerance=(), goal_time=0.0):
    from control_msgs.action import FollowJointTrajectory
    from control_msgs.msg import JointTolerance

    from officina.ros.convert import s_to_duration, trajectory_to_msg
    from officina.ros.jtc import TrajectoryMsg, TrajectoryPointMsg

    g = FollowJointTrajectory.Goal()
    g.trajectory = trajectory_to_msg(TrajectoryMsg(0.0, tuple(names), tuple(TrajectoryPointMsg(*p) for p in points)))
    g.path_tolerance = [JointTolerance(name=n, position=p) for n, p in path_tolerance]
    g.goal_tolerance = [JointTolerance(name=n, position=p) for n, p in goal_tolerance]
    g.goal_time_tolerance = s_to_duration(goal_time)
    return g


class Goals:
    """An ActionClient on the test's node: send(goal) -> handle or None (rejected); result(handle)."""

    def __init__(self, c, name):
        from control_msgs.action import FollowJointTrajectory
        from rclpy.action import ActionClient

        self.c = c
        self.feedback = []
        self.client = ActionClient(c.node, FollowJointTrajectory, name)
        c.wait_for(self.client.server_is_ready, 30, f"action server {name}")

    def send(self, goal):
        fut = self.client.send_goal_async(goal, feedback_callback=lambda fb: self.feedback.append(fb.feedback))
        self.c.wait_for(fut.done, 10, "goal response")
        h = fut.result()
        return h if h.accepted else None

    def result(self, handle, timeout=15.0):
        fut = handle.get_result_async()
        self.c.wait_for(fut.done, timeout, "goal result")
        r = fut.result()
        return r.status, r.result.error_code, r.result.error_string

    def cancel(self, handle):
        fut = handle.cancel_goal_async()
        self.c.wait_for(fut.done, 10, "cancel response")


def last_q(c, names):
    """The positions of the last /joint_states the test took (possibly behind the arm's)."""
    m = c.received["/joint_states"][-1]
    return np.array(m.position)[[list(m.name).index(j) for j in names]]


def check_feedback(feedback, names, q_start, target):
    """What the controller's contract guarantees of a goal's feedback as a client sees it: it
    comes while the goal executes (rclpy's ActionClient drops what it takes after the result, and
    takes one message per wait, so how many reach the client before the result depends on the
    client's executor, not on the controller), in order, naming the goal's joints, its desired
    positions on the way from the start to the target (a move from rest to rest)."""
    assert len(feedback) >= 1
    n = len(names)
    stamps = [fb.header.stamp.sec + fb.header.stamp.nanosec * 1e-9 for fb in feedback]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    reach = np.abs(np.asarray(q_start) - target) + 1e-3
    for fb in feedback:
        assert list(fb.joint_names) == names and len(fb.actual.positions) == n and len(fb.error.positions) == n
        assert np.all(np.abs(np.asarray(fb.desired.positions) - target) <= reach)


def start_sim(fjt, tag="sim"):
    from sensor_msgs.msg import JointState

    sim = fjt.start(["ros", "sim", "--robot", "panda", "--task", "none"], tag)
    c = fjt.client()
    c.collect(JointState, "/joint_states")
    try:
        c.wait_for(lambda: len(c.received["/joint_states"]) > 5, 60, "joint states")
    except TimeoutError:
        raise AssertionError(sim.output()) from None
    return sim, c


def arm_q(c, names, timeout=10.0):
    """The arm's state now: the first /joint_states stamped at or after this call. The sim in real
    time stamps its states with the ROS clock of this machine; the test's own queue of them can
    lag the sim by many periods under load, and its last message then is not the arm's state."""
    t = c.node.get_clock().now().nanoseconds * 1e-9

    def current():
        lst = c.received["/joint_states"]
        return bool(lst) and lst[-1].header.stamp.sec + lst[-1].header.stamp.nanosec * 1e-9 >= t

    c.wait_for(current, timeout, "a joint state stamped now")
    m = c.received["/joint_states"][-1]
    idx = [list(m.name).index(n) for n in names]
    return np.array(m.position)[idx], np.array(m.velocity)[idx]


@pytest.mark.timeout(180)
def test_sim_serves_follow_joint_trajectory_as_the_jtc(fjt):
    from control_msgs.msg import JointTrajectoryControllerState
    from trajectory_msgs.msg import JointTrajectory

    from officina.ros.convert import trajectory_to_msg
    from officina.ros.fjt import ErrorCode
    from officina.ros.jtc import TrajectoryMsg, TrajectoryPointMsg

    spec = load_robot("panda")
    names, n = list(spec.joint_names), spec.dof
    sim, c = start_sim(fjt)
    c.collect(JointTrajectoryControllerState, STATE)
    goals = Goals(c, ACTION)
    c.wait_for(lambda: len(c.received[STATE]) > 3, 10, "controller_state")
    st = c.received[STATE][-1]
    assert list(st.joint_names) == names and len(st.reference.positions) == n and len(st.feedback.positions) == n

    # a goal that names 2 of 7 joints is rejected at the goal callback
    assert goals.send(goal_msg(names[:2], [(1.0, [0.0, 0.0])])) is None

    # success: reached within tolerance, with feedback on the way
    target = spec.home + np.array([0.2, 0.1, 0.2, -0.2, 0.2, 0.2, 0.2])
    q_start, _ = arm_q(c, names)
    h = goals.send(goal_msg(names, [(1.0, target, np.zeros(n))]))
    assert h is not None
    status, code, text = goals.result(h)
    assert (status, code) == (SUCCEEDED, ErrorCode.SUCCESSFUL), text
    # A goal succeeds at the first period after its end with every joint within its goal
    # tolerance (here the velocity only, 0.01 rad/s): that may be a moment of a wrist still
    # settling (one loaded run had 0.1 rad/s a moment later), and the controller then holds the
    # last point: the arm comes to rest there.
    q, qd = arm_q(c, names)
    assert np.max(np.abs(q - target)) < 0.02

    def at_rest():
        q, qd = arm_q(c, names)
        return np.max(np.abs(q - target)) < 0.02 and np.max(np.abs(qd)) < 0.05

    c.wait_for(at_rest, 5, "the arm at rest at the target")
    check_feedback(goals.feedback, names, q_start, target)

    # cancel: holds where the reference was, goal canceled with SUCCESSFUL
    # (a long goal, canceled once the arm is on its way: the cancel lands before its end, and away
    # from both ends, however late a loaded machine delivers it)
    h = goals.send(goal_msg(names, [(10.0, spec.home, np.zeros(n))]))
    c.wait_for(lambda: np.max(np.abs(last_q(c, names) - target)) > 0.05, 15, "the arm on its way")
    goals.cancel(h)
    status, code, _ = goals.result(h)
    assert (status, code) == (CANCELED, ErrorCode.SUCCESSFUL)
    c.spin_for(0.4)
    q1, _ = arm_q(c, names)
    c.spin_for(0.4)
    q2, qd2 = arm_q(c, names)
    assert np.max(np.abs(q2 - q1)) < 0.005 and np.max(np.abs(qd2)) < 0.05  # holding
    assert np.max(np.abs(q2 - target)) > 0.03 and np.max(np.abs(q2 - spec.home)) > 0.03  # stopped on the way

    # path tolerance: a 1e-5 rad tolerance on the first joint is violated while moving -> aborted
    h = goals.send(goal_msg(names, [(1.0, target, np.zeros(n))], path_tolerance=[(names[0], 1e-5)]))
    status, code, text = goals.result(h)
    assert (status, code) == (ABORTED, ErrorCode.PATH_TOLERANCE_VIOLATED) and names[0] in text

    # preemption by a new goal, and by a trajectory on the topic (goals long enough to be running
    # when the next command lands, however late a loaded machine delivers it)
    pub = c.publisher(JointTrajectory, "/joint_trajectory_controller/joint_trajectory")
    c.wait_for(lambda: pub.get_subscription_count() > 0, 10, "discovery")
    h1 = goals.send(goal_msg(names, [(10.0, spec.home, np.zeros(n))]))
    c.spin_for(0.3)
    h2 = goals.send(goal_msg(names, [(1.0, target, np.zeros(n))]))
    status, _, text = goals.result(h1)
    assert status == ABORTED and "preempted" in text
    assert goals.result(h2)[:2] == (SUCCEEDED, ErrorCode.SUCCESSFUL)
    h3 = goals.send(goal_msg(names, [(10.0, spec.home, np.zeros(n))]))
    c.spin_for(0.3)
    pub.publish(trajectory_to_msg(TrajectoryMsg(0.0, tuple(names), (TrajectoryPointMsg(1.0, tuple(target)),))))
    status, _, text = goals.result(h3)
    assert status == ABORTED and "topic" in text
    assert sim.alive(), sim.output()


@pytest.mark.timeout(180)
def test_gate_relays_follow_joint_trajectory_only_when_armed_and_aborts_on_estop(fjt):
    from diagnostic_msgs.msg import DiagnosticStatus
    from std_msgs.msg import Bool
    from std_srvs.srv import SetBool

    from officina.ros.qos import qos_latched
    from officina.ros.fjt import ErrorCode

    spec = load_robot("panda")
    names, n = list(spec.joint_names), spec.dof
    sim, c = start_sim(fjt)
    # (the state timeout at 5 s rather than 1 s: on a heavily loaded machine the sim's states can
    # pause for over a second, and the gate would disarm, rightly, before the e-stop this test is
    # about; the timeout itself is tested in test_ros_inprocess.py)
    gate = fjt.start(["ros", "gate", "--robot", "panda", "--ros-args", "-p", "state_timeout_s:=5.0"], "gate")
    c.collect(DiagnosticStatus, "/officina/safety_state", qos_latched())
    goals = Goals(c, GATE_ACTION)

    def gate_state():
        m = c.received["/officina/safety_state"][-1] if c.received["/officina/safety_state"] else None
        return {kv.key: kv.value for kv in m.values} if m is not None else {}

    c.wait_for(lambda: gate_state().get("follow_joint_trajectory") == "ready", 30, "the gate to find the controller's action")
    target = spec.home + np.array([0.2, 0.1, 0.2, -0.2, 0.2, 0.2, 0.2])

    # disarmed: the goal is refused, nothing moves
    q0, _ = arm_q(c, names)
    assert goals.send(goal_msg(names, [(1.0, target, np.zeros(n))])) is None
    c.wait_for(lambda: any("not armed" in m.message for m in c.received["/officina/safety_state"]), 5,
               "the refusal on safety_state")
    c.spin_for(0.5)
    assert np.max(np.abs(arm_q(c, names)[0] - q0)) < 0.005

    # armed: relayed to the controller's action; feedback and result come back
    assert c.call(SetBool, "/officina/arm", SetBool.Request(data=True)).success
    q_start, _ = arm_q(c, names)
    h = goals.send(goal_msg(names, [(1.0, target, np.zeros(n))]))
    assert h is not None
    status, code, text = goals.result(h)
    assert (status, code) == (SUCCEEDED, ErrorCode.SUCCESSFUL), text
    assert np.max(np.abs(arm_q(c, names)[0] - target)) < 0.02
    check_feedback(goals.feedback, names, q_start, target)  # relayed from the controller's

    # too fast for the joint limits: the gate refuses the whole goal
    assert goals.send(goal_msg(names, [(0.05, spec.home, np.zeros(n))])) is None

    # e-stop during a goal: aborted with the reason, the arm brakes to rest and the gate disarms
    # (a long goal, the e-stop once the arm is on its way: it lands before the goal's end, and
    # away from both ends, however late a loaded machine delivers it)
    estop = c.publisher(Bool, "/officina/estop")
    c.wait_for(lambda: estop.get_subscription_count() > 0, 10, "discovery")
    h = goals.send(goal_msg(names, [(10.0, spec.home, np.zeros(n))]))
    assert h is not None
    ended = h.get_result_async()
    c.wait_for(lambda: ended.done() or np.max(np.abs(last_q(c, names) - target)) > 0.05, 15, "the arm on its way")
    assert not ended.done(), (ended.result().result.error_string, gate_state().get("last_refusal"))
    estop.publish(Bool(data=True))
    status, _, text = goals.result(h)
    assert status == ABORTED and "e-stop" in text
    c.spin_for(1.0)
    q1, qd1 = arm_q(c, names)
    c.spin_for(0.5)
    q2, _ = arm_q(c, names)
    assert np.max(np.abs(qd1)) < 0.05 and np.max(np.abs(q2 - q1)) < 0.005
    assert np.max(np.abs(q2 - spec.home)) > 0.03  # stopped on the way, not finished
    c.wait_for(lambda: c.received["/officina/safety_state"][-1].message.startswith("E-STOP"), 5, "E-STOP state")
    assert goals.send(goal_msg(names, [(2.0, spec.home, np.zeros(n))])) is None
    assert sim.alive() and gate.alive(), gate.output()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stop", ["estop", "topic"])
@pytest.mark.parametrize("executor", ["single", "events"])
def test_gate_commands_again_after_a_goal_the_controller_took_after_a_stop(fjt, executor, stop):
    """The controller's acceptance of a relayed goal is on its way when the e-stop comes: the
    gate's braking trajectory reaches the controller first, the goal after it (and would replace
    it until the cancel arrives). Here the test is the arm (it publishes /joint_states) and the
    controller, whose node is not spun until the gate's braking trajectory has arrived, so that
    it takes the goal after it. The gate cancels the goal and, once it has ended, sends its hold
    again: the last trajectory for the controller comes after the goal's cancel. The same when a
    trajectory on /officina/joint_trajectory replaces the goal (``stop`` "topic"), the gate armed:
    once the goal has ended, the gate sends that trajectory again (its start made the time the
    gate checked it), so the newest command, not the late goal or its cancel's hold, has the
    last word."""
    import time

    from control_msgs.action import FollowJointTrajectory
    from diagnostic_msgs.msg import DiagnosticStatus
    from rclpy.action import ActionServer, CancelResponse, GoalResponse
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool
    from std_srvs.srv import SetBool
    from trajectory_msgs.msg import JointTrajectory

    from officina.ros.convert import joint_state_msg, trajectory_to_msg
    from officina.ros.jtc import TrajectoryMsg, TrajectoryPointMsg
    from officina.ros.qos import qos_latched

    spec = load_robot("panda")
    names, n = list(spec.joint_names), spec.dof
    gate = fjt.start(["ros", "gate", "--robot", "panda", "--executor", executor], "gate")
    c = fjt.client()
    js_pub = c.publisher(JointState, "/joint_states")
    zero = np.zeros(n)
    c.node.create_timer(0.01, lambda: js_pub.publish(
        joint_state_msg(names, c.node.get_clock().now().nanoseconds * 1e-9, spec.home, zero, zero)))
    ctrl = fjt.client(name="controller")
    log = []

    def on_goal(goal):
        log.append(("accepted", time.perf_counter()))
        return GoalResponse.ACCEPT

    def on_cancel(handle):
        log.append(("cancel", time.perf_counter()))
        return CancelResponse.ACCEPT

    def execute(handle):  # runs until canceled, as a goal the controller executes
        while not handle.is_cancel_requested:
            ctrl.executor.spin_once(timeout_sec=0.01)
        handle.canceled()
        log.append(("ended", time.perf_counter()))
        return FollowJointTrajectory.Result()

    ActionServer(ctrl.node, FollowJointTrajectory, ACTION, execute_callback=execute, goal_callback=on_goal,
                 cancel_callback=on_cancel)
    topic = "/joint_trajectory_controller/joint_trajectory"
    c.collect(JointTrajectory, topic)
    c.collect(DiagnosticStatus, "/officina/safety_state", qos_latched())

    def gate_state():
        m = c.last("/officina/safety_state")
        return {kv.key: kv.value for kv in m.values} if m is not None else {}

    try:
        c.wait_for(lambda: gate_state().get("follow_joint_trajectory") == "ready" and gate_state().get("stamp"), 60,
                   "the gate to find the action and the arm's state")
    except TimeoutError:
        raise AssertionError(gate.output()) from None
    assert c.call(SetBool, "/officina/arm", SetBool.Request(data=True)).success
    goals = Goals(c, GATE_ACTION)
    h = goals.send(goal_msg(names, [(2.0, spec.home + 0.2, np.zeros(n))]))  # accepted by the gate, relayed
    assert h is not None
    c.spin_for(0.5)  # the relayed goal waits at the controller, whose node is not spun
    if stop == "estop":
        estop = c.publisher(Bool, "/officina/estop")
        c.wait_for(lambda: estop.get_subscription_count() >= 1, 10, "discovery")
        estop.publish(Bool(data=True))
        c.wait_for(lambda: len(c.received[topic]) >= 1, 10, "the e-stop's braking trajectory")
    else:
        newest = TrajectoryMsg(0.0, tuple(names), (TrajectoryPointMsg(3.0, tuple(spec.home - 0.1), (0.0,) * n),))
        pub = c.publisher(JointTrajectory, "/officina/joint_trajectory")
        c.wait_for(lambda: pub.get_subscription_count() >= 1, 10, "discovery")
        t_sent = c.node.get_clock().now().nanoseconds * 1e-9
        pub.publish(trajectory_to_msg(newest))
        c.wait_for(lambda: len(c.received[topic]) >= 1, 10, "the topic's trajectory at the controller")
    assert log == []
    result = h.get_result_async()

    def spin_both(done, seconds):  # the controller takes the goal now, after the hold
        end = time.monotonic() + seconds
        while not done() and time.monotonic() < end:
            ctrl.executor.spin_once(timeout_sec=0.005)
            c.executor.spin_once(timeout_sec=0.005)

    spin_both(result.done, 15)
    assert [e for e, _ in log] == ["accepted", "cancel", "ended"], log
    why = "e-stop" if stop == "estop" else "replaced by a trajectory"
    assert result.done() and result.result().status == ABORTED and why in result.result().result.error_string
    spin_both(lambda: False, 0.5)
    t_accept, t_cancel = log[0][1], log[1][1]
    walls = c.recv_wall[topic]
    assert walls[0] < t_accept < t_cancel < walls[-1]  # sent before the goal's acceptance and again after it
    last = c.received[topic][-1]
    assert list(last.joint_names) == names and np.allclose(last.points[-1].velocities, 0.0)
    if stop == "estop":
        np.testing.assert_allclose(last.points[-1].positions, spec.home, atol=1e-9)  # held where the arm stands
        assert gate_state().get("estopped") == "true" and gate.alive(), gate.output()
        return
    np.testing.assert_allclose(last.points[-1].positions, spec.home - 0.1, atol=1e-9)
    first = c.received[topic][0]
    assert first.header.stamp.sec == 0 and first.header.stamp.nanosec == 0  # forwarded unchanged
    stamp = last.header.stamp.sec + last.header.stamp.nanosec * 1e-9
    assert t_sent - 1.0 < stamp <= t_sent + 1.0  # goes on with it, not starting it over
    assert gate_state().get("armed") == "true" and "sent again" in gate_state().get("last_event", "")
    assert gate.alive(), gate.output()
