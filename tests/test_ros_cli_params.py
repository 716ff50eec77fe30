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


# --- task parameters: one path with `officina run` (officina.runner.resolve_config) -------------------
ISSUE_EXAMPLE = ["--set", "params.n_objects=2", "--set", "min_separation_m=0.2"]  # the key without params. was dropped


@pytest.mark.parametrize("sets, message", [
    (ISSUE_EXAMPLE, "config key 'min_separation_m': unknown key"),
    (["--set", "params.n_objects=abc"], "config key 'params.n_objects'"),
    (["--set", "params.bogus=1"], "config key 'params.bogus': unknown key"),
    (["--set", "log.plots=false"], "--set log.plots: not used by `officina ros task`; it takes params.NAME, seed"),
    (["--set", "n_objects"], "expected KEY=VALUE"),
])
def test_ros_task_bad_set_is_one_line_and_exit_2(cli, sets, message):
    r = cli(["ros", "task", "pick-place", *sets])
    assert r.exit_code == 2, r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_ros_task_unknown_task_reference_is_exit_2(cli):
    r = cli(["ros", "task", "tests/data/no_such_file.py:Task"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output


def test_ros_task_resolves_parameters_as_run_does():
    from officina.ros.task_node import TaskRun, prepare
    from officina.runner import resolve_config, task_params

    sets = ("params.n_objects=2", "params.min_separation_m=0.2", "seed=7")
    job = prepare(TaskRun("pick-place", "panda", overrides=sets))
    ref = task_params(resolve_config("pick-place", robot="panda", overrides=list(sets)))
    assert job.params == ref and job.params.min_separation_m == 0.2 and job.seed == 7
    lab = prepare(TaskRun("tests/data/lab_task.py:TouchPoint", "", overrides=("params.hold_s=0.5",)))
    assert lab.task.name == "touch-point" and lab.params.hold_s == 0.5 and lab.resolved.spec.name == "panda"


@pytest.mark.timeout(60)
def test_sim_resolves_task_parameters_as_run_does(ctx):
    from rclpy.parameter import Parameter

    from officina.errors import BadInput
    from officina.ros.sim_node import SimNode
    from officina.runner import resolve_config, task_params

    def sim(task, sets):
        return SimNode(context=ctx, parameter_overrides=[
            Parameter("pacing", value="lockstep"), Parameter("task", value=task),
            Parameter("task_set", value=list(sets))])

    sets = ["params.n_objects=2", "params.min_separation_m=0.12", "seed=3", "sim.solver_iterations=80"]
    node = sim("pick-place", sets)
    try:
        ref = resolve_config("pick-place", robot="panda", overrides=sets)
        assert node.hw.task_params == task_params(ref) and node.hw.task_params.min_separation_m == 0.12
        assert node.hw.setup.seed == 3 and node.hw.setup.solver_iterations == 80
        assert len(node.hw.object_poses()) == 2
    finally:
        node.destroy_node()
    node = sim("tests/data/lab_task.py:TouchPoint", ["params.hold_s=0.5"])  # a task from outside the tree
    try:
        assert node.hw.task.name == "touch-point" and node.hw.task_params.hold_s == 0.5
        assert node.hw.scene.fixtures  # its table
    finally:
        node.destroy_node()
    for sets, message in [(ISSUE_EXAMPLE[1::2], "config key 'min_separation_m': unknown key"),
                          (["log.video=true"], "--set log.video: not used by `officina ros sim`")]:
        with pytest.raises(BadInput) as exc:
            sim("pick-place", sets)
        assert message in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(BadInput, match="builds no task"):
        sim("none", ["params.n_objects=2"])


@pytest.mark.timeout(60)
def test_ros_sim_bad_set_is_one_line_and_exit_2(cli, monkeypatch, request):
    from officina.ros.testing import domain_id_for

    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id_for(request.node.name)))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    r = cli(["ros", "sim", "--pacing", "lockstep", *ISSUE_EXAMPLE])
    assert r.exit_code == 2, r.output
    assert "config key 'min_separation_m': unknown key" in r.output and len(r.output.strip().splitlines()) == 1


