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
