"""Errors the CLI turns into one clear line on stderr and an exit code."""

from __future__ import annotations


class BadInput(ValueError):
    """Invalid user input (unknown name, malformed value, missing file): exit code 2."""


class JobFailed(RuntimeError):
    """The job ran but did not succeed: exit code 1."""
