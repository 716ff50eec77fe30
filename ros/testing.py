"""Helpers for ROS tests and benchmarks: a domain id per test (held while the test runs),
officina nodes as subprocesses on loopback, and an in-process client (private Context, node,
executor driven by spin_once)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from typing import Any, Callable

__all__ = ["domain_id_for", "release_domain_ids", "ros_env", "NodeProcess", "RosClient"]


# test name -> (domain id, the open lock file that holds it)
_claims: dict[str, tuple[int, int]] = {}


def domain_id_for(name: str, lo: int = 60, hi: int = 99) -> int:
    """The ROS_DOMAIN_ID in [lo, hi] that this process holds for a test name, until
    `release_domain_ids`; the same name asks again for the id it holds.

    An id is held by an exclusive lock on a file in the temporary folder, so that test runs on one
    machine at the same time (two checkouts, two CI jobs on one host), whose nodes discover each
    other on loopback, never share a domain. Of the free ids, the one given back longest ago is
    taken (the lock file's time), so that a test does not start on the domain that the test before
    it has just left, where the participants of its stopped nodes can still be announced for a
    while."""
    if name in _claims:
        return _claims[name][0]
    folder = os.path.join(tempfile.gettempdir(), "officina-ros-domains")
    os.makedirs(folder, exist_ok=True)
    n = hi - lo + 1
    start = zlib.crc32(name.encode()) % n  # among ids never used, a spread by name

    def last_used(dom: int) -> float:
        try:
            return os.stat(os.path.join(folder, f"{dom}.lock")).st_mtime
        except FileNotFoundError:
            return 0.0

    taken = {d for d, _ in _claims.values()}
    ids = sorted((lo + (start + k) % n for k in range(n)), key=last_used)
    for dom in ids:
        if dom in taken:
            continue
        path = os.path.join(folder, f"{dom}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:  # another user's lock file: theirs
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _claims[name] = (dom, fd)
        return dom
    raise RuntimeError(f"every ROS_DOMAIN_ID in {lo}-{hi} is held by other test runs on this machine "
                       f"(lock files in {folder})")


def release_domain_ids() -> None:
    """Give back every domain id this process holds (at the end of a test, once its nodes are
    gone), marking the time it was given back."""
    for _, fd in _claims.values():
        try:
            os.utime(fd)
        except OSError:  # not ours to touch: the lock is given back all the same
            pass
        os.close(fd)  # closing the file releases its lock
    _claims.clear()


def ros_env(domain_id: int) -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.pop("ROS_LOCALHOST_ONLY", None)
    env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
    return env


class NodeProcess:
    """`officina ARGS...` in its own process group; `stop()` kills the group (always call it)."""

    def __init__(self, args: list[str], domain_id: int, log_path: str | None = None) -> None:
        self.args = args
        self.log = open(log_path, "w+") if log_path else subprocess.DEVNULL
        code = "import sys; from officina.cli import main; main(sys.argv[1:])"
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], env=ros_env(domain_id),
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        if self.log is subprocess.DEVNULL:
            return ""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, timeout: float = 5.0) -> int | None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout)
        return self.proc.returncode


class RosClient:
    """An rclpy node on a private Context for tests: publishers, subscriptions that collect
    messages, and `wait_for` driving the executor with spin_once."""

    def __init__(self, domain_id: int, name: str = "officina_test_client", use_sim_time: bool = False) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter

        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context,
                                      parameter_overrides=[Parameter("use_sim_time", value=use_sim_time)])
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[Any]] = {}
        self.recv_wall: dict[str, list[float]] = {}

    def collect(self, msg_type, topic: str, qos=None, keep: int = 100000):
        from officina.ros.qos import qos_reliable

        self.received[topic] = []
        self.recv_wall[topic] = []

        def cb(m, topic=topic):
            lst = self.received[topic]
            lst.append(m)
            self.recv_wall[topic].append(time.perf_counter())
            if len(lst) > keep:
                del lst[: len(lst) - keep]
                del self.recv_wall[topic][: len(self.recv_wall[topic]) - keep]

        return self.node.create_subscription(msg_type, topic, cb, qos or qos_reliable(100))

    def last(self, topic: str):
        lst = self.received.get(topic) or []
        return lst[-1] if lst else None

    def publisher(self, msg_type, topic: str, qos=None):
        from officina.ros.qos import qos_reliable

        return self.node.create_publisher(msg_type, topic, qos or qos_reliable(100))

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.01, max(0.0, end - time.monotonic())))

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str = "condition") -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.01)

    def call(self, srv_type, name: str, request, timeout: float = 10.0):
        cli = self.node.create_client(srv_type, name)
        self.wait_for(lambda: cli.service_is_ready(), timeout, f"service {name}")
        fut = cli.call_async(request)
        self.wait_for(fut.done, timeout, f"response of {name}")
        self.node.destroy_client(cli)
        return fut.result()

    def close(self) -> None:
        import rclpy

        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            rclpy.try_shutdown(context=self.context)
