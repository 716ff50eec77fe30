"""The safety gate: pure logic (no DDS) and across processes in front of the sim."""

import time

import numpy as np
import pytest

from officina.robots import load_robot
from officina.ros.gate_core import GateConfig, GateCore, braking_trajectory
from officina.ros.jtc import TrajectoryMsg, TrajectoryPointMsg as P

SPEC = load_robot("panda")
NAMES = SPEC.joint_names


def js(t, q, v=None):
    from officina.interfaces import JointState

    n = len(q)
    return JointState(t, NAMES, np.asarray(q, float), np.zeros(n) if v is None else np.asarray(v, float), np.zeros(n))


def core(**kw):
    return GateCore(NAMES, SPEC.limits, GateConfig(**kw))


def test_disarmed_forwards_nothing_and_arming_needs_a_state():
    g = core()
    assert g.on_command(SPEC.home) is None and "not armed" in g.last_refusal
    ok, why, _ = g.set_armed(True)
    assert not ok and "joint_states" in why
    g.on_joint_state(js(0.0, SPEC.home))
    assert g.set_armed(True)[0]
    out = g.on_command(SPEC.home + 1e-6)  # within the acceleration limit from rest: passes unchanged
    assert out.kind == "commands" and np.allclose(out.positions, SPEC.home + 1e-6, atol=1e-12)


def test_commands_are_filtered_within_limits_and_malformed_refused():
    g = core()
    g.on_joint_state(js(0.0, SPEC.home))
    g.set_armed(True)
    out = g.on_command(SPEC.home + 1.0)  # a 1 rad jump in one period
    step = np.abs(out.positions - SPEC.home)
    assert np.all(step <= SPEC.limits.acceleration * g.dt ** 2 + 1e-12)  # from rest: acceleration-bounded
    before = g.counts["refused"]
    for bad in ([0.0, 1.0], [np.nan] * 7, [np.inf] * 7):
        out = g.on_command(np.asarray(bad))
        assert out.kind == "commands" and np.all(np.isfinite(out.positions))
    assert g.counts["refused"] == before + 3 and "refused" in g.last_refusal


def test_a_backlog_goes_out_as_its_newest_command_one_per_period():
    """The filter limits each command as one period. A backlog of streamed commands that arrives
    at once (the gate's process was descheduled while the client streamed on), forwarded at once,
    would move the arm by the whole backlog's worth in one period under a controller that takes
    the newest command. One position command goes out per state with a newer stamp: the first of
    a period at once, the others wait and the newest replaces them; it goes out with the next
    state, as one period's step within the limits, and the arm catches up with the stream at them.
    A malformed command is refused at once all the same, and a disarm or an e-stop drops the
    waiting command."""
    dt = 0.004
    v = 0.25 * np.asarray(SPEC.limits.velocity)[0]  # joint 0 at a quarter of its velocity limit
    g = core()
    g.on_joint_state(js(0.0, SPEC.home))
    g.set_armed(True)
    q = SPEC.home.copy()
    qd = np.zeros(7)
    k = 0

    def stream(n):  # n periods of the ramp up to v and on at it: a state, then its command
        nonlocal k
        for _ in range(n):
            k += 1
            qd[0] = min(v, qd[0] + SPEC.limits.acceleration[0] * dt * 0.5)
            q[0] += qd[0] * dt
            g.on_joint_state(js(k * dt, q, qd))
            out = g.on_command(q.copy())
            assert out is not None and np.allclose(out.positions, q, atol=1e-9)  # at once, unchanged

    stream(150)
    sent = g.counts["forwarded_commands"]
    backlog = []
    for _ in range(100):  # 0.4 s of the stream, delivered at once after the states' period
        q[0] += v * dt
        backlog.append(q.copy())
    outs = [g.on_command(c) for c in backlog]
    assert outs[0] is None and all(o is None for o in outs)  # this period's command has gone out
    assert g.counts["forwarded_commands"] == sent and g.counts["replaced_commands"] == 99
    assert np.array_equal(g.pending, backlog[-1])
    before = g._q_forwarded.copy()
    out = g.on_joint_state(js((k + 1) * dt, before, qd))  # the next period: the newest, filtered
    k += 1
    step = out.positions - before
    assert 0 < step[0] <= SPEC.limits.velocity[0] * dt + 1e-12 and np.allclose(step[1:], 0.0)
    assert g.pending is None and g.counts["watchdog_holds"] == 0
    # the arm catches up with the stream within the limits, one command per period
    for _ in range(200):
        k += 1
        q[0] += v * dt
        g.on_joint_state(js(k * dt, g._q_forwarded, qd))
        prev = g._q_forwarded.copy()
        out = g.on_command(q.copy())
        assert out is not None and abs(out.positions[0] - prev[0]) <= SPEC.limits.velocity[0] * dt + 1e-12
    assert abs(g._q_forwarded[0] - q[0]) < 1e-9  # caught up
    # a waiting command is dropped by a disarm and an e-stop
    here = g._q_forwarded.copy()
    for drop in ("disarm", "estop"):
        k += 1
        g.on_joint_state(js(k * dt, here))
        assert g.on_command(here.copy()) is not None and g.on_command(here + 1e-4) is None
        assert g.pending is not None
        g.set_armed(False) if drop == "disarm" else g.estop(True)
        assert g.pending is None
        k += 1
        sent = g.counts["forwarded_commands"]
        g.on_joint_state(js(k * dt, here))
        assert g.counts["forwarded_commands"] == sent
        g.estop(False)
        g.set_armed(True)
    # a malformed command in a used period is refused at once, with the hold
    k += 1
    g.on_joint_state(js(k * dt, here))
    assert g.on_command(here.copy()) is not None
    refused = g.counts["refused"]
    out = g.on_command(np.full(7, np.nan))
    assert out is not None and g.counts["refused"] == refused + 1 and g.holding


