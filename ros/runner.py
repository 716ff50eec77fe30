"""The one `main` of officina's nodes: `run_node` (rclpy.init, build, spin, clean stop, exit code)."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable

from officina.ros.latency import make_executor, spin_forever
from officina.ros.params import refuse_undeclared

__all__ = ["run_node", "ros_env_defaults", "INTERRUPTED"]

INTERRUPTED = 130  # exit code of a job stopped before its end (Ctrl-C, SIGTERM), as a shell reports SIGINT


def ros_env_defaults() -> None:
    """Loopback-only discovery unless the user chose otherwise (lab machines set their own)."""
    if "ROS_AUTOMATIC_DISCOVERY_RANGE" not in os.environ and "ROS_LOCALHOST_ONLY" not in os.environ:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


class _StopRequest:
    """SIGINT and SIGTERM as a request to stop, for a node that serves: the handler only sets
    ``requested``; the spin loop ends between two callbacks, then the node is destroyed, then its
    context is shut down. rclpy's own handlers shut the context down at once, from another thread,
    while a callback may be running: a timer that publishes (a sim period) then fails on a context
    already gone, and the EventsExecutor logs that as FATAL with its traceback."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._old: dict = {}

    def __call__(self) -> bool:
        return self.requested

    def _on_signal(self, signum, frame) -> None:
        self.requested = True

    def install(self) -> None:
        for s in self.SIGNALS:
            self._old[s] = signal.signal(s, self._on_signal)

    def restore(self) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()


def _init(argv: list[str] | None, signal_handlers: bool = True) -> None:
    """``rclpy.init`` (with rclpy's SIGINT and SIGTERM handlers, or none); ROS arguments or
    environment it cannot parse (``-p 'a:=[0, 0.5]'``, a missing
    ``--params-file``, ``ROS_DOMAIN_ID=abc``) are BadInput in one line, without rcl's source
    locations."""
    import re

    import rclpy
    import rclpy.logging as rlog
    from rclpy._rclpy_pybind11 import RCLError
    from rclpy.signals import SignalHandlerOptions

    from officina.errors import BadInput

    before = rlog.get_logger_level("rcl")
    rlog.set_logger_level("rcl", rlog.LoggingSeverity.FATAL)  # rcl's own line about the failure
    try:
        rclpy.init(args=argv, signal_handler_options=None if signal_handlers else SignalHandlerOptions.NO)
    except RCLError as exc:
        rlog.set_logger_level("rcl", before)
        why = re.sub(r",? at /\S+:\d+", "", str(exc)).removeprefix("failed to initialize rcl: ")
        raise BadInput(f"ROS arguments: {' '.join(why.split())}") from None
    if rlog.get_logger_level("rcl") == rlog.LoggingSeverity.FATAL:  # not set by --log-level
        rlog.set_logger_level("rcl", before)


def run_node(make_node: Callable[[list[str]], Any], argv: list[str] | None = None,
             spin: Callable[[Any, Any], int | None] | None = None, *, interrupted: int = 0) -> int:
    """Run one node and return the process's exit code.

    ``rclpy.init(args=argv)``, ``make_node(argv)``, an executor of the node's ``executor_kind``
    attribute (`officina.ros.latency.make_executor`; default ``"single"``), then either spin until
    stopped (a node that serves) or ``spin(node, executor)`` (a job: a task's procedure, a
    recording), whose return value is the exit code (None: 0). ``destroy_node`` and
    ``try_shutdown`` always run. A parameter given to the node that it did not declare is bad
    input (`officina.ros.params.refuse_undeclared`).

    Stopped from outside (Ctrl-C, SIGTERM, rclpy.shutdown): returns ``interrupted`` (0 for a node
    that serves until stopped, `INTERRUPTED` for a job stopped before its end). Any other
    exception propagates (the CLI turns BadInput into exit code 2 and JobFailed into 1). A node
    that serves (in the main thread) takes SIGINT and SIGTERM itself (`_StopRequest`): it stops
    between two callbacks, then the node is destroyed, then the context shut down, in that order.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    ros_env_defaults()
    stop = None
    if spin is None and threading.current_thread() is threading.main_thread():
        stop = _StopRequest()
    _init(argv, signal_handlers=stop is None)
    node = None
    try:
        if stop is not None:
            stop.install()
        node = make_node(argv or [])
        refuse_undeclared(node)
        executor = make_executor(getattr(node, "executor_kind", "single"))
        executor.add_node(node)
        if spin is None:
            spin_forever(executor, stop)
            return 0
        code = spin(node, executor)
        return 0 if code is None else int(code)
    except (KeyboardInterrupt, ExternalShutdownException):
        return interrupted
    except Exception:
        if rclpy.ok():
            raise
        # SIGTERM / Ctrl-C shut the context down between the executor's ok-check and its wait:
        # rclpy raises RCLError ("context is not valid") from the wait set; it is a stop from outside
        return interrupted
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        if stop is not None:
            stop.restore()
