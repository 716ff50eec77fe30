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
    assert {f.name for f in FILES} >= {"sim.launch.py", "sim_gate_task.launch.py", "real_arm.launch.py"}
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

    for name in ("sim_main", "gate_main", "task_main"):
        assert callable(getattr(cli_ros, name))
