import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def cli():
    """Invoke the officina CLI in-process: cli(args) -> click Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from officina import cli as cli_mod

    cli_mod._register_subcommands()
    runner = CliRunner()

    def invoke(args):
        return runner.invoke(cli_mod.app, [str(a) for a in args], catch_exceptions=False)

    return invoke
