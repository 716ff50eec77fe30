"""The `officina` command line: one entry point, thin subcommands over the library.

Exit codes: 0 ok, 1 the job failed, 2 bad input. Help texts are Markdown (typer's markdown
mode): paragraphs are reflowed to the terminal's width, so write them as plain paragraphs and
put command lines in indented code blocks.
"""

from __future__ import annotations

import os
import sys

import typer

from officina import __version__
from officina.errors import BadInput, JobFailed

HELP = """officina: a robotics lab workbench. Run robot cells in PyBullet (headless,
deterministic), the same controllers against real arms through ROS 2, OpenCV vision, and lifting
ergonomics with exoskeletons.

Examples:

```
officina run pick-place
officina robots
officina COMMAND --help
```
"""

def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"officina {__version__}")
        raise typer.Exit(0)


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """officina command line."""


def _root_app() -> typer.Typer:
    """The root app without subcommands."""
    root = typer.Typer(
        name="officina",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="markdown",
    )
    root.callback()(_root)
    return root


app = _root_app()


def parse_floats(text: str, what: str, n: int | None = None):
    """'1,2,3' -> array of floats (what a command's comma-separated option holds); raises BadInput
    with a one-line reason naming the option ``what``."""
    import numpy as np

    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip() != ""]
    try:
        values = np.array([float(p) for p in parts], dtype=float)
    except ValueError:
        raise BadInput(f"{what}: expected comma-separated numbers, got {text!r}") from None
    if n is not None and len(values) != n:
        raise BadInput(f"{what}: expected {n} comma-separated numbers, got {len(values)}")
    if len(values) == 0:
        raise BadInput(f"{what}: expected comma-separated numbers, got nothing")
    if not np.all(np.isfinite(values)):
        raise BadInput(f"{what}: every value must be finite, got {text!r}")
    return values


LOG_COLUMNS = 120


def rich_console(*, stderr: bool = False):
    """A rich console for officina's tables and progress. On a terminal it takes the terminal's
    width. Written to a file or a CI log (no terminal) rich would lay tables out for 80 columns and
    fold a wide one into tall cells; there it takes ``LOG_COLUMNS`` unless COLUMNS says otherwise."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    terminal = bool(getattr(stream, "isatty", None) and stream.isatty())
    width = None if terminal or "COLUMNS" in os.environ else LOG_COLUMNS
    return Console(stderr=stderr, width=width)


def handle_errors(func):
    """Decorate a command: BadInput/ValueError/FileNotFoundError -> one line + exit 2; JobFailed ->
    exit 1; Ctrl-C -> exit 130, SIGTERM during a run -> exit 143 (128 + the signal number)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except JobFailed as exc:
            typer.echo(f"officina: job failed: {exc}", err=True)
            raise typer.Exit(1) from None
        except (BadInput, ValueError, FileNotFoundError) as exc:
            typer.echo(f"officina: error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", 2)
            typer.echo(f"officina: {str(exc) or 'interrupted'}", err=True)  # Ctrl-C's KeyboardInterrupt has no text
            raise typer.Exit(128 + signum) from None

    return wrapper


#: The subcommands, one line per CLI module: ("officina.cli_X:attr", name). ``attr`` is the
#: module's typer.Typer; with a name its commands sit under `officina NAME`, with None they join
#: the top level. A CLI module never imports `app` (it may import `handle_errors`); adding a module
#: is one line here.
SUBCOMMANDS: tuple[tuple[str, str | None], ...] = (
    ("officina.cli_core:app", None),  # run, robots, tasks, sweep
    ("officina.cli_kin:kin_app", "kin"),
    ("officina.cli_bench:bench_app", "bench"),
    ("officina.cli_vision:vision_app", "vision"),
    ("officina.cli_ergo:ergo_app", "ergo"),
    ("officina.cli_ergo:exo_app", "exo"),
    ("officina.cli_ros:ros_app", "ros"),
    ("officina.cli_compare:app", None),  # compare
    ("officina.cli_plan:app", None),  # plan, collision-pairs
    ("officina.cli_regress:app", None),  # regress
    ("officina.cli_report:app", None),  # report
)

