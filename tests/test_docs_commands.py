"""Every `officina` command line the README and docs/ show in their code blocks is one the CLI
accepts: its subcommands exist, its options exist and its values convert. The lines are parsed as
`officina` parses them, without running anything; synopsis lines (with ``[``, ``|``, ``...`` or
an upper-case placeholder such as TASK) are left out."""

import re
import shlex
from pathlib import Path

import pytest
from typer.main import get_command

from officina.cli import register_subcommands

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _command_lines():
    for f in DOCS:
        fenced, lines = False, f.read_text().splitlines()
        for i, line in enumerate(lines, 1):
            s = line.strip().removeprefix("$ ")
            if s.startswith("```"):
                fenced = not fenced
                continue
            if not (fenced and s.startswith("officina ")):
                continue
            j = i
            while s.endswith("\\") and j < len(lines):  # a line continued on the next
                s, j = s[:-1] + lines[j].strip(), j + 1
            cmd = re.split(r" #| ; | && ", s)[0].rstrip("& ").strip()  # the command, not the shell's rest
            args = shlex.split(cmd)[1:]
            if args == ["--version"]:
                continue  # an eager option: it prints and exits while parsing (tests/test_cli*.py)
            if any(t in cmd for t in ("[", "|", "...")) or any(
                    re.fullmatch(r"[A-Z][A-Z0-9_.]*", a) for a in args):
                continue
            yield pytest.param(args, id=f"{f.relative_to(ROOT)}:{i}")


LINES = list(_command_lines())
CLI = get_command(register_subcommands())


def _parse(args: list[str]) -> None:
    """Parse ``args`` as `officina` would: down the command groups by their words, then the
    leaf command's options and arguments (unknown options, missing arguments and values that do
    not convert raise)."""
    cmd, name, parent = CLI, "officina", None
    while hasattr(cmd, "resolve_command"):  # a group (typer's own click or click's)
        ctx = cmd.make_context(name, [], parent=parent, resilient_parsing=True)
        assert args, f"the command line names the group {name!r}, not a command"
        word, *args = args
        sub = cmd.get_command(ctx, word)
        assert sub is not None, f"{name!r} has no command {word!r}"
        cmd, name, parent = sub, word, ctx
    cmd.make_context(name, list(args), parent=parent)


def test_the_docs_show_command_lines():
    assert len(LINES) >= 40  # the README's examples and the docs' walkthroughs


@pytest.mark.parametrize("args", LINES)
def test_a_command_line_of_the_docs_parses(args):
    _parse(args)