def test_watchdog_holds_then_rests():
    """A stream that stops while the arm moves: the hold brakes from the last command with the
    arm's measured velocity (a forward controller has held the last command, so the arm stands
    there: the hold keeps it there, it does not move the arm on by the stream's braking
    distance); an arm still moving (a driver that interpolates) is braked monotonically to rest."""
    for moving in (False, True):
        g = core()
        g.on_joint_state(js(0.0, SPEC.home))
        g.set_armed(True)
        q = SPEC.home.copy()
        v = np.zeros(7)
        for k in range(100):  # ramp joint 0 up to speed
            v[0] = 0.5 * min(1.0, k / 50)
            q[0] += v[0] * g.dt
            g.on_command(q)
            g.on_joint_state(js((k + 1) * g.dt, q, v))
        outs = []
        t = 100 * g.dt
        qm = q.copy()
        for k in range(400):
            t += g.dt
            o = g.on_joint_state(js(t, qm, v if moving else None))
            if o is not None:
                outs.append(o.positions[0])
                if moving:
                    qm[0] = o.positions[0]
                    v[0] = (outs[-1] - outs[-2]) / g.dt if len(outs) > 1 else v[0]
        assert g.counts["watchdog_holds"] == 1 and not g.holding
        if not moving:
            assert max(abs(x - q[0]) for x in outs) < 1e-9  # held where the arm stands
        else:
            vel = np.diff(outs) / g.dt
            assert np.all(np.diff(vel) <= 1e-9) and abs(vel[-1]) < 1e-6  # decelerates monotonically to rest
            assert outs[-1] - q[0] <= 0.5 ** 2 / (2 * SPEC.limits.acceleration[0]) + 1e-3


def test_watchdog_holds_at_the_reference_not_at_the_offset_measured_joints():
    """A controller after the forward controller (an admittance controller pressing a part) puts
    the measured joints a few mrad from the references: a late stream is held at the last
    reference, which that controller offsets once, and the stream resumes from it without a step."""
    g = core()
    g.on_joint_state(js(0.0, SPEC.home))
    g.set_armed(True)
    offset = np.array([0.004, -0.003, 0.0, 0.005, 0.0, -0.002, 0.0])
    q = SPEC.home.copy()
    for k in range(50):  # a slow stream (1 mm/s-like), the arm offset from it
        q[1] += 0.002 * g.dt
        g.on_command(q)
        g.on_joint_state(js((k + 1) * g.dt, q + offset))
    t = 50 * g.dt
    outs = []
    for _ in range(100):
        t += g.dt
        o = g.on_joint_state(js(t, q + offset))
        if o is not None:
            outs.append(o.positions)
    assert g.counts["watchdog_holds"] == 1 and outs
    assert max(float(np.max(np.abs(x - q))) for x in outs) < 1e-6  # the reference, not the measured joints
    nxt = q.copy()
    nxt[1] += 0.002 * g.dt
    out = g.on_command(nxt)
    assert np.allclose(out.positions, nxt, atol=1e-9)  # resumes where it stood


