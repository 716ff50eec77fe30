"""The sim's real-time pacing and command-synced periods as pure classes: no rclpy, no waiting
(the monotonic time is the test's)."""

import subprocess
import sys

import numpy as np
import pytest

from officina.ros.latency import CommandSync
from officina.ros.pacing import RealtimeGrid


def test_pacing_and_latency_modules_import_without_rclpy():
    code = ("import sys; import officina.ros.pacing, officina.ros.latency; "
            "assert 'rclpy' not in sys.modules, 'rclpy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_grid_runs_the_periods_that_have_ended_and_none_ahead():
    g = RealtimeGrid(0.004, wall0=100.0, stamp0=5.0)
    assert g.due(100.0, 0) == 0
    assert g.due(100.0039, 0) == 0  # period 0 has not ended
    assert g.due(100.0041, 0) == 1
    assert g.due(100.0041, 1) == 0  # already run: nothing ahead of the wall clock
    assert g.due(100.0121, 1) == 2
    assert g.stamp(3) == pytest.approx(5.012)  # the end of period 2 on the clock in use
    assert g.overruns == 0


def test_grid_slips_instead_of_bursting_when_the_loop_falls_behind():
    g = RealtimeGrid(0.004, wall0=100.0, stamp0=5.0, max_catchup=5)
    assert g.due(100.0 + 20.5 * 0.004, 0) == 5  # 20 periods late: 5 run now, the grid moves by 15
    assert g.overruns == 1
    assert g.wall0 == pytest.approx(100.0 + 15 * 0.004) and g.stamp0 == pytest.approx(5.0 + 15 * 0.004)
    assert g.due(100.0 + 20.5 * 0.004, 5) == 0  # caught up: the stamps lag the wall clock by half a period
    assert g.start(5) + 0.5 * 0.004 == pytest.approx(100.0 + 20.5 * 0.004)


def test_grid_refuses_a_period_that_is_not_positive():
    with pytest.raises(ValueError, match="period must be positive"):
        RealtimeGrid(0.0, 0.0, 0.0)


def test_command_sync_runs_the_period_a_command_falls_in_at_once():
    dt = 0.1
    g = RealtimeGrid(dt, wall0=0.0, stamp0=0.0)
    sync = CommandSync(g)
    now = 3.2 * dt  # 3 periods ended, the 4th is 20 % through
    ran = g.due(now, 0)
    assert ran == 3
    assert sync.run_now(now, ran)  # the 4th runs now ...
    ran += 1
    assert g.stamp(ran) <= now + 1.5 * dt  # ... stamped with its end, at most 1.5 periods ahead
    assert g.wall0 == pytest.approx(0.1 * 0.2 * dt)  # and the grid moved a tenth toward the command
    assert not sync.run_now(now + 0.01, ran)  # the next starts ~0.8 dt later: wait for its end
    assert sync.run_now(g.start(ran) - 0.3 * dt, ran)  # ~0.3 dt before it: a stream at the rate runs it


@pytest.mark.parametrize("drift", [0.005, -0.005])
def test_command_sync_locks_onto_the_phase_of_a_drifting_stream(drift):
    """A stream at the control rate on another machine's clock (0.5 % off, +/- 5 % of a period of
    jitter): its phase walks through the period grid. The grid follows it, so every command runs
    its own period at once (a fixed grid loses commands each time the phase crosses the half-period
    edge); stamps stay one period apart to within the drift and never run more than 1.5 periods
    ahead of the wall clock."""
    dt = 0.01
    g = RealtimeGrid(dt, wall0=100.0, stamp0=0.0)
    sync = CommandSync(g)
    rng = np.random.default_rng(7)
    periods = 0
    ran, stamps, lead = [], [], []
    for k in range(600):  # 3 periods of phase walk
        now = 100.0 + k * dt * (1 + drift) - 0.2 * dt + rng.uniform(-0.05, 0.05) * dt
        before = periods
        periods += g.due(now, periods)  # what ended before the command, with the previous one
        if sync.run_now(now, periods):
            periods += 1
        ran.append(periods - before)
        stamps.append(g.stamp(periods))
        lead.append(g.stamp(periods) - (now - 100.0))
    ran = np.array(ran)
    assert np.all(ran == 1), f"commands that did not run a period of their own: {np.flatnonzero(ran != 1)}"
    np.testing.assert_allclose(np.diff(stamps[60:]), dt * (1 + drift), atol=0.02 * dt)  # once locked
    assert max(lead) <= 1.5 * dt + 1e-9


def test_a_fixed_grid_loses_commands_of_a_drifting_stream():
    """The same stream without the phase lock (gain 0): the check above would fail, which is why
    the grid locks."""
    dt = 0.01
    g = RealtimeGrid(dt, wall0=100.0, stamp0=0.0)
    sync = CommandSync(g, gain=0.0)
    periods, ran = 0, []
    for k in range(600):
        now = 100.0 + k * dt * 1.005 - 0.2 * dt
        before = periods
        periods += g.due(now, periods)
        if sync.run_now(now, periods):
            periods += 1
        ran.append(periods - before)
    assert np.any(np.array(ran) != 1)
