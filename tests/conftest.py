import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

# Fixtures that start DDS participants or node processes.
_DDS_FIXTURES = {"ctx", "ros", "control_msgs_path"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark every test that talks DDS `dds` (before `-m` selects). `make test` runs the rest of
    the suite on two xdist workers first, then the `dds` tests alone in one process: their
    cross-process timing (a simulated robot paced at real time, a gate's watchdog) then shares
    the machine with nothing else."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if (item.get_closest_marker("ros") or fixtures & _DDS_FIXTURES
                or item.path.name.startswith("test_ros_")):
            item.add_marker(pytest.mark.dds)
    # Modules with the most slow tests first (a stable sort: the order within a module and among
    # modules of the same weight is kept). `make test` runs with xdist's --dist loadscope
    # --no-loadscope-reorder, which hands modules to the workers in this order: the long ones start
    # first and the short ones fill in around them, instead of one long module ending the run alone.
    slow: dict[str, int] = {}
    for item in items:
        slow[item.nodeid.split("::")[0]] = slow.get(item.nodeid.split("::")[0], 0) + bool(
            item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.nodeid.split("::")[0]])


@pytest.fixture(autouse=True)
def _release_ros_domain_ids():
    """Give back the ROS_DOMAIN_IDs a test held (`officina.ros.testing.domain_id_for`) once it and
    its fixtures are done: an autouse fixture is set up before the test's own fixtures, so it is
    torn down after them, when their nodes have stopped."""
    yield
    testing = sys.modules.get("officina.ros.testing")
    if testing is not None:
        testing.release_domain_ids()


@pytest.fixture(scope="session")
def cli():
    """Invoke the officina CLI in-process: cli(args) -> click Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from officina import cli as cli_mod

    cli_mod.register_subcommands()
    runner = CliRunner()

    def invoke(args):
        return runner.invoke(cli_mod.app, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def ctx(request, monkeypatch):
    """A private rclpy Context on the test's own ROS_DOMAIN_ID, loopback discovery only."""
    rclpy = pytest.importorskip("rclpy")
    from officina.ros.testing import domain_id_for

    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    c = rclpy.Context()
    rclpy.init(context=c, domain_id=domain_id_for(request.node.name))
    yield c
    rclpy.try_shutdown(context=c)


@pytest.fixture(scope="session")
def control_msgs_path(tmp_path_factory):
    """A control_msgs interface package built from the rosidl wheels (tests/ros_interfaces), for
    the FollowJointTrajectory tests where the real one is not installable; cached across runs."""
    pytest.importorskip("rclpy")
    from ros_interfaces.build import default_cache_dir, ensure_control_msgs

    return ensure_control_msgs(default_cache_dir(tmp_path_factory))


@pytest.fixture
def ros(request, tmp_path):
    """officina nodes as processes and in-process clients on the test's own ROS_DOMAIN_ID:
    start(args, name) -> NodeProcess (log in tmp_path), client() -> RosClient; all torn down after."""
    pytest.importorskip("rclpy")
    from officina.ros.testing import NodeProcess, RosClient, domain_id_for

    dom = domain_id_for(request.node.name)
    procs, clients = [], []

    class H:
        domain = dom

        @staticmethod
        def start(args, name="node"):
            p = NodeProcess(args, dom, str(tmp_path / f"{name}.log"))
            procs.append(p)
            return p

        @staticmethod
        def client(**kw):
            c = RosClient(dom, **kw)
            clients.append(c)
            return c

    yield H
    for c in clients:
        c.close()
    for p in procs:
        p.stop()
