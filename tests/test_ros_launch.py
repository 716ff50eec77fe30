"""Launch files, without `ros2 launch` (ROS 2 `launch` / `launch_ros` are not installable here).

Verified statically, from each file's AST: every Node is in the returned LaunchDescription; its
executable is an officina console script, installed next to the interpreter, whose command exists,
and every option it passes is an option of that command; every LaunchConfiguration is declared in
``ARGS`` and every declared argument is used; a Node uses only ``executable``, ``name``,
``output``, ``arguments`` and ``condition`` (a ``package``, ``namespace``, ``remappings``,
``parameters`` or ``ros_arguments`` fails here until these tests apply it too).

Verified by running them: for every file, every Node it starts with its declared defaults (and,
where a Node's IfCondition defaults to false, also with that argument set true) is started with
the command line `launch_ros` builds: the console script (``<venv>/bin/officina-ros-*``), the
file's arguments with each LaunchConfiguration replaced by its default or override, then
``--ros-args -r __node:=<name>``; an IfCondition is evaluated as `launch` evaluates it (true/1,
false/0, case-insensitive; anything else is an error). Each node is its own process (own process
group, killed at the end), on a ROS_DOMAIN_ID of its own per test, loopback discovery. Checked for
each: it appears in the graph under the file's name, every ``--option value`` whose node has a
parameter of that name arrived as that parameter's value (the task node has none: its arguments
are checked by its behaviour), and the file's topics are reached:

* sim: /joint_states (panda joints, stamps 1/250 s apart), ground truth and the default
  profile's controller state;
* sim_gate_task: the sim publishes /joint_states, the gate /officina/safety_state, the task node
  arms the gate and its commands reach the sim through it, the vision node publishes
  /vision/markers and /vision/objects (world frame) from the sim's camera, and the pick-place task
  completes with every object placed and no refusal (~35 s);
* real_arm, against a sim started separately as the defaults' driver (``officina-ros-sim --profile
  ur --robot ur5e --task pick-place``): the gate has the driver's /joint_states, publishes
  /officina/safety_state disarmed and is matched to the UR controller topics; then with
  ``run_task:=true run_vision:=true``: the task node waits for the operator and nothing is
  forwarded until the test arms the gate, after which its commands are; the vision node subscribes
  the declared camera topics and finds a marker in an image published on them;
* exo_monitor: a posture on the declared joint-states topic comes back as L5/S1 wrench and
  assistive torque.

Not verified: the `launch` package itself (its substitutions, conditions and process management,
``output="screen"``, shutdown), ``ros2 launch`` command-line parsing of ``name:=value``, and the
node start order (`launch` starts them concurrently; here they start in file order within
milliseconds). No file uses namespaces, remappings or parameter files, so none is applied. Real
drivers and cameras (real_arm's camera topics are fed by this test, not by a camera driver).
"""

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from officina.ros.testing import NodeProcess, ros_env

LAUNCH = Path(__file__).resolve().parent.parent / "launch"
FILES = sorted(LAUNCH.glob("*.launch.py"))
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.timeout(60)

_LC = ("LaunchConfiguration", "lc")
_NODE_KWARGS = {"executable", "name", "output", "arguments", "condition"}


def _commands():
    import typer

    from officina import cli

    cli.register_subcommands()
    from officina.cli_ros import ros_app

    group = typer.main.get_group(ros_app)
    return {name: cmd for name, cmd in group.commands.items()}


def _nodes(tree):
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Node":
            kw = {k.arg: k.value for k in call.keywords}
            yield kw


