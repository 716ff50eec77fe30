"""`officina ros sim` across processes: JTC semantics, forward commands at 500 Hz, lockstep repeatability.

Each test runs the sim as a subprocess on its own ROS_DOMAIN_ID (loopback only) and a client
in-process; processes are killed in teardown.
"""

import re

import numpy as np
import pytest

pytest.importorskip("rclpy")

from officina.robots import load_robot  # noqa: E402

pytestmark = pytest.mark.ros

JS = "/joint_states"
STATE = "/officina/sim/controller_state"
TRAJ = "/joint_trajectory_controller/joint_trajectory"
CMD = "/forward_position_controller/commands"


def traj_msg(names, points, stamp=0.0):
    from officina.ros.convert import trajectory_to_msg
    from officina.ros.jtc import TrajectoryMsg, TrajectoryPointMsg

    return trajectory_to_msg(TrajectoryMsg(stamp, tuple(names), tuple(TrajectoryPointMsg(*p) for p in points)))


def state_of(msg):
    return {kv.key: kv.value for kv in msg.values}


def wait_state(c, pred, timeout=5.0, what="controller state"):
    def ok():
        return any(pred(m) for m in c.received[STATE])

    c.wait_for(ok, timeout, what)
    return [m for m in c.received[STATE] if pred(m)][-1]


def setup_client(ros, proc):
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import JointState

    from officina.ros.qos import qos_latched

    c = ros.client()
    c.collect(JointState, JS)
    c.collect(DiagnosticStatus, STATE, qos_latched())
    try:
        c.wait_for(lambda: len(c.received[JS]) > 5, 60.0, "joint states from the sim")
    except TimeoutError:
        raise AssertionError("sim did not start:\n" + proc.output()) from None
    return c


def q_of(msg, names):
    idx = [list(msg.name).index(n) for n in names]
    return np.array(msg.position)[idx]


def t_of(msg):
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


@pytest.mark.timeout(120)
def test_trajectory_rules_goal_and_replacement_across_processes(ros):
    from std_msgs.msg import Float64MultiArray
    from trajectory_msgs.msg import JointTrajectory

    spec = load_robot("panda")
    names = spec.joint_names
    sim = ros.start(["ros", "sim", "--robot", "panda", "--task", "none", "--pacing", "realtime"], "sim")
    c = setup_client(ros, sim)
    pub = c.publisher(JointTrajectory, TRAJ)
    cmd = c.publisher(Float64MultiArray, CMD)
    c.wait_for(lambda: pub.get_subscription_count() > 0 and cmd.get_subscription_count() > 0, 10, "discovery")

    # 1. A quintic move of every joint reaches the goal within tolerance in the stated time.
    goal = spec.home + np.array([0.3, -0.2, 0.25, 0.2, -0.3, 0.2, 0.3])
    n = len(names)
    pub.publish(traj_msg(names, [(1.5, goal, np.zeros(n), np.zeros(n))]))
    acc = wait_state(c, lambda m: m.message.startswith("accepted"), what="trajectory accepted")
    assert "quintic" in acc.message
    end = float(re.search(r"end ([\d.]+) s", acc.message).group(1))
    c.wait_for(lambda: t_of(c.received[JS][-1]) > end + 0.15, 10, "end of the move")
    after = [m for m in c.received[JS] if t_of(m) >= end + 0.1][0]
    np.testing.assert_allclose(q_of(after, names), goal, atol=0.02)
    mid = [m for m in c.received[JS] if abs(t_of(m) - (end - 0.75)) < 0.01]
    assert mid and np.max(np.abs(q_of(mid[0], names) - spec.home)) > 0.05  # it moved over time, no jump

    # 2. Every rule refuses with its reason; the arm holds and the sim keeps running.
    n0 = len(c.received[STATE])
    t_now = t_of(c.received[JS][-1])
    bad = [
        (traj_msg(names, []), "empty trajectory"),
        (traj_msg(names[:3], [(1.0, goal[:3])]), "allow_partial_joints_goal"),
        (traj_msg(list(names[:-1]) + ["nope"], [(1.0, goal)]), "unknown joints"),
        (traj_msg(names, [(1.0, goal), (1.0, goal)]), "strictly increasing"),
        (traj_msg(names, [(1.0, goal)], stamp=t_now - 5.0), "ends in the past"),
        (traj_msg(names, [(1.0, goal, np.ones(n))]), "non-zero velocity"),
        (traj_msg(names, [(1.0, goal[:4])]), "positions for"),
        (traj_msg(names, [(1.0, np.full(n, np.nan))]), "non-finite"),
    ]
    for m, why in bad:
        pub.publish(m)
        wait_state(c, lambda s, why=why: "rejected" in s.message and why in s.message, what=f"refusal '{why}'")
    cmd.publish(Float64MultiArray(data=[0.0, 1.0]))
    cmd.publish(Float64MultiArray(data=[float("nan")] * n))
    wait_state(c, lambda s: "command rejected" in s.message and "non-finite" in s.message)
    assert len(c.received[STATE]) > n0
    k = len(c.received[JS])
    c.spin_for(0.3)
    assert sim.alive() and len(c.received[JS]) > k + 30
    np.testing.assert_allclose(q_of(c.received[JS][-1], names), goal, atol=0.02)  # held

    # 3. Partial order: names in any order are accepted (reordered).
    perm = list(reversed(range(n)))
    pub.publish(traj_msg([names[i] for i in perm], [(0.8, spec.home[perm], np.zeros(n))]))
    # 4. Replacement: a new trajectory replaces the active one mid-way.
    c.spin_for(0.3)
    goal2 = spec.home + 0.15
    pub.publish(traj_msg(names, [(0.8, goal2, np.zeros(n))]))
    acc2 = wait_state(c, lambda m: m.message.startswith("accepted") and "cubic" in m.message and
                      float(re.search(r"end ([\d.]+)", m.message).group(1)) > end + 1.0, what="replacement")
    end2 = float(re.search(r"end ([\d.]+) s", acc2.message).group(1))
    c.wait_for(lambda: t_of(c.received[JS][-1]) > end2 + 0.4, 10, "end of the replacement")
    np.testing.assert_allclose(q_of(c.received[JS][-1], names), goal2, atol=0.02)


