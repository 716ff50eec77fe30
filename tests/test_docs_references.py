"""What the README and docs/ name exists: every ``officina.x.y.Name`` in backquotes imports and
resolves, every repository path (``tasks/base.py``, ``benchmarks/bench_sweep.py``, ...) is a file or
folder of the tree, and every ``--option`` is an option of an `officina` command, of a script in
benchmarks/ or docs/examples/, or of one of the outside tools the docs show (ros2, dask, ...); the
command words of every `officina` line, synopses included, are commands; docs/tasks.md's parameter
lists name each task's parameters. Nothing is run: the CLI's options are read from its click commands, the scripts' from their
``add_argument`` calls."""

import importlib
import re
from pathlib import Path

import pytest
from typer.main import get_command

from officina.cli import register_subcommands

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
TOP = ("officina", "sim", "controllers", "vision", "exoskeleton", "tasks", "ros", "launch", "tests",
       "benchmarks", "docs", "baselines", r"\.ci")
# Every command's --help, and the options of the outside tools the docs show next to officina's
# (ros2, ROS camera_calibration, dask, git, valgrind).
OUTSIDE_OPTIONS = {"--help", "--ros-args", "--once", "--size", "--port", "--nworkers", "--nthreads", "--short",
                   "--toggle-collect"}


def _lines():
    for f in DOCS:
        for i, line in enumerate(f.read_text().splitlines(), 1):
            yield f, i, line


def _where(f: Path, i: int) -> str:
    return f"{f.relative_to(ROOT) if f.is_relative_to(ROOT) else f}:{i}"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ImportError:
            continue
        try:
            for p in parts[n:]:
                obj = getattr(obj, p)
        except AttributeError:
            return False
        return True
    return False


def test_every_dotted_officina_name_resolves():
    missing = [f"{_where(f, i)}: {m.group(1)}"
               for f, i, line in _lines()
               for m in re.finditer(r"`(officina(?:\.[A-Za-z_]\w*)+)[`(]", line)
               if not _resolves(m.group(1))]
    assert not missing, "names the docs give that do not resolve:\n" + "\n".join(missing)


def test_every_repository_path_exists():
    pat = re.compile(r"(?<![\w/.:-])((?:" + "|".join(TOP) + r")/[\w./-]*\w)")
    missing = []
    for f, i, line in _lines():
        for m in pat.finditer(line):
            p = m.group(1)
            if p.endswith("_") or p == "officina/OpenCV":  # a prefix (`officina/cli_*.py`), prose
                continue
            if not ((ROOT / p).exists() or (f.parent / p).exists()):
                missing.append(f"{_where(f, i)}: {p}")
    assert not missing, "paths the docs give that are not in the tree:\n" + "\n".join(missing)


def _cli_options() -> set[str]:
    opts: set[str] = set()

    def walk(cmd, ctx, name):
        for p in cmd.params:
            opts.update(p.opts + p.secondary_opts)
        if hasattr(cmd, "list_commands"):  # a group (typer's own click or click's)
            c = cmd.make_context(name, [], resilient_parsing=True, parent=ctx)
            for n in cmd.list_commands(c):
                walk(cmd.get_command(c, n), c, n)

    walk(get_command(register_subcommands()), None, "officina")
    return opts


def _script_options() -> set[str]:
    opts: set[str] = set()
    for f in [*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "docs" / "examples").glob("*.py")]:
        for call in re.findall(r"add_argument\(([^)]*)", f.read_text()):
            opts.update(re.findall(r"[\"'](--[\w-]+)[\"']", call))
    return opts


def test_every_option_named_exists():
    known = _cli_options() | _script_options() | OUTSIDE_OPTIONS
    assert {"--seeds", "--robot", "--rt-priority"} <= known  # both sources were read
    unknown = [f"{_where(f, i)}: {m.group()}"
               for f, i, line in _lines()
               for m in re.finditer(r"(?<![\w-])--[a-z][a-z0-9-]*", line)
               if m.group() not in known]
    assert not unknown, "options the docs name that nothing takes:\n" + "\n".join(unknown)


