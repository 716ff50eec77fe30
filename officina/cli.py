"""The `officina` command line: one entry point, thin subcommands over the library.

Exit codes: 0 ok, 1 the job failed, 2 bad input.
"""

from __future__ import annotations

import sys

import typer

from officina import __version__
from officina.errors import BadInput, JobFailed

app = typer.Typer(
    name="officina",
    help=(
        "officina: a robotics lab workbench. Run robot cells in PyBullet (headless, deterministic), "
        "the same controllers against real arms through ROS 2, OpenCV vision, and lifting ergonomics "
        "with exoskeletons.\n\nStart with `officina run pick-place`; see `officina COMMAND --help`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"officina {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """officina command line."""


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print one line on stderr and return an Exit to raise."""
    typer.echo(f"officina: error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(func):
    """Decorate a command: BadInput/ValueError/FileNotFoundError -> one line + exit 2; JobFailed -> exit 1."""
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

    return wrapper


def _register_subcommands() -> None:
    # Each module adds its commands to `app` (or a sub-Typer) on import. Explicit list, no magic.
    from officina import cli_core  # noqa: F401  run, robots, tasks, bench sim

    for mod in ("cli_kin", "cli_bench", "cli_vision", "cli_ergo", "cli_ros", "cli_compare", "cli_report"):
        try:
            __import__(f"officina.{mod}")
        except ModuleNotFoundError as exc:  # a module not written yet
            if exc.name != f"officina.{mod}":
                raise


def _quiet_pybullet_import() -> None:
    """PyBullet prints its build time on stdout (from C) when imported; send that to stderr so
    that `--json` output stays parseable."""
    import ctypes
    import os

    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        return
    try:
        os.dup2(2, 1)
        import pybullet  # noqa: F401

        ctypes.CDLL(None).fflush(None)
    except Exception:
        pass
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> None:
    _quiet_pybullet_import()
    _register_subcommands()
    try:
        app(args=argv, prog_name="officina", standalone_mode=True)
    except (BadInput, FileNotFoundError) as exc:
        typer.echo(f"officina: error: {exc}", err=True)
        sys.exit(2)
    except JobFailed as exc:
        typer.echo(f"officina: job failed: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    # `python -m officina.cli`: run the imported module's app (the one subcommands register on).
    from officina.cli import main as _main

    _main()