@pytest.mark.timeout(90)
def test_forward_commands_at_500hz_are_tracked(ros):
    import time

    from std_msgs.msg import Float64MultiArray

    spec = load_robot("panda")
    names = spec.joint_names
    sim = ros.start(["ros", "sim", "--robot", "panda", "--task", "none", "--rate-hz", "500"], "sim")
    c = setup_client(ros, sim)
    cmd = c.publisher(Float64MultiArray, CMD)
    c.wait_for(lambda: cmd.get_subscription_count() > 0, 10, "discovery")
    amp = np.array([0.2, 0.15, 0.2, 0.15, 0.2, 0.2, 0.2])

    def ref(t):
        return spec.home + amp * (1 - np.cos(2 * np.pi * 0.5 * t))

    sent = []
    t0 = time.perf_counter()
    k = 0
    duration = 3.0
    while True:
        t_next = t0 + k * 0.002
        now = time.perf_counter()
        if now - t0 > duration:
            break
        if now >= t_next:
            cmd.publish(Float64MultiArray(data=ref(k * 0.002).tolist()))
            sent.append((time.time(), k * 0.002))
            k += 1
        else:
            c.executor.spin_once(timeout_sec=0.0)
    assert k >= 0.97 * duration / 0.002
    c.spin_for(0.5)
    # Forward commands are "last one wins" (as a forward_command_controller's buffer): under CPU
    # load a few may be superseded before the sim reads them; tracking below is the criterion.
    st = wait_state(c, lambda m: int(state_of(m)["commands_accepted"]) >= 0.9 * k, timeout=5,
                    what="the commands accepted")
    assert int(state_of(st)["commands_rejected"]) == 0
    # Track: every measured state lies on the reference path within -40..+300 ms of its stamp, and
    # typically (median) within 50 ms. The delay: transport, PyBullet's position loop, and on a
    # loaded machine the real-time loop catching up (it stamps states a few periods behind the
    # wall clock the commands were sent on, and slips when it falls further behind).
    wall0 = sent[0][0]
    js = [(t_of(m), q_of(m, names)) for m in c.received[JS] if wall0 + 0.2 < t_of(m) < wall0 + duration - 0.1]
    assert len(js) > 0.8 * (duration - 0.3) * 500
    lags = np.arange(-0.04, 0.301, 0.002)
    errs = np.array([[float(np.max(np.abs(q - ref(t - wall0 - lag)))) for lag in lags] for t, q in js])
    per_sample = errs.min(axis=1)
    lag = float(np.median(lags[errs.argmin(axis=1)]))
    # stamps are the clock in use: a state cannot show a command sent after its stamp, beyond the few
    # periods a loaded real-time loop runs late (its stamps were once ~35 ms early: lag -0.034)
    assert -0.015 <= lag <= 0.05, f"median lag {lag:.3f} s"
    # CI machines are shared: a stall of either process shows up as a burst of error; the bulk of
    # the stream must be tracked tightly.
    assert float(np.median(per_sample)) < 0.005, f"median tracking error {np.median(per_sample):.4f}"
    assert float(np.mean(per_sample < 0.02)) >= 0.9, f"{np.mean(per_sample < 0.02):.2%} of states within 0.02 rad"


