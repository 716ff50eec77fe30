"""Launch files (ROS 2 `launch` is not installable here): parse each file's AST and check that every
executable it starts is an officina console script whose command exists, that every option it
passes is an option of that command, and that every LaunchConfiguration is declared. That the
commands start and reach their topics is what test_ros_sim/gate/task check."""

import ast
from pathlib import Path

import pytest

LAUNCH = Path(__file__).resolve().parent.parent / "launch"
FILES = sorted(LAUNCH.glob("*.launch.py"))


def _commands():
    import typer

    from officina import cli

    cli._register_subcommands()
    from officina.cli_ros import ros_app

    group = typer.main.get_group(ros_app)
    return {name: cmd for name, cmd in group.commands.items()}


def _nodes(tree):
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Node":
            kw = {k.arg: k.value for k in call.keywords}
            yield kw


def test_there_are_launch_files_and_no_python_package_named_launch():
    assert {f.name for f in FILES} >= {"sim.launch.py", "sim_gate_task.launch.py", "real_arm.launch.py",
                                         "exo_monitor.launch.py"}
    assert not (LAUNCH / "__init__.py").exists()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_launch_file_names_real_commands_and_options(path):
    tree = ast.parse(path.read_text())
    cmds = _commands()
    declared = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ARGS" for t in node.targets):
            declared = {k.value for k in node.value.keys}
    used = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
            and getattr(c.func, "id", None) in ("LaunchConfiguration", "lc") and c.args}
    assert used <= declared, f"undeclared launch arguments {used - declared}"
    n = 0
    for kw in _nodes(tree):
        n += 1
        assert "package" not in kw, "officina nodes are console scripts: Node(executable=...) without package"
        exe = kw["executable"].value
        assert exe.startswith("officina-ros-")
        cmd = cmds[exe.removeprefix("officina-ros-")]
        opts = {o for p in cmd.params if getattr(p, "param_type_name", "") == "option" for o in p.opts}
        args = kw.get("arguments")
        for el in (args.elts if args is not None else []):
            if isinstance(el, ast.Constant) and str(el.value).startswith("--"):
                assert el.value in opts, f"{exe}: unknown option {el.value}"
    assert n >= 1


def test_console_script_entry_functions_exist():
    from officina import cli_ros

    for name in ("sim_main", "gate_main", "task_main", "vision_main", "exo_main", "record_main"):
        assert callable(getattr(cli_ros, name))


def _node_argv(path, executable):
    """The command line a launch file gives `executable`, with every LaunchConfiguration replaced
    by its declared default (what `ros2 launch FILE` runs without arguments)."""
    tree = ast.parse(path.read_text())
    defaults = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ARGS" for t in node.targets):
            defaults = {k.value: v.elts[0].value for k, v in zip(node.value.keys, node.value.values)}
    for kw in _nodes(tree):
        if kw["executable"].value == executable:
            out = []
            for el in kw["arguments"].elts:
                out.append(str(el.value) if isinstance(el, ast.Constant) else defaults[el.args[0].value])
            return out
    raise AssertionError(f"{executable} not in {path.name}")


@pytest.mark.ros
@pytest.mark.timeout(90)
def test_exo_monitor_launch_command_starts_and_reaches_its_topics(tmp_path, request):
    """The exo monitor as exo_monitor.launch.py starts it (defaults), as a process: a posture on its
    input topic comes back as L5/S1 wrench and assistive torque."""
    pytest.importorskip("rclpy")
    from geometry_msgs.msg import WrenchStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from officina.exoskeleton.model import JOINTS
    from officina.ros.testing import NodeProcess, RosClient, domain_id_for

    argv = _node_argv(LAUNCH / "exo_monitor.launch.py", "officina-ros-exo")
    topic = argv[argv.index("--joint-states-topic") + 1]
    dom = domain_id_for(request.node.name)
    proc = NodeProcess(["ros", "exo", *argv], dom, str(tmp_path / "exo.log"))
    c = None
    try:
        c = RosClient(dom)
        c.collect(WrenchStamped, "/exo/l5s1/wrench")
        c.collect(Float64MultiArray, "/exo/assist_torque")
        pub = c.publisher(JointState, topic)
        c.wait_for(lambda: pub.get_subscription_count() > 0 or not proc.alive(), 30, "the exo node")
        assert proc.alive(), proc.output()
        m = JointState(name=list(JOINTS), position=[0.0, 0.2, 1.0, 0.5, 1.5, 0.0])
        for _ in range(50):
            pub.publish(m)
            c.spin_for(0.1)
            if c.received["/exo/l5s1/wrench"] and c.received["/exo/assist_torque"]:
                break
        assert c.received["/exo/l5s1/wrench"], proc.output()
        assert -c.received["/exo/l5s1/wrench"][-1].wrench.torque.y > 50.0  # a stooped trunk loads L5/S1
        assert proc.alive()
    finally:
        if c is not None:
            c.close()
        proc.stop()