@pytest.mark.parametrize("wrong, why", [("`officina.vision.localize_objects`", "name"),
                                        ("`officina/tasks/base.py`", "path")])
def test_the_checks_catch_a_wrong_reference(wrong, why, monkeypatch, tmp_path):
    doc = tmp_path / "bad.md"
    doc.write_text(f"See {wrong} and `--no-such-option`.\n")
    monkeypatch.setitem(globals(), "DOCS", [doc])
    check = test_every_dotted_officina_name_resolves if why == "name" else test_every_repository_path_exists
    with pytest.raises(AssertionError, match=re.escape(wrong.strip("`"))):
        check()
    with pytest.raises(AssertionError, match="--no-such-option"):
        test_every_option_named_exists()


def _param_names(model) -> set[str]:
    """Every key of a task's parameters and each part of a nested one (``objects``, ``kinds``)."""
    from pydantic import BaseModel

    names: set[str] = set()
    for n, f in model.model_fields.items():
        names.add(n)
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
            names |= _param_names(f.annotation)
    return names


def test_the_parameters_docs_tasks_lists_exist():
    """docs/tasks.md's "Parameters" lists name the task's parameters: `n_objects`, `parts.*`,
    `drop_*` (a prefix) are keys of its Params."""
    from officina.tasks import TASKS

    text = (ROOT / "docs" / "tasks.md").read_text()
    parts = re.split(r"^### `([a-z-]+)`", text, flags=re.M)
    sections = dict(zip(parts[1::2], parts[2::2]))
    assert set(sections) == set(TASKS)
    wrong = []
    for task, body in sections.items():
        names = _param_names(TASKS[task].Params)
        for listing in re.findall(r"Parameters.*?(?=Metrics|\n\n|$)", body, flags=re.S):
            for m in re.finditer(r"`([a-z][a-z0-9_]*?)(_?\*|\.\*)?`", listing):
                name, star = m.groups()
                ok = any(n.startswith(name) for n in names) if star else name in names
                if not ok:
                    wrong.append(f"{task}: {m.group()}")
    assert not wrong, "docs/tasks.md names parameters the tasks do not have:\n" + "\n".join(wrong)


def _synopsis_words():
    """The command words of every `officina ...` line in the docs' code blocks, synopses included:
    `officina kin fk|ik ...` gives ['kin', 'fk|ik']; the words stop at the first option, argument
    placeholder or bracket."""
    for f in DOCS:
        fenced = False
        for i, line in enumerate(f.read_text().splitlines(), 1):
            s = line.strip().removeprefix("$ ")
            if s.startswith("```"):
                fenced = not fenced
                continue
            if fenced and s.startswith("officina "):
                words = []
                for w in s.split()[1:]:
                    if not re.fullmatch(r"[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*", w):
                        break
                    words.append(w)
                yield f, i, words


def test_every_command_a_synopsis_names_exists():
    cli = get_command(register_subcommands())
    missing, lines = [], list(_synopsis_words())
    assert len(lines) >= 60  # the README's synopsis and examples, the docs' walkthroughs
    for f, i, words in lines:
        level = [(cli, None, "officina")]
        for w in words:
            nxt = []
            for cmd, ctx, name in level:
                if not hasattr(cmd, "list_commands"):
                    continue  # a command: the rest are its arguments
                c = cmd.make_context(name, [], resilient_parsing=True, parent=ctx)
                for alt in w.split("|"):
                    sub = cmd.get_command(c, alt)
                    if sub is None:
                        missing.append(f"{_where(f, i)}: {name} {alt}")
                    else:
                        nxt.append((sub, c, alt))
            if not nxt:
                break
            level = nxt
    assert not missing, "commands the docs name that officina does not have:\n" + "\n".join(missing)