def test_estop_disarms_holds_and_blocks_arming_until_released():
    g = core()
    g.on_joint_state(js(0.0, SPEC.home))
    g.set_armed(True)
    g.on_command(SPEC.home)
    out = g.estop(True)
    assert out.kind == "commands" and g.estopped and not g.armed
    assert g.on_command(SPEC.home) is None and "e-stop" in g.last_refusal
    assert not g.set_armed(True)[0]
    g.estop(False)
    assert g.set_armed(True)[0]


def test_estop_release_waits_for_both_readers_so_late_copies_do_not_flicker():
    """The node reads the e-stop with a reliable and a best-effort reader; a reliable writer's
    true then false reach both, one reader's copies possibly after the other's. The gate engages
    on the first true and releases once, on the last false, in either order (a latch alone
    released on the first false, re-engaged on the other reader's late true and released again).
    A true is never waited for; a copy that never comes holds a release for ESTOP_COPY_WAIT_S at
    most, a true a reader took until that reader takes a false."""
    from officina.ros.gate_core import ESTOP_COPY_WAIT_S as W

    both = {"reliable": 1, "best_effort": 1}

    def armed():
        g = core()
        g.on_joint_state(js(0.0, SPEC.home))
        assert g.set_armed(True)[0]
        return g

    def feed(g, msgs, publishers=both, t0=0.0):
        out = []
        for k, (reader, flag) in enumerate(msgs):
            g.estop_from(reader, flag, publishers, t0 + 0.001 * k)
            out.append(g.estopped)
        return out

    R, B = "reliable", "best_effort"
    for first, second in ((R, B), (B, R)):
        g = armed()
        assert feed(g, [(first, True), (first, False), (second, True), (second, False)]) == [True, True, True, False]
        assert g.counts["estops"] == 1 and g.counts["holds"] == 1 and not g.armed
        g = armed()  # interleaved copies: the same outcome
        assert feed(g, [(first, True), (second, True), (first, False), (second, False)]) == [True, True, True, False]
        assert g.set_armed(True)[0]
    # true, false, true with the best-effort reader's last copy lost: the last word is true, for good
    g = armed()
    feed(g, [(R, True), (R, False), (R, True), (B, True), (B, False)])
    g.estop_tick(both, 10.0)
    assert g.estopped and g.counts["estops"] == 1
    # the best-effort copy of a release lost: engaged until a false reaches that reader too, and says so
    g = armed()
    assert feed(g, [(R, True), (B, True), (R, False)]) == [True, True, True]
    g.estop_tick(both, 10.0)
    assert g.estopped and "waits for a false on the best-effort reader" in g.last_event and not g.set_armed(True)[0]
    assert feed(g, [(R, False), (B, False)], t0=11.0) == [True, False]
    # a true that reached one reader only (its writer had matched one, or wrote best effort):
    # the other reader's copy is waited for, ESTOP_COPY_WAIT_S at most (the node looks every 20 ms)
    for engaging, releasing in ((R, R), (B, B)):
        g = armed()
        assert feed(g, [(engaging, True), (releasing, False)]) == [True, True]
        assert "waits up to" in g.last_event
        t = 0.001
        while g.estopped and t < 1.0:
            t += 0.01
            g.estop_tick(both, t)
        assert not g.estopped and abs(t - 0.001 - W) < 0.011 and g.counts["estops"] == 1
    g = armed()  # but a true a reader took holds until a false reaches that reader
    feed(g, [(R, True), (B, False)])
    g.estop_tick(both, 10.0)
    assert g.estopped and "false on the reliable reader" in g.last_event
    # a reader without publishers is not waited for: a best-effort writer alone releases at once
    g = armed()
    assert feed(g, [(B, True), (B, False)], {"reliable": 0, "best_effort": 1}) == [True, False]


