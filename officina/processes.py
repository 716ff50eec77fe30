"""Waiting for a run's helper processes (the state log's writer, the plot process).

`subprocess.Popen.wait` with a timeout polls: it sleeps between checks, up to 50 ms at a time,
so a process that exits while it sleeps is noticed up to 50 ms late. `wait_process` is woken
by the exit itself where the system can say so (Linux: a pidfd becomes readable when the
process exits) and falls back to ``Popen.wait`` elsewhere.
"""

from __future__ import annotations

import os
import select
import subprocess

__all__ = ["wait_process"]


def wait_process(proc: subprocess.Popen, timeout_s: float) -> int:
    """``proc``'s exit code once it has exited; raises `subprocess.TimeoutExpired` after
    ``timeout_s`` (the process is left running: the caller decides what to do with it)."""
    if proc.returncode is None and hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(proc.pid)
        except OSError:  # a kernel without pidfds, or the process is reaped already
            fd = None
        if fd is not None:
            try:
                ready, _, _ = select.select([fd], [], [], timeout_s)
            finally:
                os.close(fd)
            if not ready:
                raise subprocess.TimeoutExpired(proc.args, timeout_s)
    return proc.wait(timeout=timeout_s)
