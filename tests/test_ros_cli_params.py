"""`officina ros sim|gate ... --ros-args -p NAME:=VALUE`: a ROS parameter given that way is not
overridden by the default of a command-line option (only an option actually given wins) — e.g. the
gate's velocity_scale from a parameter must not silently fall back to 1.0."""

import pytest

pytest.importorskip("rclpy")


@pytest.fixture
def captured(monkeypatch, cli):
    """Run `officina ros ...` up to the node's construction; return the parameter overrides."""
    import officina.cli_ros as cr
    import officina.ros.gate_node as gn
    import officina.ros.sim_node as sn

    got = {}

    class Recorder:
        def __init__(self, parameter_overrides=None, **kw):
            got.update({p.name: p.value for p in parameter_overrides or []})

    monkeypatch.setattr(sn, "SimNode", Recorder)
    monkeypatch.setattr(gn, "GateNode", Recorder)
    monkeypatch.setattr(cr, "_run", lambda make, argv: (got.__setitem__("_argv", argv), make(argv)))

    def run(args):
        got.clear()
        r = cli(args)
        assert r.exit_code == 0, r.output
        return dict(got)

    return run


def test_options_not_given_leave_ros_parameters_alone(captured):
    got = captured(["ros", "gate", "--robot", "panda", "--ros-args", "-p", "velocity_scale:=0.25"])
    assert "velocity_scale" not in got and got["robot"] == "panda"
    assert got["_argv"][1:] == ["--ros-args", "-p", "velocity_scale:=0.25"]


def test_options_given_win(captured):
    got = captured(["ros", "sim", "--task", "none", "--rate-hz", "50", "--ros-args", "-p", "rate_hz:=100.0"])
    assert got["rate_hz"] == 50.0 and got["task"] == "none"
    assert "pacing" not in got and "seed" not in got


@pytest.mark.parametrize("cmd", ["sim", "gate"])
def test_executor_option_reaches_the_node_and_a_wrong_one_is_one_line(captured, cli, cmd):
    extra = ["--task", "none"] if cmd == "sim" else []
    assert captured(["ros", cmd, *extra, "--executor", "events"])["executor"] == "events"
    r = cli(["ros", cmd, *extra, "--executor", "threads"])
    assert r.exit_code == 2
    assert "--executor 'threads': expected one of events, single" in r.output