def _estop_core():
    g = core()
    g.on_joint_state(js(0.0, SPEC.home))
    assert g.set_armed(True)[0]
    return g


def test_estop_copies_of_a_fast_burst_never_reengage_after_the_release():
    """A reliable writer's true/false burst faster than the gap between its copies on the two
    readers: every order in which the readers' copies can interleave (each reader takes the
    burst in order) engages only on the first copy of a true, never on a late copy after a
    release, and ends released. A latch on the last message of every reader released on the
    first false of the lagging reader and re-engaged on its copy of the next true."""
    from itertools import combinations

    R, B = "reliable", "best_effort"
    both = {R: 1, B: 1}
    for pairs in (2, 3):
        burst = [True, False] * pairs
        n = len(burst)
        for r_slots in combinations(range(2 * n), n):  # which of the 2n deliveries are the reliable reader's
            g = _estop_core()
            taken = {R: 0, B: 0}
            for k in range(2 * n):
                reader = R if k in r_slots else B
                other = B if reader == R else R
                i = taken[reader]
                first_copy = taken[other] <= i
                was = g.estopped
                g.estop_from(reader, burst[i], both, 0.001 * k)
                taken[reader] += 1
                assert not (g.estopped and not was) or first_copy, (pairs, r_slots, k)
            assert not g.estopped, (pairs, r_slots)
    # the sequence a latch flickered on: the reliable reader's whole burst, then the other's copies
    g = _estop_core()
    seq = [(R, True), (R, False), (R, True), (R, False), (B, True), (B, False), (B, True), (B, False)]
    states = []
    for k, (reader, flag) in enumerate(seq):
        g.estop_from(reader, flag, both, 0.001 * k)
        states.append(g.estopped)
    assert states == [True] * 7 + [False] and g.counts["estops"] == 1 and g.counts["holds"] == 1


def test_estop_a_stalled_executor_does_not_release_before_a_waiting_copy():
    """The reliable reader's true and false, then the node's executor stalls (longer than
    ESTOP_COPY_WAIT_S) while the best-effort reader's copies wait in its queue: the looks at the
    waiting release after the stall (a state, the status timer, the release's timer) come
    before the copies are taken. The stall does not count as time the copy had to come, so the
    gate stays engaged and releases once, on the copy of the false: engaged, then released, never
    engaged again. The wait counts the node's live time: a copy that never comes is waited for
    ESTOP_COPY_WAIT_S of it (the stall counting as ESTOP_TICK_GAP_S)."""
    from officina.ros.gate_core import ESTOP_COPY_WAIT_S as W

    R, B = "reliable", "best_effort"
    both = {R: 1, B: 1}
    for stall in (W + 0.01, 1.0, 60.0):
        g = _estop_core()
        states = []
        g.estop_from(R, True, both, 0.0)
        states.append(g.estopped)
        g.estop_from(R, False, both, 0.001)
        states.append(g.estopped)
        t = 0.001 + stall
        for dt in (0.0, 0.0005, 0.001):  # the looks after the stall
            g.estop_tick(both, t + dt)
            states.append(g.estopped)
        g.estop_from(B, True, both, t + 0.002)  # the copies, taken now
        states.append(g.estopped)
        g.estop_from(B, False, both, t + 0.003)
        states.append(g.estopped)
        assert states == [True] * 6 + [False], (stall, states)
        assert g.counts["estops"] == 1 and g.counts["holds"] == 1
    # a copy that never comes: released after ESTOP_COPY_WAIT_S of live time, the stall counting GAP
    from officina.ros.gate_core import ESTOP_TICK_GAP_S as GAP

    g = _estop_core()
    g.estop_from(R, True, both, 0.0)
    g.estop_from(R, False, both, 0.0)
    t = 5.0
    g.estop_tick(both, t)  # after a 5 s stall
    while g.estopped and t < 10.0:
        t += 0.01
        g.estop_tick(both, t)
    assert not g.estopped and abs((t - 5.0) - (W - GAP)) < 0.011