def test_ros_task_refuses_a_task_that_commands_torques_only_in_one_line():
    """The gate forwards joint positions only: a task that commands torques and offers no other way
    is refused (BadInput: exit 2, one line, before ROS starts); peg-in-hole, which also runs with
    the arm's admittance controller (its compliant_modes), is taken."""
    from officina.errors import BadInput
    from officina.ros.task_node import check_gate_control
    from officina.tasks import get_task

    class TorqueOnly:
        name = "torque-only"
        control_modes = ("position", "torque")

    with pytest.raises(BadInput) as exc:
        check_gate_control(TorqueOnly())
    msg = str(exc.value)
    assert len(msg.splitlines()) == 1 and "torque mode" in msg and "forwards joint positions only" in msg
    check_gate_control(get_task("peg-in-hole"))

@pytest.mark.timeout(90)
@pytest.mark.parametrize("args, name, hint", [
    (["ros", "gate", "--robot", "panda"], "workspace_mni", "did you mean 'workspace_min'?"),
    (["ros", "sim", "--task", "none", "--pacing", "lockstep"], "rate", "did you mean 'rate_hz'?"),
    (["ros", "task", "pick-place"], "velocity_scale", "it has "),
])
def test_a_parameter_the_node_does_not_have_is_one_line_and_exit_2(cli, monkeypatch, request, args, name, hint):
    """rclpy ignores an undeclared ``-p NAME:=VALUE``: a misspelt safety setting (the gate's
    workspace box) would leave the node running without it. Each node refuses it by name."""
    from officina.ros.testing import domain_id_for

    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id_for(request.node.name, 150, 199)))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    r = cli([*args, "--", "--ros-args", "-p", f"{name}:=[0.3, -0.4, 0.0]"])
    assert r.exit_code == 2, r.output
    assert f"parameter {name!r}" in r.output and hint in r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("param, message", [
    ("position_margin_rad:=-0.5", "position_margin_rad must be >= 0"),
    ("position_margin_rad:=.nan", "position_margin_rad must be >= 0"),
    ("state_timeout_s:=.nan", "parameter state_timeout_s = nan is out of range"),
    ("state_timeout_s:=-1.0", "parameter state_timeout_s = -1.0 is out of range"),
])
def test_gate_refuses_parameters_that_widen_or_switch_off_its_checks(cli, monkeypatch, request, param, message):
    """A negative joint-limit margin widened the limits past the arm's; a NaN margin voided them; a
    NaN state timeout switched the lost-state disarm off. Each is one line and exit 2."""
    from officina.ros.testing import domain_id_for

    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id_for(request.node.name, 150, 199)))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    r = cli(["ros", "gate", "--robot", "panda", "--", "--ros-args", "-p", param])
    assert r.exit_code == 2, r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ros_args, message", [
    (["-p", "workspace_min:=[0, -0.5, 0.0]"], "Sequence should be of same type"),
    (["--params-file", "/nonexistent/gate.yaml"], "Couldn't parse params file"),
    (["-r", "foo"], "Couldn't parse remap rule: '-r foo'"),
])
def test_ros_arguments_rcl_cannot_parse_are_one_line_and_exit_2(cli, monkeypatch, request, ros_args, message):
    """rclpy.init's RCLError (a mixed int/float list, a missing parameters file, a bad remap) was a
    traceback and exit 1; it is bad input."""
    from officina.ros.testing import domain_id_for

    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id_for(request.node.name, 150, 199)))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    r = cli(["ros", "gate", "--robot", "panda", "--", "--ros-args", *ros_args])
    assert r.exit_code == 2, r.output
    assert "officina: error: ROS arguments: " in r.output and message in r.output
    assert len(r.output.strip().splitlines()) == 1 and "/project/" not in r.output


