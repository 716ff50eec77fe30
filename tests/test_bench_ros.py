"""The ROS benchmark's accounting of the command-synchronous row (benchmarks/bench_ros.py): which
state answers which command decides the missed cycles it reports against the echo pair."""

import importlib.util
from pathlib import Path

import pytest

P = 0.002  # 500 Hz


@pytest.fixture(scope="module")
def bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ros.py"
    spec = importlib.util.spec_from_file_location("bench_ros", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(bench, events):
    """events: ("send", t, sign) / ("state", t, sign) in time order -> (latencies, missed)."""
    m = bench.FlipMatcher()
    for kind, t, sign in events:
        (m.sent if kind == "send" else m.state)(t, sign)
    s = bench._stats(m.lat, m.n, P)
    return [round(x, 6) for x in m.lat], s["missed_cycles"]


def test_steady_stream_every_command_answered(bench):
    ev = []
    for k in range(10):
        sign = 1.0 if k % 2 else -1.0
        ev += [("send", k * P, sign), ("state", k * P + 0.0007, sign)]
    lat, missed = _run(bench, ev)
    assert lat == [0.0007] * 10 and missed == 0


def test_late_send_then_on_time_send_is_not_a_miss(bench):
    # command 1 sent 1.6 ms late (this process was descheduled), command 2 on time; 1's state comes
    # after 2 was sent but 0.9 ms after 1 was: within its period, as the echo pair would count it
    ev = [("send", 0.0, -1.0), ("state", 0.0007, -1.0),
          ("send", P + 0.0016, 1.0), ("send", 2 * P, -1.0),
          ("state", P + 0.0025, 1.0), ("state", 2 * P + 0.0012, -1.0)]
    lat, missed = _run(bench, ev)
    assert lat == [0.0007, 0.0009, 0.0012] and missed == 0


def test_command_never_shown_is_a_miss(bench):
    # the sim applied command 2 before it ever showed command 1: 1 has no answer
    ev = [("send", 0.0, -1.0), ("state", 0.0007, -1.0),
          ("send", P, 1.0), ("send", 2 * P, -1.0), ("state", 2 * P + 0.0008, -1.0)]
    lat, missed = _run(bench, ev)
    assert lat == [0.0007, 0.0008] and missed == 1


def test_answer_later_than_a_period_is_a_miss(bench):
    ev = [("send", 0.0, -1.0), ("send", P, 1.0), ("state", 0.0031, -1.0), ("state", P + 0.0012, 1.0)]
    lat, missed = _run(bench, ev)
    assert lat == [0.0031, 0.0012] and missed == 1


def test_same_sign_two_commands_later_does_not_answer_the_old_one(bench):
    # command 0 is never shown; its sign comes back with command 2: that state answers 2, not 0
    ev = [("send", 0.0, -1.0), ("send", P, 1.0), ("state", P + 0.0005, 1.0),
          ("send", 2 * P, -1.0), ("state", 2 * P + 0.0006, -1.0)]
    lat, missed = _run(bench, ev)
    assert lat == [0.0005, 0.0006] and missed == 1


@pytest.mark.ros
@pytest.mark.timeout(60)
def test_sim_rows_refuse_to_stream_when_another_node_takes_the_commands(bench, ctx):
    """Over DDS: the sim rows stream unfiltered steps to /forward_position_controller/commands;
    a subscriber there other than the sim (a real arm's controller on this machine and domain)
    stops the benchmark before it sends anything."""
    import time

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import Float64MultiArray

    topic = "/forward_position_controller/commands"
    client = rclpy.create_node("bench_ros_client", context=ctx)
    sim = rclpy.create_node(bench.SIM_NODE, context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    for n in (client, sim):
        ex.add_node(n)
    others = []
    try:
        sim.create_subscription(Float64MultiArray, topic, lambda m: None, 10)

        def discovered(count):
            end = time.monotonic() + 10
            while len(client.get_subscriptions_info_by_topic(topic)) < count and time.monotonic() < end:
                ex.spin_once(timeout_sec=0.02)
            return len(client.get_subscriptions_info_by_topic(topic)) == count

        assert discovered(1)
        bench._check_only_the_sim(client, topic)  # the sim alone: fine
        driver = rclpy.create_node("controller_manager", context=ctx)
        others.append(driver)
        driver.create_subscription(Float64MultiArray, topic, lambda m: None, 10)
        assert discovered(2)
        with pytest.raises(RuntimeError, match="controller_manager"):
            bench._check_only_the_sim(client, topic)
    finally:
        ex.shutdown()
        for n in [client, sim, *others]:
            n.destroy_node()