def test_estop_a_best_effort_false_does_not_release_a_reliable_true():
    """A reliable writer's true reaches both readers; a false that reaches the best-effort
    reader only (a best-effort writer's: a pendant's bridge) does not release it, however often
    it comes and however long it waits, and neither does the engaging writer's leaving (a safety
    PLC's bridge that crashed): only a false on the reliable reader (any reliable writer's, as
    ``ros2 topic pub --once`` publishes) releases it. safety_state says which reader holds it."""
    R, B = "reliable", "best_effort"
    both = {R: 1, B: 2}
    g = _estop_core()
    g.estop_from(R, True, both, 0.0)
    g.estop_from(B, True, both, 0.001)  # its copy
    t = 0.002
    for _ in range(3):  # the best-effort false, again and again
        g.estop_from(B, False, both, t)
        for _ in range(100):
            t += 0.01
            g.estop_tick(both, t)
        assert g.estopped and "waits for a false on the reliable reader" in g.last_event
    g.estop_tick({R: 0, B: 1}, t + 0.01)  # the reliable writer has gone
    assert g.estopped and not g.set_armed(True)[0]
    g.estop_from(R, False, {R: 1, B: 2}, t + 1.0)  # a reliable false (its copy on the other reader follows)
    assert not g.estopped and g.counts["estops"] == 1
    g.estop_from(B, False, both, t + 1.001)
    assert not g.estopped and g.set_armed(True)[0]


def test_a_topic_trajectory_is_sent_again_after_a_goal_it_replaced_ends_at_the_controller():
    """A FollowJointTrajectory goal is on its way to the controller when a trajectory on the
    topic replaces it (the node stops the goal and forwards the trajectory); the controller takes
    the goal after the trajectory, or the goal's cancel finds it running and holds the arm there.
    Once the stopped goal has ended at the controller the gate commands the topic's trajectory
    again, with the start it had (a zero stamp made the time the gate checked it), so the newest
    command has the last word; a newer goal or command stream, or a disarm, decide otherwise, and
    a trajectory that no longer passes the check from the last state is refused for a hold."""
    home, z = SPEC.home, (0.0,) * 7
    goal = TrajectoryMsg(0.0, tuple(NAMES), (P(2.0, tuple(home + 0.1), z),))
    topic = TrajectoryMsg(0.0, tuple(NAMES), (P(2.0, tuple(home - 0.1), z),))

    def replaced():
        g = _estop_core()
        assert g.on_trajectory(goal, goal=True) is not None
        g.on_joint_state(js(0.1, home))
        assert g.on_trajectory(topic) is not None
        g.on_joint_state(js(0.3, home))  # the goal ran at the controller: the arm did not follow the topic's
        return g

    g = replaced()
    out = g.after_stopped_goal()
    assert out.kind == "trajectory" and out.trajectory.stamp == 0.1 and out.trajectory.points == topic.points
    assert g.armed and "sent again" in g.last_event
    stamped = TrajectoryMsg(0.05, topic.joint_names, topic.points)
    g = _estop_core()
    g.on_joint_state(js(0.1, home))
    assert g.on_trajectory(stamped) is not None
    assert g.after_stopped_goal().trajectory == stamped  # a stamped trajectory goes again as it came
    g = replaced()  # a goal after the topic's trajectory is the newest command: nothing more
    assert g.on_trajectory(goal, goal=True) is not None and g.after_stopped_goal() is None
    g = replaced()  # so is a command stream
    assert g.on_command(home) is not None and g.after_stopped_goal() is None
    g = replaced()  # disarmed: the braking hold, as after an e-stop
    g.set_armed(False)
    out = g.after_stopped_goal()
    assert out.kind == "trajectory" and np.allclose(out.trajectory.points[-1].positions, home)
    g = replaced()  # the trajectory has ended (its points are in the past): refused, and the hold
    g.on_joint_state(js(3.0, home))
    holds = g.counts["holds"]
    out = g.after_stopped_goal()
    assert out.kind == "trajectory" and np.allclose(out.trajectory.points[-1].positions, home)
    assert g.counts["holds"] == holds + 1 and "not sent again" in g.last_refusal and "past" in g.last_refusal
    assert g.after_stopped_goal() is None  # once