#: The commands of the SUBCOMMANDS modules that join the top level, so that `main` can load the
#: one module a command line needs (tests/test_cli_registration.py keeps this equal to what the
#: modules define; a module missing here still works, through every subcommand).
TOP_LEVEL_COMMANDS: dict[str, tuple[str, ...]] = {
    "officina.cli_core:app": ("run", "robots", "tasks", "sweep"),
    "officina.cli_compare:app": ("compare",),
    "officina.cli_plan:app": ("plan", "collision-pairs"),
    "officina.cli_regress:app": ("regress",),
    "officina.cli_report:app": ("report",),
}

_registered = False


def add_subcommands(target: typer.Typer, subcommands=SUBCOMMANDS) -> typer.Typer:
    """Add each ``("module:attr", name)`` sub-app to ``target``. An import error in a CLI module
    propagates: a command that cannot load is a bug, not a missing feature."""
    import importlib

    for ref, name in subcommands:
        module, attr = ref.split(":")
        sub = getattr(importlib.import_module(module), attr)
        if name is None:
            target.add_typer(sub)
        else:
            target.add_typer(sub, name=name)
    return target


def register_subcommands() -> typer.Typer:
    """`app` with every entry of `SUBCOMMANDS` added (once)."""
    global _registered
    if not _registered:
        add_subcommands(app)
        _registered = True
    return app


def app_for(args: list[str]) -> typer.Typer:
    """The app to run the command line ``args`` with: when its first word is a command of one
    SUBCOMMANDS module, a root app with that module alone (the other CLI modules are neither
    imported nor their parsers built, a few hundredths of a second of every command's start);
    otherwise (help, --version, an unknown command) `app` with every subcommand."""
    word = args[0] if args else ""
    for ref, name in SUBCOMMANDS:
        if word == name or (name is None and word in TOP_LEVEL_COMMANDS.get(ref, ())):
            return add_subcommands(_root_app(), [(ref, name)])
    return register_subcommands()


def _usage_error_exit(exc: BaseException) -> int | None:
    """The exit code of a command-line parsing error (click's, through typer: an unknown option or
    command, a value that does not convert, a missing option), printed as one line naming the
    option and the command's --help; None for any other exception."""
    if type(exc).__name__ == "Abort":  # click's Ctrl-C at a prompt
        typer.echo("officina: aborted", err=True)
        return 1
    if not (hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)):
        return None
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group without a command: its help was printed
        return exc.exit_code
    ctx = getattr(exc, "ctx", None)
    message = " ".join(str(exc.format_message()).split())
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    typer.echo(f"officina: error: {message}{hint}", err=True)
    return exc.exit_code


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            rv = app_for(args)(args=args, prog_name="officina", standalone_mode=False)
        except Exception as exc:
            code = _usage_error_exit(exc)
            if code is None:
                raise
            sys.exit(code)
        # not standalone: a command that ends by typer.Exit(code) (or --help, --version) returns
        # the code; one that returns normally, None
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)
    except JobFailed as exc:
        typer.echo(f"officina: job failed: {exc}", err=True)
        sys.exit(1)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"officina: error: {exc}", err=True)
        sys.exit(2)
    finally:
        # The command is done and the process about to exit: keep what it holds out of the
        # interpreter's garbage collections at exit, which would otherwise scan every object of
        # every module imported (a tenth of a second or more for a run). Not once OMPL is loaded:
        # its nanobind types are freed only by those collections, and nanobind prints a page of
        # "leaked" warnings at exit for every one still alive.
        import gc

        if "ompl" not in sys.modules:
            gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    # `python -m officina.cli`: run the imported module's app (the one subcommands register on).
    from officina.cli import main as _main

    _main()
