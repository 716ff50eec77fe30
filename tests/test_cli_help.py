"""Every command's --help at 80 columns: nothing wider, no paragraph broken mid-sentence, option
help shown whole, an example on every command; and no PyBullet banner where nothing simulates."""

import inspect
import os
import re
import subprocess
import sys

import pytest
from rich.cells import cell_len
from typer.main import get_command
from typer.testing import CliRunner

from officina.cli import register_subcommands

WIDTH = 80


def _walk(cmd, path=()):
    yield path, cmd
    if hasattr(cmd, "list_commands"):
        import click

        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            yield from _walk(cmd.get_command(ctx, name), path + (name,))


COMMANDS = dict(_walk(get_command(register_subcommands())))


@pytest.fixture(scope="module")
def pages():
    """The rendered --help of every command and subcommand, at 80 columns."""
    runner = CliRunner()
    out = {}
    for path in COMMANDS:
        r = runner.invoke(register_subcommands(), [*path, "--help"], env={"COLUMNS": str(WIDTH)},
                          terminal_width=WIDTH)
        assert r.exit_code == 0, (path, r.output)
        out[path] = r.stdout
    return out


def _description(page: str) -> list[str]:
    """The lines between the usage line and the first panel: the command's own text."""
    lines = page.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    return lines[start:end]


def test_the_walk_finds_every_command():
    names = {" ".join(p) for p in COMMANDS}
    assert {"run", "sweep", "kin ik", "bench ik", "bench control", "vision handeye", "ergo niosh",
            "exo lift", "ros sim", "ros record"} <= names


def test_no_line_is_wider_than_80_columns(pages):
    for path, page in pages.items():
        for line in page.splitlines():
            assert cell_len(line.rstrip()) <= WIDTH, (" ".join(path), line)


def test_no_paragraph_is_broken_mid_sentence(pages):
    """A paragraph line is broken by the renderer only when the next word does not fit. A line
    that could have taken the next line's first word was broken by hand: text hand-wrapped at
    some width and then re-wrapped at 80 reads as ragged half-lines. Paragraph text starts one
    space in; code blocks and list items are indented further and are left alone."""
    para = re.compile(r"^ \S")
    for path, page in pages.items():
        desc = _description(page)
        for a, b in zip(desc, desc[1:]):
            if not (para.match(a) and para.match(b)):
                continue
            first = b.split()[0]
            if cell_len(a.rstrip()) + 1 + cell_len(first) <= WIDTH - 4:
                pytest.fail(f"officina {' '.join(path)} --help: line broken by hand:\n{a.rstrip()}\n{b.rstrip()}")


def _panel_text(page: str) -> str:
    """The panels' content without borders and whitespace (the renderer may fold long words)."""
    rows = [line.strip("│ ") for line in page.splitlines() if line.startswith("│")]
    return re.sub(r"\s+", "", "".join(rows))


def test_option_help_is_shown_whole(pages):
    """Every word of every option's help appears: no markup swallows units such as [s] or [kg]."""
    for path, cmd in COMMANDS.items():
        text = _panel_text(pages[path])
        for param in cmd.params:
            for word in (getattr(param, "help", None) or "").split():
                assert word.replace("`", "") in text, (" ".join(path), param.name, word)


def test_every_command_has_an_example(pages):
    for path, cmd in COMMANDS.items():
        if hasattr(cmd, "list_commands") and path:
            continue  # a group: its commands carry the examples
        page = pages[path]
        assert re.search(r"\bExamples?:", page), f"officina {' '.join(path)} --help has no example"


def test_example_lines_fit():
    """Command lines in code blocks are not wrapped by the renderer: each fits in the block."""
    for path, cmd in COMMANDS.items():
        fenced = False
        for line in inspect.cleandoc(cmd.help or "").splitlines():
            if line.strip().startswith("```"):
                fenced = not fenced
            elif fenced:
                assert cell_len(line.rstrip()) <= WIDTH - 6, (" ".join(path), line)


BANNER = "pybullet build time"


@pytest.mark.timeout(120)
def test_help_prints_no_pybullet_banner():
    r = subprocess.run([sys.executable, "-m", "officina.cli", "--help"], capture_output=True, text=True,
                       timeout=100, env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout
    assert BANNER not in r.stdout and BANNER not in r.stderr


@pytest.mark.timeout(120)
def test_commands_that_do_not_simulate_never_load_pybullet():
    code = """
import sys
from officina.cli import main
for args in (["--help"], ["robots"], ["tasks"], ["kin", "fk", "--robot", "panda", "--q", "0,0,0,-1.5,0,1.5,0"],
             ["kin", "ik", "--robot", "ur5e", "--position", "0.4,0.1,0.3", "--quaternion-xyzw", "1,0,0,0"],
             ["ergo", "niosh", "--load", "12", "--h", "40", "--v", "20", "--a", "0", "--freq", "2",
              "--duration", "moderate", "--coupling", "fair", "--d", "60"],
             ["exo", "static", "--trunk-flexion-deg", "60", "--load-kg", "10"], ["bench", "--help"],
             ["ros", "--help"], ["vision", "--help"]):
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
print("PYBULLET_LOADED", "pybullet" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert r.returncode == 0, r.stderr
    assert "PYBULLET_LOADED False" in r.stdout
    assert BANNER not in r.stdout and BANNER not in r.stderr


@pytest.mark.timeout(120)
def test_a_command_that_simulates_keeps_the_banner_off_stdout():
    code = "import sys; from officina.sim.world import SimWorld; sys.stdout.write('clean')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "clean"


def test_robot_option_help_that_lists_robots_lists_them_all():
    """An option's help that names built-in robots names every one (`officina robots`), so no
    robot looks unsupported; 'default: ...' lists are what a command runs without --robot."""
    from officina.robots import builtin_robots

    names = set(builtin_robots())
    checked = 0
    for path, cmd in COMMANDS.items():
        for p in getattr(cmd, "params", []):
            if "--robot" not in getattr(p, "opts", ()) or not p.help:
                continue
            text = p.help.split("default:")[0]
            named = {n for n in names if re.search(rf"\b{re.escape(n)}\b", text)}
            assert not named or named == names, (" ".join(path), p.help, sorted(names - named))
            checked += 1
    assert checked >= 5


def test_examples_are_one_command_a_line(pages):
    """'Examples:' heads a block of command lines; a page that runs them into one paragraph
    ('Examples: officina x officina y ...') does not teach."""
    for path, page in pages.items():
        for line in page.splitlines():
            m = re.match(r"^\s*Examples?:(.*)$", line)
            if m:
                assert not m.group(1).strip(), f"officina {' '.join(path)} --help: {line.strip()}"