def test_trajectory_checked_whole():
    g = core()
    g.on_joint_state(js(1.0, SPEC.home))
    g.set_armed(True)
    n = len(NAMES)
    ok = TrajectoryMsg(0.0, NAMES, (P(2.0, tuple(SPEC.home + 0.2), (0.0,) * n, (0.0,) * n),))
    assert g.on_trajectory(ok).kind == "trajectory"
    fast = TrajectoryMsg(0.0, NAMES, (P(0.1, tuple(SPEC.home + 0.5), (0.0,) * n),))
    assert g.on_trajectory(fast) is None and ("velocity" in g.last_refusal or "acceleration" in g.last_refusal)
    beyond = SPEC.home.copy()
    beyond[3] = SPEC.limits.upper[3] + 0.2
    out = TrajectoryMsg(0.0, NAMES, (P(10.0, tuple(beyond), (0.0,) * n),))
    assert g.on_trajectory(out) is None and "position limits" in g.last_refusal
    empty = TrajectoryMsg(0.0, NAMES, ())
    assert g.on_trajectory(empty) is None and "empty" in g.last_refusal


def test_workspace_box_refuses_trajectories_leaving_it():
    from officina.controllers.model import RobotModel
    from officina.controllers.safety import SafetyConfig

    model = RobotModel.from_spec(SPEC)
    p0 = model.frame_transform(SPEC.home, "tcp")[:3, 3]
    cfg = GateConfig(safety=SafetyConfig(workspace_min=tuple(p0 - 0.05), workspace_max=tuple(p0 + 0.05)))
    g = GateCore(NAMES, SPEC.limits, cfg, tcp_position=lambda q: model.frame_transform(q, "tcp")[:3, 3])
    g.on_joint_state(js(0.0, SPEC.home))
    g.set_armed(True)
    n = len(NAMES)
    far = TrajectoryMsg(0.0, NAMES, (P(3.0, tuple(SPEC.home + np.r_[0.6, 0, 0, 0, 0, 0, 0]), (0.0,) * n),))
    assert g.on_trajectory(far) is None and "workspace" in g.last_refusal


def test_braking_trajectory_respects_acceleration_and_ends_at_rest():
    q = SPEC.home
    v = np.array([1.0, -0.5, 0, 0, 0, 0, 0.3])
    tr = braking_trajectory(q, v, SPEC.limits.acceleration, SPEC.limits.lower, SPEC.limits.upper, NAMES, 0.004)
    T = tr.points[-1].time_from_start
    assert np.allclose(tr.points[-1].velocities, 0.0)
    assert np.all(np.abs(v) / T <= SPEC.limits.acceleration + 1e-9)


