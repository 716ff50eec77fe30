"""PyBullet, imported with its build banner on stderr.

PyBullet prints a build banner on the C-level stdout when it is first imported. Every module of
officina that needs PyBullet imports it from here (``from officina.sim.bullet import pybullet as
p``), so the banner goes to stderr: a program that simulates keeps its stdout for its own output
(``officina run --json``), and a command that does not simulate never loads PyBullet at all.
"""

import os
import sys


def _flush_c_stdout() -> None:
    """Write out C's buffered stdout (the banner) while fd 1 still points at stderr."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library handle on this platform
        pass


def _import_with_stdout_on_stderr():
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no file descriptor behind stdout
        import pybullet

        return pybullet
    try:
        os.dup2(2, 1)
        import pybullet

        _flush_c_stdout()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return pybullet


pybullet = _import_with_stdout_on_stderr()

__all__ = ["pybullet"]