@pytest.mark.timeout(90)
def test_command_sync_answers_a_command_without_waiting_for_the_period(ros):
    """--command-sync across processes: the state showing a command arrives well within the
    period (periodic pacing waits half a period on average, up to a whole one)."""
    import time

    from std_msgs.msg import Float64MultiArray

    spec = load_robot("panda")
    sim = ros.start(["ros", "sim", "--robot", "panda", "--task", "none", "--rate-hz", "100", "--command-sync"],
                    "sim")
    c = setup_client(ros, sim)
    cmd = c.publisher(Float64MultiArray, CMD)
    c.wait_for(lambda: cmd.get_subscription_count() > 0, 10, "discovery")
    pending = {}
    lat = []

    def on_state(m):
        if pending and np.sign(m.effort[6]) == pending["sign"]:
            lat.append(time.perf_counter() - pending.pop("t"))
            pending.clear()

    from sensor_msgs.msg import JointState

    c.node.create_subscription(JointState, JS, on_state, 100)
    sign = 1.0
    t0 = time.perf_counter()
    for k in range(300):  # 3 s at 100 Hz, the target of the last joint flipping every command
        while time.perf_counter() < t0 + k / 100.0:
            c.executor.spin_once(timeout_sec=0.0005)
        sign = -sign
        q = spec.home.copy()
        q[6] += sign * 0.05
        pending.clear()
        pending.update(sign=sign, t=time.perf_counter())
        cmd.publish(Float64MultiArray(data=[float(x) for x in q]))
    c.spin_for(0.2)
    assert len(lat) > 250, f"only {len(lat)} of 300 commands answered"
    med = float(np.median(lat))
    assert med < 0.003, f"median command-to-state latency {med * 1e3:.2f} ms (period 10 ms)"
    assert sim.alive(), sim.output()


def _lockstep_run(ros, tag):
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    spec = load_robot("panda")
    names = spec.joint_names
    sim = ros.start(["ros", "sim", "--robot", "panda", "--pacing", "lockstep", "--seed", "3"], f"sim{tag}")
    from diagnostic_msgs.msg import DiagnosticStatus
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState

    from officina.ros.qos import qos_latched

    c = ros.client()
    c.collect(JointState, JS)
    c.collect(Clock, "/clock")
    c.collect(DiagnosticStatus, STATE, qos_latched())
    c.call(Trigger, "/officina/sim/step", Trigger.Request(), timeout=60)
    c.wait_for(lambda: len(c.received[JS]) >= 1, 10, "first state")
    pub = c.publisher(JointTrajectory, TRAJ)
    c.wait_for(lambda: pub.get_subscription_count() > 0, 10, "discovery")
    n = len(names)
    goal = spec.home + 0.25
    pub.publish(traj_msg(names, [(0.4, goal, np.zeros(n))], stamp=0.1))  # absolute start: repeatable
    wait_state(c, lambda m: m.message.startswith("accepted"), what="accepted")
    for i in range(150):
        c.call(Trigger, "/officina/sim/step", Trigger.Request())
    t_last = 151 * 0.004
    c.wait_for(lambda: abs(t_of(c.received[JS][-1]) - t_last) < 1e-9, 10, "all states")
    by_t = {round(t_of(m), 9): m for m in c.received[JS] if t_of(m) > 1e-9}
    assert len(by_t) == 151  # one state per period, none lost
    ts = sorted(by_t)
    out = np.array([list(by_t[t].position) for t in ts])
    stamps = np.array(ts)
    c.wait_for(lambda: len(c.received["/clock"]) > 100, 5, "clock")
    clock_last = c.received["/clock"][-1].clock
    sim.stop()
    return out, stamps, clock_last.sec + clock_last.nanosec * 1e-9


@pytest.mark.timeout(150)
def test_lockstep_gives_identical_joint_state_sequences(ros):
    a, ta, clk = _lockstep_run(ros, "a")
    b, tb, _ = _lockstep_run(ros, "b")
    np.testing.assert_array_equal(ta, tb)
    np.testing.assert_allclose(np.diff(ta), 0.004, atol=1e-9)  # stamps from the sim clock, one period apart
    assert clk == pytest.approx(ta[-1])
    assert np.array_equal(a, b), "lockstep runs differ"
    assert np.max(np.abs(a[-1, :7] - a[0, :7])) > 0.1  # the arm moved