# --- across processes -----------------------------------------------------------------------------------
@pytest.mark.ros
@pytest.mark.timeout(150)
@pytest.mark.parametrize("executor", ["single", "events"])
def test_gate_in_front_of_the_sim_across_processes(tmp_path, request, executor):
    pytest.importorskip("rclpy")
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, Float64MultiArray
    from std_srvs.srv import SetBool
    from trajectory_msgs.msg import JointTrajectory

    from officina.ros.convert import trajectory_to_msg
    from officina.ros.qos import qos_latched
    from officina.ros.testing import NodeProcess, RosClient, domain_id_for

    dom = domain_id_for(request.node.name)
    procs = []
    c = None
    try:
        procs.append(NodeProcess(["ros", "sim", "--robot", "panda", "--task", "none"], dom, str(tmp_path / "sim.log")))
        procs.append(NodeProcess(["ros", "gate", "--robot", "panda", "--watchdog-periods", "25",
                                  "--executor", executor], dom, str(tmp_path / "gate.log")))
        c = RosClient(dom)
        c.collect(JointState, "/joint_states")
        c.collect(DiagnosticStatus, "/officina/safety_state", qos_latched())
        c.collect(Float64MultiArray, "/forward_position_controller/commands")
        c.collect(JointTrajectory, "/joint_trajectory_controller/joint_trajectory")
        cmd = c.publisher(Float64MultiArray, "/officina/commands")
        trj = c.publisher(JointTrajectory, "/officina/joint_trajectory")
        estop = c.publisher(Bool, "/officina/estop")
        bad_js = c.publisher(JointState, "/joint_states")
        try:
            c.wait_for(lambda: len(c.received["/joint_states"]) > 5 and c.received["/officina/safety_state"],
                       60, "sim and gate")
            c.wait_for(lambda: cmd.get_subscription_count() > 0 and trj.get_subscription_count() > 0
                       and estop.get_subscription_count() > 0, 10, "discovery")
        except TimeoutError:
            raise AssertionError("\n".join(p.output() for p in procs)) from None

        def st():
            return {kv.key: kv.value for kv in c.received["/officina/safety_state"][-1].values}

        def q_now():
            m = c.received["/joint_states"][-1]
            return np.array(m.position[:7])

        def stream(q_fn, seconds, period=0.004):
            t0 = time.perf_counter()
            k = 0
            while time.perf_counter() - t0 < seconds:
                if time.perf_counter() >= t0 + k * period:
                    cmd.publish(Float64MultiArray(data=list(map(float, q_fn(k * period)))))
                    k += 1
                else:
                    c.executor.spin_once(timeout_sec=0.0)
            return k

        home = SPEC.home
        assert st()["armed"] == "false"
        # 1. Disarmed: nothing forwarded, every command refused. The test's publisher may see the
        # gate's subscription before the gate has matched the publisher (what is sent meanwhile
        # never arrives), so it streams until the gate has refused some, for at most 10 s.
        t_end = time.perf_counter() + 10.0
        while int(st()["refused"]) <= 10 and time.perf_counter() < t_end:
            stream(lambda t: home + 0.1, 0.3)
            c.spin_for(0.3)
        assert c.received["/forward_position_controller/commands"] == []
        assert int(st()["refused"]) > 10 and "not armed" in st()["last_refusal"]
        # 2. Arming forwards; the arm follows.
        r = c.call(SetBool, "/officina/arm", SetBool.Request(data=True))
        assert r.success, r.message
        ramp = lambda t: home + np.r_[0.3, 0, 0, 0, 0, 0, 0] * min(1.0, t / 1.0)  # noqa: E731
        stream(ramp, 1.5)
        c.spin_for(0.3)
        # 375 sent on this process's clock; one goes out per state of the sim (250 Hz while it keeps
        # real time; a loaded machine slips its grid, and the gate replaces what it cannot send)
        assert len(c.received["/forward_position_controller/commands"]) > 100
        assert abs(q_now()[0] - (home[0] + 0.3)) < 0.02
        # 3. Watchdog: a stream that stopped at rest needs no hold (the arm holds its last setpoint);
        # one that stops mid-motion gets a braking hold. (A stall of the stream above while it moved
        # gets one too, rightly: on a loaded machine this process can pause for longer than the 25
        # periods, so the count is taken once the stream has ended.)
        holds = int(st()["watchdog_holds"])
        c.spin_for(0.5)
        assert int(st()["watchdog_holds"]) == holds
        stream(lambda t: home + np.r_[0.3 - 0.3 * t, 0, 0, 0, 0, 0, 0], 0.4)  # moving back, cut off
        c.wait_for(lambda: int(st()["watchdog_holds"]) >= holds + 1, 5, "watchdog hold")
        # 4. Out of limits: clamped into the limits; malformed: refused; malformed joint_states ignored.
        n_fwd = len(c.received["/forward_position_controller/commands"])
        beyond = home.copy()
        beyond[3] = SPEC.limits.upper[3] + 1.0
        stream(lambda t: beyond, 0.2)
        cmd.publish(Float64MultiArray(data=[1.0, 2.0]))
        cmd.publish(Float64MultiArray(data=[float("nan")] * 7))
        bad = JointState()
        bad.name = ["panda_joint1"]
        bad_js.publish(bad)
        c.spin_for(0.3)
        fwd = np.array([m.data for m in c.received["/forward_position_controller/commands"][n_fwd:]])
        assert np.all(fwd <= SPEC.limits.upper + 1e-9) and np.all(fwd >= SPEC.limits.lower - 1e-9)
        assert "refused" in st()["last_refusal"]
        # 5. A trajectory too fast is refused whole; a sound one is forwarded.
        n = 7
        from officina.ros.jtc import TrajectoryMsg, TrajectoryPointMsg as P

        # the checks below start from the measured state: let the holds of step 4 come to rest first
        # (a loaded machine stretches them)
        c.wait_for(lambda: np.abs(np.array(c.received["/joint_states"][-1].velocity[:7])).max() < 0.01, 10,
                   "the arm at rest after the holds")
        q0 = q_now()
        c.spin_for(0.5)
        trj.publish(trajectory_to_msg(TrajectoryMsg(0.0, NAMES, (P(0.05, tuple(q0 + 0.5), (0.0,) * n),))))
        c.wait_for(lambda: "trajectory refused" in st()["last_refusal"], 5, "refusal of a fast trajectory")
        trj.publish(trajectory_to_msg(TrajectoryMsg(0.0, NAMES, (P(2.0, tuple(home), (0.0,) * n, (0.0,) * n),))))
        try:
            c.wait_for(lambda: int(st()["forwarded_trajectories"]) == 1, 5, "trajectory forwarded")
        except TimeoutError:
            raise AssertionError(f"not forwarded: {st()}") from None
        c.wait_for(lambda: len(c.received["/joint_trajectory_controller/joint_trajectory"]) == 1, 5, "at the JTC")
        c.spin_for(2.3)
        # 6. E-stop while streaming a motion: the next forwarded commands are the braking hold.
        n_before = len(c.received["/forward_position_controller/commands"])
        move = lambda t: home + np.r_[1.0, 0, 0, 0, 0, 0, 0] * min(1.0, t / 1.0)  # noqa: E731
        stream(lambda t: home + np.r_[1.0, 0, 0, 0, 0, 0, 0] * (t / 0.6) ** 2 * 0.3, 0.6)
        t_estop = time.perf_counter()
        estop.publish(Bool(data=True))
        stream(lambda t: move(0.3 + t), 0.5)  # the client keeps streaming: nothing of it passes
        c.spin_for(0.5)
        assert st()["estopped"] == "true" and st()["armed"] == "false"
        walls = c.recv_wall["/forward_position_controller/commands"][n_before:]
        msgs = c.received["/forward_position_controller/commands"][n_before:]
        after = np.array([np.array(m.data)[0] for m, w in zip(msgs, walls) if w > t_estop])
        assert len(after) >= 3, "a hold was commanded"
        v = np.diff(after) / 0.004
        tail = v[int(np.argmax(v)):]
        assert np.all(np.diff(tail) <= 1e-6) and abs(v[-1]) < 1e-6  # braking to rest within the limits
        assert after[-1] < move(0.3 + 0.3)[0] - 0.05  # the client's later commands never reached the arm
        c.wait_for(lambda: abs(c.received["/joint_states"][-1].velocity[0]) < 0.02, 2, "arm at rest")
        assert not c.call(SetBool, "/officina/arm", SetBool.Request(data=True)).success
        for p in procs:
            assert p.alive(), p.output()
        from officina.ros.latency import executor_kind

        assert f"{executor_kind(executor)} executor" in procs[1].output()
    finally:
        if c is not None:
            c.close()
        for p in procs:
            p.stop()


