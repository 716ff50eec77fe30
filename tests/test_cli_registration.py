"""Subcommands are added explicitly by officina/cli.py from its SUBCOMMANDS table: a CLI module
never touches the root app, importing one has no side effect, and a module that fails to import
fails loudly."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from officina import cli

OFFICINA = Path(cli.__file__).parent


def test_every_table_entry_is_a_command_group_or_top_level_commands():
    root = get_command(cli.register_subcommands())
    names = set(root.commands)
    for ref, name in cli.SUBCOMMANDS:
        module, attr = ref.split(":")
        sub = getattr(__import__(module, fromlist=[attr]), attr)
        assert isinstance(sub, typer.Typer), ref
        if name is None:
            assert {c.name for c in sub.registered_commands} <= names, ref
        else:
            assert name in names and root.commands[name].commands, ref
    assert {"run", "robots", "tasks", "sweep", "kin", "bench", "vision", "ergo", "exo", "ros"} <= names
    assert {"fk", "ik"} == set(root.commands["kin"].commands)
    assert {"ik", "control", "sim"} <= set(root.commands["bench"].commands)


def test_registration_is_idempotent():
    a = get_command(cli.register_subcommands())
    b = get_command(cli.register_subcommands())
    assert sorted(a.commands) == sorted(b.commands)
    assert len(cli.app.registered_groups) == len(cli.SUBCOMMANDS)


def test_a_module_that_cannot_load_fails_loudly():
    with pytest.raises(ModuleNotFoundError):
        cli.add_subcommands(typer.Typer(), [("officina.cli_not_written_yet:app", "nope")])
    with pytest.raises(AttributeError):
        cli.add_subcommands(typer.Typer(), [("officina.cli_kin:no_such_app", "kin")])


def test_cli_modules_do_not_import_the_root_app_or_each_other():
    for path in sorted(OFFICINA.glob("cli_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "officina.cli":
                assert "app" not in {a.name for a in node.names}, f"{path.name} imports officina.cli.app"
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("officina.cli_"):
                pytest.fail(f"{path.name} imports from {node.module}: shared code belongs in the library")
            if isinstance(node, ast.ImportFrom) and node.module == "officina":
                assert not any(a.name.startswith("cli_") for a in node.names), path.name


@pytest.mark.timeout(120)
def test_importing_a_cli_module_adds_nothing_to_the_root_app():
    code = """
from officina import cli
import officina.cli_core, officina.cli_kin, officina.cli_bench, officina.cli_vision
import officina.cli_ergo, officina.cli_ros
print(len(cli.app.registered_groups), len(cli.app.registered_commands))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0"]


def test_a_command_line_loads_only_its_module_and_parses_as_with_every_module():
    """`main` runs a command with the one module that defines it (TOP_LEVEL_COMMANDS names the
    top-level commands of the modules added without a group name): its parser is the one the
    full app builds, and help, --version or an unknown word get the full app."""
    full = get_command(cli.register_subcommands())
    for ref, name in cli.SUBCOMMANDS:
        module, attr = ref.split(":")
        sub = getattr(__import__(module, fromlist=[attr]), attr)
        words = [name] if name is not None else [c.name for c in sub.registered_commands]
        if name is None:
            assert set(cli.TOP_LEVEL_COMMANDS.get(ref, ())) == set(words), ref
        for word in words:
            app = cli.app_for([word, "--help"])
            assert app is not cli.app, word
            one = get_command(app)
            assert set(one.commands) == set(words if name is None else [name]), word
            assert _params(one.commands[word]) == _params(full.commands[word]), word
    for args in ([], ["--help"], ["--version"], ["no-such-command"]):
        assert cli.app_for(args) is cli.app


@pytest.mark.timeout(120)
def test_running_a_command_imports_no_other_cli_module():
    code = """
import sys
from officina.cli import app_for
app_for(["run", "--help"])
print(sorted(m for m in sys.modules if m.startswith("officina.cli_")))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['officina.cli_core']"


def _params(command) -> list:
    """A command's parameters and subcommands, as its parser sees them."""
    out = [(p.name, tuple(p.opts), repr(p.default), p.required, p.nargs, p.help) for p in command.params]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        out.append((name, _params(sub)))
    return out