@pytest.mark.timeout(120)
@pytest.mark.parametrize("args, message", [
    (["--robot", "nope"], "unknown robot 'nope'"),
    (["--pacing", "lockstep", "--command-sync"], "command_sync applies to realtime pacing only"),
    (["--rate-hz", "5000"], "parameter rate_hz = 5000.0 is out of range: expected 1 to 2000"),
    (["--executor", "threads"], "--executor 'threads': expected one of events, single"),
    (["--ros-args", "-p", "executor:=threads"], "parameter executor 'threads': expected one of events, single"),
])
def test_bad_sim_parameters_give_one_line_and_exit_2(args, message, request):
    """A node that refuses its parameters is cleaned up by rclpy: one line, exit 2, no traceback."""
    import subprocess
    import sys

    from officina.ros.testing import domain_id_for, ros_env

    code = "import sys; from officina.cli import main; main(sys.argv[1:])"
    r = subprocess.run([sys.executable, "-c", code, "ros", "sim", "--task", "none", *args], capture_output=True,
                       text=True, timeout=90, env=ros_env(domain_id_for(request.node.name)))
    err = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("pybullet build")]
    assert r.returncode == 2, r.stderr
    assert len(err) == 1 and message in err[0], r.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("executor, sig", [("events", "SIGINT"), ("events", "SIGTERM"), ("single", "SIGTERM")])
def test_sim_runs_on_its_executor_and_exits_0_on_a_signal(ros, executor, sig):
    """Both executors publish states and take commands; Ctrl-C and SIGTERM end the sim with exit 0
    (the EventsExecutor is driven by spin_once, its spin() ignored shutdown)."""
    import os
    import signal

    from std_msgs.msg import Float64MultiArray

    from officina.ros.latency import executor_kind

    spec = load_robot("panda")
    sim = ros.start(["ros", "sim", "--robot", "panda", "--task", "none", "--executor", executor], "sim")
    c = setup_client(ros, sim)
    assert f"{executor_kind(executor)} executor" in sim.output()
    cmd = c.publisher(Float64MultiArray, CMD)
    c.wait_for(lambda: cmd.get_subscription_count() > 0, 10, "discovery")
    q = spec.home.copy()
    q[6] += 0.2
    cmd.publish(Float64MultiArray(data=[float(x) for x in q]))
    c.wait_for(lambda: abs(q_of(c.received[JS][-1], spec.joint_names)[6] - q[6]) < 0.01, 10, "the commanded position")
    os.killpg(sim.proc.pid, getattr(signal, sig))
    assert sim.proc.wait(10) == 0, sim.output()


@pytest.mark.timeout(120)
def test_fast_pacing_runs_ahead_of_the_wall_clock_and_publishes_clock(ros):
    """--pacing fast: sim time advances faster than the wall clock, /clock carries it (the states
    are stamped from it), and a trajectory still completes: the period timer does not starve the
    subscriptions."""
    import time

    from rosgraph_msgs.msg import Clock
    from trajectory_msgs.msg import JointTrajectory

    spec = load_robot("panda")
    sim = ros.start(["ros", "sim", "--robot", "panda", "--task", "none", "--pacing", "fast"], "sim")
    c = setup_client(ros, sim)
    c.collect(Clock, "/clock")
    c.wait_for(lambda: len(c.received["/clock"]) > 5, 10, "/clock")

    def clock_s():
        m = c.received["/clock"][-1].clock
        return m.sec + m.nanosec * 1e-9

    w0, s0 = time.monotonic(), clock_s()
    c.spin_for(2.0)
    speed = (clock_s() - s0) / (time.monotonic() - w0)
    assert speed > 1.5, f"fast pacing ran at {speed:.2f}x the wall clock"
    # The states are stamped from the sim clock that /clock carries: sim time from 0, on the period
    # grid (a wall-clock stamp is not), and within the /clock values seen. (An exact match of stamps
    # against /clock values depends on which /clock samples a busy reader took: /clock keeps 1, the
    # states queue; under a full test run's load one run matched none of 50.)
    dt = 1.0 / 250.0
    clocks = sorted(m.clock.sec + m.clock.nanosec * 1e-9 for m in c.received["/clock"])
    stamps = [t_of(m) for m in c.received[JS][-50:]]
    off_grid = [t for t in stamps if abs(t / dt - round(t / dt)) > 1e-6]
    assert not off_grid, f"state stamps off the sim's period grid: {off_grid[:3]}"
    assert clocks[0] <= min(stamps) and max(stamps) <= clocks[-1] + 0.5, \
        f"stamps {min(stamps):.3f}..{max(stamps):.3f} s, /clock {clocks[0]:.3f}..{clocks[-1]:.3f} s"
    assert len(set(stamps)) == len(stamps) and stamps == sorted(stamps)
    pub = c.publisher(JointTrajectory, TRAJ)
    c.wait_for(lambda: pub.get_subscription_count() > 0, 10, "discovery")
    goal = q_of(c.received[JS][-1], spec.joint_names) + 0.2
    n = len(spec.joint_names)
    pub.publish(traj_msg(spec.joint_names, [(2.0, goal, np.zeros(n))]))
    c.wait_for(lambda: np.max(np.abs(q_of(c.received[JS][-1], spec.joint_names) - goal)) < 0.01, 30,
               "the trajectory's goal")
    assert sim.alive(), sim.output()