def _declared(tree) -> dict[str, str]:
    """ARGS: name -> default (a dict literal of (default, description))."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ARGS" for t in node.targets):
            return {k: v[0] for k, v in ast.literal_eval(node.value).items()}
    return {}


def _is_lc(e) -> bool:
    return isinstance(e, ast.Call) and getattr(e.func, "id", None) in _LC


def _launched_node_calls(tree) -> list[ast.Call]:
    """Node(...) calls reachable from generate_launch_description's return value (inline, or bound
    to a name that the returned expression uses), in launch order."""
    fn = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "generate_launch_description")
    bound = {}
    for st in ast.walk(fn):
        if isinstance(st, ast.Assign) and isinstance(st.value, ast.Call) and getattr(st.value.func, "id", "") == "Node":
            for t in st.targets:
                bound[t.id] = st.value
    ret = [st for st in ast.walk(fn) if isinstance(st, ast.Return)]
    assert len(ret) == 1
    out = []
    for e in ast.walk(ret[0].value):
        if isinstance(e, ast.Name) and e.id in bound:
            out.append(bound[e.id])
        elif isinstance(e, ast.Call) and getattr(e.func, "id", "") == "Node":
            out.append(e)
    return out


@dataclass
class Launched:
    executable: str
    name: str
    arguments: list[str]  # as the file gives them, LaunchConfigurations resolved

    @property
    def cmd(self) -> list[str]:
        """What launch_ros runs for Node(executable=..., name=..., arguments=[...]) (no package,
        namespace, remappings or parameters): the executable from PATH, the arguments, then
        ``--ros-args -r __node:=<name>``."""
        return [str(BIN / self.executable), *self.arguments, "--ros-args", "-r", f"__node:={self.name}"]


def _condition_true(value: str) -> bool:
    """launch.conditions.evaluate_condition_expression."""
    v = value.lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise ValueError(f"invalid condition expression {value!r}")


def launch_nodes(path: Path, **overrides: str) -> list[Launched]:
    """The nodes `ros2 launch PATH name:=value ...` starts, with their resolved arguments."""
    tree = ast.parse(path.read_text())
    config = _declared(tree)
    assert set(overrides) <= set(config), f"undeclared launch arguments {set(overrides) - set(config)}"
    config.update(overrides)

    def subst(e) -> str:
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            return e.value
        if _is_lc(e) and len(e.args) == 1 and isinstance(e.args[0], ast.Constant):
            return config[e.args[0].value]
        raise AssertionError(f"{path.name}:{e.lineno}: substitution {ast.unparse(e)} not understood by this test")

    out = []
    for call in _launched_node_calls(tree):
        kw = {k.arg: k.value for k in call.keywords}
        assert set(kw) <= _NODE_KWARGS, f"{path.name}: Node keywords {set(kw) - _NODE_KWARGS} not applied by this test"
        cond = kw.get("condition")
        if cond is not None:
            assert isinstance(cond, ast.Call) and getattr(cond.func, "id", "") == "IfCondition", ast.unparse(cond)
            if not _condition_true(subst(cond.args[0])):
                continue
        args = kw.get("arguments")
        assert args is None or isinstance(args, ast.List), ast.unparse(args)
        out.append(Launched(subst(kw["executable"]), subst(kw["name"]),
                            [subst(e) for e in (args.elts if args is not None else [])]))
    return out


# --- static checks ------------------------------------------------------------------------------------
def test_there_are_launch_files_and_no_python_package_named_launch():
    assert {f.name for f in FILES} >= {"sim.launch.py", "sim_gate_task.launch.py", "real_arm.launch.py",
                                         "exo_monitor.launch.py"}
    assert not (LAUNCH / "__init__.py").exists()


def test_real_arm_task_reads_the_arm_the_gate_fronts(cli, monkeypatch):
    """real_arm.launch's task node gets the robot, profile and namespace the gate gets, and with
    `namespace:=left` it reads /left/joint_states, as the gate does (not another arm's, nor none)."""
    import officina.ros.task_node as tn
    from officina.ros.task_node import prepare

    nodes = {n.executable: n for n in launch_nodes(LAUNCH / "real_arm.launch.py", run_task="true",
                                                   namespace="left")}
    gate, task = nodes["officina-ros-gate"].arguments, nodes["officina-ros-task"].arguments
    for opt in ("--robot", "--profile", "--namespace"):
        assert opt in task and task[task.index(opt) + 1] == gate[gate.index(opt) + 1], opt
    runs = []
    monkeypatch.setattr(tn, "main_task", lambda run, argv: runs.append(run) or 0)
    r = cli(["ros", "task", *task])
    assert r.exit_code == 0, r.output
    assert prepare(runs[0]).resolved.joint_states == "/left/joint_states"


@pytest.mark.parametrize("profile, robot", [("ur", "ur5e"), ("fr3", "panda"), ("kuka", "iiwa"), ("ur10e", "ur10e")])
def test_sim_launch_files_take_the_profile_alone(profile, robot):
    """`ros2 launch launch/sim.launch.py profile:=ur` (as `officina ros sim --profile ur`) ran the
    panda model under the UR profile: "ROS profile 'ur' names 6 joints but robot 'panda' has 7"."""
    from officina.robots import load_robot
    from officina.ros.robot_profiles import load_profile, resolve_profile

    for name in ("sim.launch.py", "sim_gate_task.launch.py"):
        for node in launch_nodes(LAUNCH / name, profile=profile):
            a = node.arguments
            if "--robot" in a:
                prof = load_profile(profile)
                spec = load_robot(a[a.index("--robot") + 1] or prof.robot)
                assert resolve_profile(spec, prof).spec.name == robot, (name, node.executable)


@pytest.mark.parametrize("profile, robot", [("ur", "ur5e"), ("fr3", "panda"), ("kuka", "iiwa"), ("ur10e", "ur10e")])
def test_real_arm_launch_takes_the_profile_alone(ctx, profile, robot):
    """`ros2 launch launch/real_arm.launch.py profile:=fr3`: the robot defaulted to ur5e whatever
    the profile, so every profile but ur failed ("names 7 joints but robot 'ur5e' has 6") unless
    robot:= was given too. The gate and the task take the profile's robot."""
    from rclpy.parameter import Parameter

    from officina.ros.gate_node import GateNode
    from officina.ros.task_node import TaskRun, prepare

    nodes = {n.executable: n for n in launch_nodes(LAUNCH / "real_arm.launch.py", profile=profile, run_task="true")}
    gate_args, task_args = nodes["officina-ros-gate"].arguments, nodes["officina-ros-task"].arguments
    value = gate_args[gate_args.index("--robot") + 1]
    node = GateNode(context=ctx, parameter_overrides=[Parameter("profile", value=profile),
                                                      Parameter("robot", value=value)])
    try:
        assert node.resolved.spec.name == robot
    finally:
        node.destroy_node()
    assert prepare(TaskRun("pick-place" if robot != "ur10e" else "palletizing",
                           task_args[task_args.index("--robot") + 1], profile)).resolved.spec.name == robot


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_launch_file_names_real_commands_and_options(path):
    tree = ast.parse(path.read_text())
    cmds = _commands()
    declared = set(_declared(tree))
    used = {c.args[0].value for c in ast.walk(tree) if _is_lc(c) and c.args}
    assert used <= declared, f"undeclared launch arguments {used - declared}"
    assert declared <= used, f"declared launch arguments that change nothing: {declared - used}"
    calls = _launched_node_calls(tree)
    assert len(calls) == len(list(_nodes(tree))), "a Node is defined but not in the LaunchDescription"
    n = 0
    for kw in _nodes(tree):
        n += 1
        assert "package" not in kw, "officina nodes are console scripts: Node(executable=...) without package"
        assert set(kw) <= _NODE_KWARGS, f"Node keywords {set(kw) - _NODE_KWARGS}"
        exe = kw["executable"].value
        assert exe.startswith("officina-ros-")
        assert (BIN / exe).is_file(), f"console script {exe} not installed next to {sys.executable}"
        cmd = cmds[exe.removeprefix("officina-ros-")]
        opts = {o for p in cmd.params if getattr(p, "param_type_name", "") == "option" for o in p.opts}
        args = kw.get("arguments")
        for el in (args.elts if args is not None else []):
            if isinstance(el, ast.Constant) and str(el.value).startswith("--"):
                assert el.value in opts, f"{exe}: unknown option {el.value}"
    assert n >= 1


def test_console_script_entry_functions_exist():
    from officina import cli_ros

    for name in ("sim_main", "gate_main", "task_main", "vision_main", "exo_main", "record_main"):
        assert callable(getattr(cli_ros, name))


def test_launch_nodes_resolves_defaults_overrides_and_conditions():
    real = LAUNCH / "real_arm.launch.py"
    assert [n.executable for n in launch_nodes(real)] == ["officina-ros-gate"]
    nodes = launch_nodes(real, run_task="True", run_vision="1", robot="ur10e")
    assert [n.executable for n in nodes] == ["officina-ros-gate", "officina-ros-task", "officina-ros-vision"]
    assert nodes[1].arguments[:3] == ["pick-place", "--robot", "ur10e"]
    assert nodes[0].cmd[-3:] == ["--ros-args", "-r", "__node:=officina_gate"]
    assert nodes[0].arguments[nodes[0].arguments.index("--namespace") + 1] == ""  # launch keeps empty args
    with pytest.raises(ValueError):
        launch_nodes(real, run_task="yes")
    with pytest.raises(AssertionError):
        launch_nodes(real, no_such_argument="1")


# --- running them -------------------------------------------------------------------------------------
class LaunchedProcess(NodeProcess):
    """A command (not `officina ...`) started as NodeProcess starts one: own process group, the
    domain's ros_env, output to a log; alive/output/stop as NodeProcess."""

    def __init__(self, cmd: list[str], domain_id: int, log_path: Path) -> None:
        self.args = self.cmd = cmd
        self.log = open(log_path, "w+")
        self.proc = subprocess.Popen(cmd, env=ros_env(domain_id), stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)


class Bench:
    """Processes and one RosClient on the test's own domain; everything is stopped by the fixture."""

    def __init__(self, domain_id: int, tmp_path: Path) -> None:
        self.dom, self.tmp = domain_id, tmp_path
        self.procs: list[tuple[str, LaunchedProcess]] = []
        self.may_exit: list[LaunchedProcess] = []  # not expected alive any more
        self._c = None

    @property
    def c(self):
        if self._c is None:
            from officina.ros.testing import RosClient

            self._c = RosClient(self.dom)
        return self._c

    def start(self, cmd: list[str], tag: str) -> LaunchedProcess:
        p = LaunchedProcess(cmd, self.dom, self.tmp / f"{tag}-{len(self.procs)}.log")
        self.procs.append((tag, p))
        return p

    def launch(self, path: Path, **overrides: str) -> dict[str, tuple[Launched, LaunchedProcess]]:
        return {n.name: (n, self.start(n.cmd, n.name)) for n in launch_nodes(path, **overrides)}

    def retire(self, p: LaunchedProcess) -> None:
        """Stop p; from now on it is not expected to be alive."""
        self.may_exit.append(p)
        p.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {tag} ({' '.join(p.cmd[1:])}) rc={p.proc.poll()}\n{p.output()[-2500:]}"
                         for tag, p in self.procs)

    def wait(self, pred, timeout: float, what: str) -> None:
        """Spin until pred(); fails with every log if it times out or a process exits meanwhile."""
        def exited():
            return [tag for tag, p in self.procs if p not in self.may_exit and not p.alive()]

        try:
            self.c.wait_for(lambda: pred() or exited(), timeout, what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None
        assert not exited(), f"{exited()} exited while waiting for {what}\n{self.logs()}"

    def close(self) -> None:
        try:
            if self._c is not None:
                self._c.close()
        finally:
            for _, p in self.procs:
                p.stop()


@pytest.fixture
def bench(request, tmp_path):
    pytest.importorskip("rclpy")
    from officina.ros.testing import domain_id_for

    b = Bench(domain_id_for(request.node.name), tmp_path)
    try:
        yield b
    finally:
        b.close()


def _wait_nodes(b: Bench, names, timeout=30.0) -> None:
    want = {"/" + n for n in names}

    def ok():
        have = {(ns.rstrip("/") + "/" + n) for n, ns in b.c.node.get_node_names_and_namespaces()}
        return want <= have

    b.wait(ok, timeout, f"nodes {sorted(want)} in the graph")


def _flags(executable: str) -> set[str]:
    cmd = _commands()[executable.removeprefix("officina-ros-")]
    return {o for p in cmd.params if getattr(p, "is_flag", False) for o in p.opts}


def _check_parameters(b: Bench, node: Launched) -> int:
    """Every ``--option value`` the file passes whose node declares a parameter of that name
    (dashes -> underscores) arrived as that parameter's value. Returns how many were checked."""
    from rcl_interfaces.msg import ParameterType
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    flags, pairs, a = _flags(node.executable), {}, node.arguments
    i = 0
    while i < len(a):
        if a[i].startswith("--") and a[i] not in flags:
            pairs[a[i][2:].replace("-", "_")] = a[i + 1]
            i += 2
        else:
            i += 1
    n = 0
    for name in sorted(pairs):
        # one at a time: rclpy answers a request naming a declared parameter without a value (the
        # gate's workspace box, given as '') with no values at all
        res = b.c.call(GetParameters, f"/{node.name}/get_parameters", GetParameters.Request(names=[name]), 15.0)
        if not res.values or res.values[0].type == ParameterType.PARAMETER_NOT_SET:
            continue
        v = res.values[0]
        got, given = parameter_value_to_python(v), pairs[name]
        if isinstance(got, float):
            assert got == pytest.approx(float(given)), (node.name, name, got, given)
        elif isinstance(got, bool):
            assert got == _condition_true(given), (node.name, name, got, given)
        elif isinstance(got, int):
            assert got == int(given), (node.name, name, got, given)
        else:
            assert got == given, (node.name, name, got, given)
        n += 1
    return n


def _safety(msg) -> dict[str, str]:
    """The key/values of a DiagnosticStatus ({} for None)."""
    return {kv.key: kv.value for kv in msg.values} if msg is not None else {}


@pytest.mark.ros
@pytest.mark.timeout(90)
def test_sim_launch_defaults_start_and_publish(bench):
    """sim.launch.py with its defaults: the sim (panda, default profile, pick-place scene, realtime
    at 250 Hz) publishes /joint_states, ground truth and its controller state."""
    from diagnostic_msgs.msg import DiagnosticStatus
    from geometry_msgs.msg import PoseArray
    from sensor_msgs.msg import JointState

    from officina.ros.convert import time_to_s
    from officina.ros.qos import qos_latched
    from officina.ros.sim_node import CONTROLLER_STATE_TOPIC, GROUND_TRUTH_TOPIC

    b = bench
    nodes = b.launch(LAUNCH / "sim.launch.py")
    assert list(nodes) == ["officina_sim"]
    c = b.c
    c.collect(JointState, "/joint_states", keep=1000)
    c.collect(PoseArray, GROUND_TRUTH_TOPIC)
    c.collect(DiagnosticStatus, CONTROLLER_STATE_TOPIC, qos_latched())
    b.wait(lambda: len(c.received["/joint_states"]) >= 100 and c.received[GROUND_TRUTH_TOPIC]
           and c.received[CONTROLLER_STATE_TOPIC], 45, "/joint_states, ground truth and controller state")
    _wait_nodes(b, nodes)
    assert _check_parameters(b, nodes["officina_sim"][0]) == 6  # robot profile pacing rate_hz task seed
    js = c.received["/joint_states"]
    assert list(js[-1].name[:7]) == [f"panda_joint{i}" for i in range(1, 8)]
    dt = [time_to_s(m2.header.stamp) - time_to_s(m1.header.stamp) for m1, m2 in zip(js[-100:-1], js[-99:])]
    assert sorted(dt)[len(dt) // 2] == pytest.approx(1 / 250, abs=1e-6)  # the rate_hz default
    assert len(c.received[GROUND_TRUTH_TOPIC][-1].poses) >= 1  # the pick-place scene's objects
    assert c.received[CONTROLLER_STATE_TOPIC][-1].name == "joint_trajectory_controller"  # default profile


@pytest.mark.ros
@pytest.mark.timeout(240)
def test_sim_gate_task_launch_defaults_run_the_task_to_completion(bench):
    """sim_gate_task.launch.py with its defaults: sim, gate, task (arms the gate) and vision; the
    task's commands go through the gate to the sim, vision publishes from the sim's camera, and the
    task completes (every object placed; ~35 s on an idle 2-core machine)."""
    import json

    from diagnostic_msgs.msg import DiagnosticStatus
    from geometry_msgs.msg import PoseArray
    from sensor_msgs.msg import JointState

    from officina.ros.qos import qos_latched
    from officina.ros.gate_node import SAFETY_STATE_TOPIC
    from officina.ros.sim_node import CONTROLLER_STATE_TOPIC
    from officina.tasks.pick_place import PickPlaceParams

    b = bench
    nodes = b.launch(LAUNCH / "sim_gate_task.launch.py")
    assert list(nodes) == ["officina_sim", "officina_gate", "officina_task", "officina_vision"]
    task = nodes["officina_task"]
    assert task[0].arguments[0] == "pick-place" and "--arm" in task[0].arguments
    c = b.c
    c.collect(JointState, "/joint_states", keep=10)
    c.collect(DiagnosticStatus, SAFETY_STATE_TOPIC, qos_latched(), keep=10)
    c.collect(DiagnosticStatus, CONTROLLER_STATE_TOPIC, qos_latched(), keep=10)
    c.collect(PoseArray, "/vision/markers", keep=10)
    c.collect(PoseArray, "/vision/objects", keep=10)

    def gate_forwards():
        s = _safety(c.last(SAFETY_STATE_TOPIC))
        return s.get("armed") == "true" and int(s["forwarded_commands"]) > 0

    try:
        b.wait(lambda: c.received["/joint_states"] and gate_forwards(), 60,
               "/joint_states and the task's commands forwarded by the armed gate")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{task[1].output()}") from None
    b.wait(lambda: _safety(c.last(CONTROLLER_STATE_TOPIC)).get("source") == "commands", 15,
           "the sim executing the gate's forward commands")
    b.wait(lambda: c.received["/vision/markers"] and c.received["/vision/objects"], 45,
           "/vision/markers and /vision/objects from the sim's camera")
    assert c.received["/vision/objects"][-1].header.frame_id == "world"
    _wait_nodes(b, nodes)
    assert _check_parameters(b, nodes["officina_sim"][0]) == 5  # robot profile task seed rate_hz
    assert _check_parameters(b, nodes["officina_gate"][0]) == 3  # robot profile rate_hz
    assert _check_parameters(b, nodes["officina_vision"][0]) == 2  # marker_length_m table_height_m

    b.may_exit.append(task[1])
    b.wait(lambda: not task[1].alive(), 180, "the task node to finish")
    out = task[1].output()
    assert task[1].proc.returncode == 0, b.logs()
    result = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
    assert result["completed"], result["message"]
    assert result["details"]["placements"] == PickPlaceParams().n_objects
    assert result["gate_refused"] == 0
    assert _safety(c.last(SAFETY_STATE_TOPIC))["armed"] == "true"


@pytest.mark.ros
@pytest.mark.timeout(150)
def test_real_arm_launch_against_a_ur_sim(bench):
    """real_arm.launch.py against the sim standing in for the defaults' driver (ur profile, ur5e):
    defaults (gate only), then run_task:=true run_vision:=true (gate, task, vision)."""
    import numpy as np
    from diagnostic_msgs.msg import DiagnosticStatus
    from geometry_msgs.msg import PoseArray
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import SetBool

    from officina.interfaces import CameraIntrinsics
    from officina.ros.convert import camera_info_msg, image_msg
    from officina.ros.qos import qos_latched, qos_sensor
    from officina.ros.gate_node import ARM_SERVICE, COMMANDS_TOPIC, SAFETY_STATE_TOPIC
    from officina.vision.synthetic import marker_texture, render_plane
    from officina.vision.transforms import make_transform, rotvec_to_matrix

    path = LAUNCH / "real_arm.launch.py"
    defaults = _declared(ast.parse(path.read_text()))
    assert (defaults["profile"], defaults["robot"], defaults["task"]) == ("ur", "", "pick-place")  # ur5e
    b = bench
    b.start([str(BIN / "officina-ros-sim"), "--profile", defaults["profile"], "--robot", defaults["robot"],
             "--task", defaults["task"]], "driver-sim")
    c = b.c
    c.collect(DiagnosticStatus, SAFETY_STATE_TOPIC, qos_latched(), keep=10)
    c.collect(Float64MultiArray, COMMANDS_TOPIC, keep=10)

    def state_seen():  # the gate has a joint state from the driver (stamp set) and is disarmed
        s = _safety(c.last(SAFETY_STATE_TOPIC))
        return s.get("stamp", "") != "" and s["armed"] == "false"

    # 1. defaults: the gate alone
    nodes = b.launch(path)
    assert list(nodes) == ["officina_gate"]
    b.wait(state_seen, 60, "the gate's safety_state with the driver's /joint_states")
    _wait_nodes(b, nodes)
    gate = nodes["officina_gate"][0]
    assert _check_parameters(b, gate) == 7  # robot profile controller namespace rate_hz v/a scales
    for t in ("/scaled_joint_trajectory_controller/joint_trajectory", "/forward_position_controller/commands"):
        b.wait(lambda t=t: c.node.count_publishers(t) >= 1 and c.node.count_subscribers(t) >= 1, 10,
               f"gate -> {t} -> sim")
    b.retire(nodes["officina_gate"][1])
    b.wait(lambda: c.node.count_publishers(SAFETY_STATE_TOPIC) == 0, 10, "the first gate to leave")
    c.received[SAFETY_STATE_TOPIC].clear()

    # 2. run_task:=true run_vision:=true
    nodes = b.launch(path, run_task="true", run_vision="true")
    assert list(nodes) == ["officina_gate", "officina_task", "officina_vision"]
    task_p = nodes["officina_task"][1]
    b.wait(lambda: "waiting for the gate to be armed" in task_p.output(), 60, "the task node to wait for arming")
    b.wait(state_seen, 30, "the second gate's safety_state")
    vis = nodes["officina_vision"][0]
    cam = {k: vis.arguments[vis.arguments.index(f"--{k.replace('_', '-')}") + 1]
           for k in ("image_topic", "camera_info_topic", "depth_topic")}
    assert cam["image_topic"] == defaults["image_topic"] == "/camera/color/image_raw"
    for t in cam.values():
        b.wait(lambda t=t: c.node.count_subscribers(t) >= 1, 30, f"the vision node subscribing {t}")
    _wait_nodes(b, nodes)
    assert _check_parameters(b, vis) == 4  # image/camera_info/depth topics, marker_length_m
    c.spin_for(1.0)
    assert not c.received[COMMANDS_TOPIC], "the task node commanded before the gate was armed"
    assert _safety(c.last(SAFETY_STATE_TOPIC))["forwarded_commands"] == "0"

    # the vision node answers a marker image (declared length 0.05 m) on the declared topics
    intr = CameraIntrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)
    tex, A = marker_texture("DICT_4X4_50", 3, float(defaults["marker_length_m"]))
    cTm = make_transform(rotvec_to_matrix([np.pi, 0.0, 0.0]), [0.0, 0.0, 0.4])
    gray = render_plane(tex, A, cTm, intr, background=160)
    c.collect(PoseArray, "/vision/markers", keep=10)
    pub_img = c.publisher(Image, cam["image_topic"], qos_sensor())
    pub_info = c.publisher(CameraInfo, cam["camera_info_topic"], qos_sensor())

    def marker_seen():
        pub_info.publish(camera_info_msg(intr, 0.0, "camera_color_optical_frame"))
        pub_img.publish(image_msg(gray, 0.0, "camera_color_optical_frame", "mono8"))
        c.spin_for(0.1)
        m = c.last("/vision/markers")
        return m is not None and len(m.poses) == 1

    b.wait(marker_seen, 30, "the vision node's /vision/markers from the declared camera topics")
    assert c.last("/vision/markers").poses[0].position.z == pytest.approx(0.4, abs=0.01)

    # the operator arms: the task's commands now go through
    res = c.call(SetBool, ARM_SERVICE, SetBool.Request(data=True))
    assert res.success, res.message
    b.wait(lambda: c.received[COMMANDS_TOPIC]
           and int(_safety(c.last(SAFETY_STATE_TOPIC))["forwarded_commands"]) > 0, 30,
           "the task's commands forwarded after arming")


@pytest.mark.ros
@pytest.mark.timeout(90)
def test_exo_monitor_launch_defaults_start_and_reach_their_topics(bench):
    """The exo monitor as exo_monitor.launch.py starts it (defaults): a posture on its input topic
    comes back as L5/S1 wrench and assistive torque."""
    from geometry_msgs.msg import WrenchStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from officina.exoskeleton.model import JOINTS

    b = bench
    nodes = b.launch(LAUNCH / "exo_monitor.launch.py")
    assert list(nodes) == ["officina_exo"]
    exo = nodes["officina_exo"][0]
    topic = exo.arguments[exo.arguments.index("--joint-states-topic") + 1]
    c = b.c
    c.collect(WrenchStamped, "/exo/l5s1/wrench")
    c.collect(Float64MultiArray, "/exo/assist_torque")
    pub = c.publisher(JointState, topic)
    b.wait(lambda: pub.get_subscription_count() > 0, 30, f"the exo node subscribing {topic}")
    m = JointState(name=list(JOINTS), position=[0.0, 0.2, 1.0, 0.5, 1.5, 0.0])

    def answered():
        pub.publish(m)
        c.spin_for(0.1)
        return c.received["/exo/l5s1/wrench"] and c.received["/exo/assist_torque"]

    b.wait(answered, 20, "/exo/l5s1/wrench and /exo/assist_torque")
    assert -c.received["/exo/l5s1/wrench"][-1].wrench.torque.y > 50.0  # a stooped trunk loads L5/S1
    _wait_nodes(b, nodes)
    assert _check_parameters(b, exo) == 7