def test_state_lost_disarms_with_the_hold_of_disarming():
    """GateCore.state_lost: the hold set_armed(False) returns, in both command modes; nothing when
    disarmed already."""
    def armed(mode):
        g = GateCore(NAMES, SPEC.limits, GateConfig())
        g.on_joint_state(js(0.0, SPEC.home))
        assert g.set_armed(True)[0]
        if mode == "commands":
            for k in range(1, 30):
                q = SPEC.home + np.r_[0.002 * k, 0, 0, 0, 0, 0, 0]
                g.on_joint_state(js(0.004 * k, q, np.r_[0.5, 0, 0, 0, 0, 0, 0]))
                g.on_command(q + 0.002)
        else:
            g.on_trajectory(TrajectoryMsg(0.0, NAMES, (P(2.0, tuple(SPEC.home + 0.2), (0.0,) * 7),)))
            g.on_joint_state(js(0.5, SPEC.home + 0.05, np.full(7, 0.1)))
        return g

    for mode in ("commands", "trajectory"):
        a, b = armed(mode), armed(mode)
        fa, fb = a.set_armed(False)[2], b.state_lost("disarmed: no /joint_states for 1.0 s")
        assert fa is not None and fb is not None and fa.kind == fb.kind == mode
        if mode == "commands":
            np.testing.assert_array_equal(fa.positions, fb.positions)
        else:
            assert fa.trajectory == fb.trajectory
        assert not b.armed and b.last_refusal == "disarmed: no /joint_states for 1.0 s"
        assert b.state_lost("again") is None and b.counts["refused"] == 1
