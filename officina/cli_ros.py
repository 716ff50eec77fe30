"""`officina ros ...`: the ROS 2 nodes (sim, gate, task, vision, exo, record) and profiles.

Each command builds its node's parameter overrides from the typed options and hands any ROS
arguments (``--ros-args ...``, e.g. from ``ros2 launch``) to ``rclpy.init``. Console-script entry
points (``officina-ros-sim`` ...) call the same commands, so launch files can start them with
``launch_ros.actions.Node(executable=...)``.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from officina.cli import handle_errors

ROS_HELP = """ROS 2 nodes: PyBullet fake hardware (sim), the safety gate, task/vision/exo nodes,
recording. Each also runs as a console script (officina-ros-sim, officina-ros-gate, ...) for
launch files; ROS arguments go after --ros-args.

Examples:

```
officina ros sim --robot panda --pacing fast
officina ros gate --robot panda
officina ros task pick-place --robot panda --arm
```
"""

ros_app = typer.Typer(
    help=ROS_HELP,
    no_args_is_help=True,
)

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def _ros_args(ctx: typer.Context) -> list[str]:
    """The ROS part of the command line (``--ros-args ...``), for rclpy.init."""
    from officina.errors import BadInput

    extra = [a for a in ctx.args if a != "--"]
    if extra and extra[0] != "--ros-args":
        raise BadInput(f"unexpected arguments {extra}; ROS arguments go after --ros-args")
    return ["officina"] + extra


def _params(ctx: typer.Context | None = None, **kw):
    """Parameter overrides for the options given on the command line (explicit overrides win over
    ``--ros-args -p``, so defaults are left to the node's declarations)."""
    from rclpy.parameter import Parameter

    def given(name: str) -> bool:
        if ctx is None:
            return True
        opt = {"task_set": "sets"}.get(name, name)
        src = ctx.get_parameter_source(opt)
        # by name: typer may carry its own copy of click, whose ParameterSource is another enum
        return src is None or getattr(src, "name", str(src)) not in ("DEFAULT", "DEFAULT_MAP")

    return [Parameter(k, value=v) for k, v in kw.items() if v is not None and given(k)]


def _choice(option: str, value: str, choices) -> None:
    from officina.errors import BadInput

    if value not in choices:
        raise BadInput(f"{option} {value!r}: expected one of {', '.join(choices)}")


def _xyz(option: str, text: str) -> list[float] | None:
    """``"x,y,z"`` (or ``"[x, y, z]"``, spaces allowed) as three floats; None for ``""``."""
    from officina.errors import BadInput

    parts = text.strip().strip("[]").replace(",", " ").split()
    if not parts:
        return None
    try:
        xyz = [float(v) for v in parts]
    except ValueError:
        xyz = []
    if len(xyz) != 3:
        raise BadInput(f"{option} {text!r}: expected three numbers x,y,z [m]")
    return xyz


def _run(make, argv: list[str]) -> None:
    from officina.ros.runner import run_node

    code = run_node(make, argv)
    if code:
        raise typer.Exit(code)


@ros_app.command("profiles")
def profiles_cmd() -> None:
    """List the ROS profiles (controller, joint names of real drivers).

    Example:

    ```
    officina ros profiles
    ```
    """
    from officina.ros.robot_profiles import builtin_profiles, load_profile

    for name in builtin_profiles():
        p = load_profile(name)
        typer.echo(f"{name:8s} {p.controller:36s} robot {p.robot:7s} {p.description}")


@ros_app.command("sim", context_settings=_EXTRA)
@handle_errors
def sim_cmd(
    ctx: typer.Context,
    robot: str = typer.Option("", "--robot", help="officina robot (default: the profile's)"),
    profile: str = typer.Option("default", "--profile", help="ROS profile (see `officina ros profiles`)"),
    pacing: str = typer.Option("realtime", "--pacing", help="realtime | fast | lockstep"),
    rate_hz: float = typer.Option(250.0, "--rate-hz", help="control rate and /joint_states rate [Hz]"),
    task: str = typer.Option(
        "pick-place", "--task",
        help="task whose cell to build: a name, an entry point or path/to/module.py:Class ('none': robot only)"),
    seed: int = typer.Option(0, "--seed", help="seed of the scene"),
    sets: list[str] = typer.Option(
        [], "--set",
        help="KEY=VALUE as for `officina run` (repeatable): params.NAME, seed, sim.gravity, sim.solver_iterations"),
    controller: str = typer.Option("", "--controller", help="trajectory controller name (default: profile's)"),
    lockstep_periods: int = typer.Option(1, "--lockstep-periods", help="periods per /officina/sim/step call"),
    command_sync: bool = typer.Option(
        False, "--command-sync",
        help="realtime pacing: each forward command runs its control period at once and publishes the state "
             "(a bus-synchronous drive; lowest command-to-state latency). Default: ros2_control's fixed period"),
    executor: str = typer.Option(
        "events", "--executor",
        help="events: rclpy's EventsExecutor (dispatch in C++, faster per message; where rclpy has it, "
             "Kilted, Jazzy from rclpy 7.1.4; else single) | single: SingleThreadedExecutor"),
    gui: bool = typer.Option(False, "--gui", help="PyBullet GUI"),
) -> None:
    """PyBullet fake hardware that looks like a ros2_control robot.

    It serves joint_trajectory_controller, a forward position controller and a gripper,
    /joint_states, a camera and ground truth; the FollowJointTrajectory action and
    controller_state where control_msgs is installed.

    Examples:

    ```
    officina ros sim --robot panda --task pick-place --seed 0
    officina ros sim --profile ur --robot ur5e --pacing fast
    ```
    """
    from officina.ros.latency import EXECUTORS
    from officina.ros.pacing import PACINGS

    _choice("--pacing", pacing, PACINGS)
    _choice("--executor", executor, EXECUTORS)
    argv = _ros_args(ctx)
    overrides = _params(ctx, robot=robot, profile=profile, pacing=pacing, rate_hz=float(rate_hz), task=task,
                        seed=int(seed), controller=controller, lockstep_periods=int(lockstep_periods),
                        gui=bool(gui), command_sync=bool(command_sync), executor=executor,
                        task_set=list(sets) if sets else None)

    def make(_argv):
        import gc

        from officina.ros.sim_node import SimNode

        node = SimNode(parameter_overrides=overrides)
        gc.freeze()  # the process's objects so far live as long as the node: keep them out of GC scans
        return node

    _run(make, argv)


@ros_app.command("gate", context_settings=_EXTRA)
@handle_errors
def gate_cmd(
    ctx: typer.Context,
    robot: str = typer.Option("", "--robot", help="officina robot (limits, model; default: profile's)"),
    profile: str = typer.Option("default", "--profile", help="ROS profile of the arm behind the gate"),
    controller: str = typer.Option("", "--controller", help="trajectory controller (default: profile's)"),
    namespace: Optional[str] = typer.Option(None, "--namespace", help="namespace of the arm's topics"),
    rate_hz: float = typer.Option(250.0, "--rate-hz", help="command stream rate [Hz]"),
    velocity_scale: float = typer.Option(1.0, "--velocity-scale", help="scale of the velocity limits (0, 1]"),
    acceleration_scale: float = typer.Option(1.0, "--acceleration-scale", help="scale of acceleration limits"),
    watchdog_periods: int = typer.Option(25, "--watchdog-periods", help="periods without command -> hold"),
    workspace_min: str = typer.Option(
        "", "--workspace-min", help="tcp box: its lower corner 'x,y,z' [m, base frame] (with --workspace-max; "
                                   "'' = no box)"),
    workspace_max: str = typer.Option("", "--workspace-max", help="tcp box: its upper corner 'x,y,z' [m, base frame]"),
    executor: str = typer.Option(
        "single", "--executor",
        help="single: SingleThreadedExecutor | events: rclpy's EventsExecutor (dispatch in C++; "
             "experimental in rclpy, so not the gate's default; where rclpy has it, else single). "
             "Commands at 1 kHz: single does not keep up on a loaded 2-core machine (docs/ros.md)"),
) -> None:
    """The safety gate: /officina/* commands -> safety filter -> the arm's controller.

    Nothing passes before arming (/officina/arm). Where control_msgs is installed it also relays
    /officina/follow_joint_trajectory goals to the controller's action.

    /officina/estop (std_msgs/Bool, reliable or best effort): a true engages at once; a false
    releases once every reader that took a true has taken a false: a best-effort false does not
    release an e-stop a reliable writer engaged (publish the false reliably, as ros2 topic pub
    does).

    Examples:

    ```
    officina ros gate --robot panda
    officina ros gate --profile ur --robot ur5e --velocity-scale 0.25 \\
        --acceleration-scale 0.25 \\
        --workspace-min 0.2,-0.6,0.0 --workspace-max 0.8,0.6,0.6
    ```
    """
    from officina.ros.latency import EXECUTORS

    _choice("--executor", executor, EXECUTORS)
    argv = _ros_args(ctx)
    overrides = _params(ctx, robot=robot, profile=profile, controller=controller, namespace=namespace,
                        rate_hz=float(rate_hz), velocity_scale=float(velocity_scale),
                        acceleration_scale=float(acceleration_scale), watchdog_periods=int(watchdog_periods),
                        workspace_min=_xyz("--workspace-min", workspace_min),
                        workspace_max=_xyz("--workspace-max", workspace_max), executor=executor)

    def make(_argv):
        from officina.ros.gate_node import GateNode

        return GateNode(parameter_overrides=overrides)

    _run(make, argv)


def _entry(sub: str) -> None:
    from rclpy.utilities import remove_ros_args

    from officina.cli import main

    args = sys.argv[1:]
    user = remove_ros_args(["x"] + args)[1:]
    ros = args[args.index("--ros-args"):] if "--ros-args" in args else []
    main(["ros", sub, *user, *(["--", *ros] if ros else [])])


def sim_main() -> None:
    """Console script `officina-ros-sim`."""
    _entry("sim")


def gate_main() -> None:
    """Console script `officina-ros-gate`."""
    _entry("gate")


TASK_HELP = """Run a task's procedure through the gate against the arm behind it.

Nothing moves until the gate is armed (--arm: by the task node, for a sim).
The outcome is printed as one JSON line.

Examples:

```
officina ros task pick-place --robot panda --arm
officina ros task labs/my_task.py:MyTask --set params.hold_s=0.5 --arm
officina ros task pick-place --profile ur --robot ur5e \\
    --camera-pose-file handeye.yaml
```

Exit codes: 0 the procedure completed, 1 it did not, 2 bad input,
130 stopped (Ctrl-C).
"""


@ros_app.command("task", context_settings=_EXTRA, help=TASK_HELP)
@handle_errors
def task_cmd(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task: a name (pick-place), an entry point or path/to/module.py:Class"),
    robot: str = typer.Option("", "--robot", help="officina robot (model and limits; default: profile's)"),
    profile: str = typer.Option("default", "--profile", help="ROS profile of the arm"),
    namespace: str = typer.Option(
        "", "--namespace",
        help="namespace of the arm's topics (/joint_states, the camera's, the wrench; default: the profile's), "
             "as the gate's --namespace"),
    seed: int = typer.Option(0, "--seed", help="seed of the procedure's random choices"),
    sets: list[str] = typer.Option([], "--set", help="KEY=VALUE as for `officina run` (repeatable): params.NAME, seed"),
    rate_hz: float = typer.Option(250.0, "--rate-hz", help="control rate of the procedure [Hz]"),
    arm: bool = typer.Option(False, "--arm", help="arm the gate itself (sim/CI); default: wait for the operator"),
    image_topic: str = typer.Option("", "--image-topic", help="camera image (default: the profile's CAMERA/image_raw)"),
    depth_topic: str = typer.Option("", "--depth-topic", help="depth image aligned to it, metres or mm (default: profile's)"),
    camera_info_topic: str = typer.Option("", "--camera-info-topic", help="camera intrinsics (default: profile's)"),
    camera_pose_topic: str = typer.Option(
        "", "--camera-pose-topic",
        help="latched geometry_msgs/PoseStamped of the camera in the robot base frame, e.g. from hand-eye "
             "calibration (default: the profile's CAMERA/pose, which the sim publishes)"),
    camera_pose_file: str = typer.Option(
        "", "--camera-pose-file",
        help="a fixed camera's pose from `officina vision handeye --mode eye-to-hand --out FILE` (its "
             "base_T_camera), instead of the pose topic"),
) -> None:
    from officina.ros.task_node import TaskRun, main_task

    argv = _ros_args(ctx)
    topics = (("image", image_topic), ("depth", depth_topic), ("camera_info", camera_info_topic),
              ("pose", camera_pose_topic))
    code = main_task(TaskRun(task, robot, profile, seed, tuple(sets), rate_hz, arm,
                             camera_topics=tuple((k, v) for k, v in topics if v),
                             camera_pose_file=camera_pose_file, namespace=namespace), argv)
    if code:
        raise typer.Exit(code)


def task_main() -> None:
    """Console script `officina-ros-task`."""
    _entry("task")


@ros_app.command("vision", context_settings=_EXTRA)
@handle_errors
def vision_cmd(
    ctx: typer.Context,
    dictionary: str = typer.Option("DICT_4X4_50", "--dictionary", help="marker dictionary (OpenCV name)"),
    marker_length_m: float = typer.Option(0.05, "--marker-length-m", help="side of the markers' black square [m]"),
    image_topic: str = typer.Option("/camera/image_raw", "--image-topic", help="image in"),
    camera_info_topic: str = typer.Option("/camera/camera_info", "--camera-info-topic", help="camera_info in"),
    depth_topic: str = typer.Option("/camera/depth/image_raw", "--depth-topic", help="depth in ('' = none)"),
    camera_pose_topic: str = typer.Option("/camera/pose", "--camera-pose-topic",
                                          help="world_T_camera PoseStamped ('' = none)"),
    output_namespace: str = typer.Option("/vision", "--output-namespace", help="namespace of the outputs"),
    table_height_m: float = typer.Option(-1.0, "--table-height-m", help="world z of the table (< 0: estimated)"),
    rate_hz: float = typer.Option(10.0, "--rate-hz", help="processing rate [Hz]"),
) -> None:
    """Markers (PoseArray + PoseStamped per id), markerless objects (PoseArray) and an annotated image
    from a camera stream.

    Example:

    ```
    officina ros vision --dictionary DICT_4X4_50 --marker-length-m 0.05
    ```
    """
    argv = _ros_args(ctx)
    overrides = _params(ctx, dictionary=dictionary, marker_length_m=float(marker_length_m), image_topic=image_topic,
                        camera_info_topic=camera_info_topic, depth_topic=depth_topic,
                        camera_pose_topic=camera_pose_topic, output_namespace=output_namespace,
                        table_height_m=float(table_height_m), rate_hz=float(rate_hz))

    def make(_argv):
        from officina.ros.vision_node import VisionNode

        return VisionNode(parameter_overrides=overrides)

    _run(make, argv)


def vision_main() -> None:
    """Console script `officina-ros-vision`."""
    _entry("vision")


@ros_app.command("exo", context_settings=_EXTRA)
@handle_errors
def exo_cmd(
    ctx: typer.Context,
    body_mass_kg: float = typer.Option(75.0, "--body-mass-kg", help="body mass of the person [kg]"),
    stature_m: float = typer.Option(1.75, "--stature-m", help="stature of the person [m]"),
    sex: str = typer.Option("male", "--sex", help="male | female"),
    load_kg: float = typer.Option(0.0, "--load-kg", help="mass held at the hands [kg]"),
    exo: str = typer.Option("none", "--exo", help="none | passive | active | laevo | spexor | plad | xotrunk"),
    joint_states_topic: str = typer.Option("/human/joint_states", "--joint-states-topic",
                                           help="the person's joint angles (sensor_msgs/JointState)"),
    dynamic: bool = typer.Option(False, "--dynamic", help="add inertial terms (default: quasi-static)"),
    rate_hz: float = typer.Option(50.0, "--rate-hz", help="processing rate [Hz]"),
) -> None:
    """Exo monitor: a person's joint angles in; L5/S1 wrench and loads and the exo's assistive torque out.

    Example:

    ```
    officina ros exo --body-mass-kg 80 --load-kg 10 --exo laevo
    ```
    """
    argv = _ros_args(ctx)
    overrides = _params(ctx, body_mass_kg=float(body_mass_kg), stature_m=float(stature_m), sex=sex,
                        load_kg=float(load_kg), exo=exo, joint_states_topic=joint_states_topic,
                        dynamic=bool(dynamic), rate_hz=float(rate_hz))

    def make(_argv):
        from officina.ros.exo_node import ExoNode

        return ExoNode(parameter_overrides=overrides)

    _run(make, argv)


def exo_main() -> None:
    """Console script `officina-ros-exo`."""
    _entry("exo")


@ros_app.command("record", context_settings=_EXTRA)
@handle_errors
def record_cmd(
    ctx: typer.Context,
    topics: list[str] = typer.Option(..., "--topics", help="topic to record (repeatable, or comma-separated)"),
    out: str = typer.Option(..., "--out", help="output file (.mcap)"),
    duration_s: Optional[float] = typer.Option(None, "--duration", help="seconds to record (default: until Ctrl-C)"),
    discovery_timeout_s: float = typer.Option(10.0, "--discovery-timeout", help="wait this long for publishers [s]"),
) -> None:
    """Record topics to a rosbag2-compatible MCAP file (ros2 profile, CDR, ros2msg definitions).

    Example:

    ```
    officina ros record --topics /joint_states --out run.mcap --duration 10
    ```
    """
    from officina.errors import BadInput
    from officina.ros.recorder import record
    from officina.ros.runner import run_node

    names = [t.strip() for item in topics for t in item.split(",") if t.strip()]
    if not names:
        raise BadInput("--topics: no topic given")
    if duration_s is not None and not duration_s > 0:
        raise BadInput(f"--duration must be > 0 s, got {duration_s}")
    argv = _ros_args(ctx)
    counts: dict[str, int] = {}

    def make(_argv):
        import rclpy

        return rclpy.create_node("officina_record")

    def spin(node, executor) -> None:
        counts.update(record(node, executor, names, out, duration_s, discovery_timeout_s))

    code = run_node(make, argv, spin)  # Ctrl-C ends a recording without --duration: exit 0, file complete
    typer.echo(f"{out}: " + (", ".join(f"{t} {n}" for t, n in counts.items()) if counts else "stopped"))
    if code:
        raise typer.Exit(code)


def record_main() -> None:
    """Console script `officina-ros-record`."""
    _entry("record")