def test_gate_workspace_box_from_the_command_line_and_from_real_arm_launch(captured, cli):
    """The safety steps ask for a workspace box; real_arm.launch starts the gate with no way to pass
    `--ros-args`, so the box is a launch argument and a gate option ('x,y,z'; '' = none)."""
    from pathlib import Path

    from test_ros_launch import launch_nodes

    launch = Path(__file__).resolve().parent.parent / "launch" / "real_arm.launch.py"
    gate = {n.executable: n for n in launch_nodes(launch, workspace_min="-0.3,-0.6,0.0",
                                                  workspace_max="[0.8, 0.6, 0.6]")}["officina-ros-gate"]
    got = captured(["ros", "gate", *gate.arguments])
    assert got["workspace_min"] == [-0.3, -0.6, 0.0] and got["workspace_max"] == [0.8, 0.6, 0.6]
    default = {n.executable: n for n in launch_nodes(launch)}["officina-ros-gate"]
    got = captured(["ros", "gate", *default.arguments])
    assert "workspace_min" not in got and "workspace_max" not in got
    r = cli(["ros", "gate", "--workspace-min", "0.2,0.3"])
    assert r.exit_code == 2 and "--workspace-min '0.2,0.3': expected three numbers" in r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.timeout(60)
def test_shared_cell_is_refused_over_ros_by_the_task_and_the_sim(cli, ctx):
    """shared-cell's speed and separation monitoring is the simulated world's speed override, which
    only `officina run` applies: over ROS the arm ran at full speed with people in the cell (the
    sim) or with no people sensing at all (a real arm). Both nodes refuse it in one line."""
    from rclpy.parameter import Parameter

    from officina.errors import BadInput
    from officina.ros.sim_node import SimNode

    r = cli(["ros", "task", "shared-cell", "--robot", "panda"])
    assert r.exit_code == 2, r.output
    assert "task 'shared-cell' does not run over ROS" in r.output and len(r.output.strip().splitlines()) == 1
    with pytest.raises(BadInput, match="does not run over ROS"):
        SimNode(context=ctx, parameter_overrides=[Parameter("task", value="shared-cell"),
                                                  Parameter("pacing", value="lockstep")])


def test_a_profile_file_that_does_not_exist_is_named_as_such(tmp_path):
    """--profile labs/ur_left.yaml mistyped said "unknown ROS profile ...; expected one of abb, ...
    or a YAML file" (it was a YAML file); a missing robot file already said "not found"."""
    from officina.errors import BadInput
    from officina.ros.robot_profiles import load_profile

    with pytest.raises(BadInput, match=r"^ROS profile file not found: .*ur_left\.yaml$"):
        load_profile(str(tmp_path / "ur_left.yaml"))
    with pytest.raises(BadInput, match="unknown ROS profile 'nosuch'; expected one of abb"):
        load_profile("nosuch")


@pytest.mark.parametrize("task, robot, has", [("pick-place", "ur10e", "a vacuum gripper"),
                                              ("peg-in-hole", "irb2600", "a vacuum gripper"),
                                              ("palletizing", "panda", "a parallel gripper")])
def test_ros_task_refuses_a_robot_without_the_gripper_the_task_needs(cli, monkeypatch, request, task, robot, has):
    """`officina ros task pick-place --robot ur10e` started and waited (the sim beside it refused
    the cell; a real arm would have run the procedure with the wrong gripper). It is refused
    before ROS starts, as `officina run` refuses the cell."""
    from officina.ros.testing import domain_id_for

    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id_for(request.node.name, 150, 199)))
    r = cli(["ros", "task", task, "--robot", robot])
    assert r.exit_code == 2, r.output
    assert f"{task} needs a" in r.output and f"robot {robot!r} has {has}" in r.output
    assert len(r.output.strip().splitlines()) == 1
