"""`officina ros task TASK`: a task's procedure, unchanged, through the gate against whatever arm
is behind it (sim or real), reading /joint_states and the camera topics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TaskRun", "TaskJob", "SET_KEYS", "GateWatch", "prepare", "check_gate_control", "check_over_ros",
           "run_task", "main_task"]

SET_KEYS = ("params", "seed")  # the --set keys of `officina run` the task node uses


@dataclass(frozen=True)
class TaskRun:
    """What the command line asked for."""

    task: str
    robot: str
    profile: str = "default"
    seed: int = 0
    overrides: tuple[str, ...] = ()
    rate_hz: float = 250.0
    arm: bool = False
    arm_timeout_s: float = 300.0
    camera_topics: tuple[tuple[str, str], ...] = ()  # (key, topic): image, depth, camera_info, pose
    camera_pose_file: str = ""  # a fixed camera's base_T_camera (hand-eye YAML) instead of the pose topic
    namespace: str = ""  # namespace of the arm's topics ('' = the profile's), as the gate's


@dataclass(frozen=True)
class TaskJob:
    """A `TaskRun` resolved and checked: the task, its validated parameters, the robot and its
    profile, the fixed camera's pose (or None)."""

    run: TaskRun
    task_ref: str
    task: Any
    params: Any
    seed: int
    resolved: Any  # officina.ros.robot_profiles.ResolvedProfile
    world_T_camera: np.ndarray | None


def prepare(run: TaskRun) -> TaskJob:
    """Everything the user can get wrong (task, ``--set`` keys and values, robot, profile, camera
    pose file), checked before ROS starts: BadInput with one line."""
    from officina.errors import BadInput
    from officina.robots import load_robot
    from officina.ros.params import task_config
    from officina.ros.robot_profiles import load_profile, resolve_profile
    from officina.runner import task_params
    from officina.tasks import get_task
    from officina.tasks.base import check_task_gripper

    profile = load_profile(run.profile)
    robot = run.robot or profile.robot
    cfg = task_config("ros task", run.task, robot=robot, seed=run.seed, sets=run.overrides, accepted=SET_KEYS)
    world_T_camera = None
    if run.camera_pose_file:
        from officina.vision.handeye import load_base_T_camera

        try:
            world_T_camera = load_base_T_camera(run.camera_pose_file)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    resolved = resolve_profile(load_robot(robot), profile, namespace=run.namespace or None)
    task = get_task(cfg.task)
    check_over_ros(task)
    params = task_params(cfg)
    try:  # as `officina run` refuses the robot before it builds the cell
        check_task_gripper(task, resolved.spec, params)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    check_gate_control(task)
    return TaskJob(run, cfg.task, task, params, cfg.seed, resolved, world_T_camera)


def check_over_ros(task) -> None:
    """A task whose safety function lives in the simulated world (its ``ros_unsupported``: why)
    cannot run over ROS: BadInput, one line (the sim node and the task node both check)."""
    from officina.errors import BadInput

    why = getattr(task, "ros_unsupported", None)
    if why:
        raise BadInput(f"task {task.name!r} does not run over ROS: {why}")


def check_gate_control(task) -> None:
    """The gate forwards joint positions only: a task whose procedure commands the arm in another
    mode (its ``control_modes``, default ``("position",)``) cannot run through it, unless it also
    runs with joint positions and the arm's admittance controller (its ``compliant_modes``: position
    and admittance). BadInput, one line."""
    from officina.errors import BadInput

    compliant = getattr(task, "compliant_modes", None)
    if compliant is not None and set(compliant) <= {"position", "admittance"}:
        return
    modes = tuple(str(getattr(m, "value", m)) for m in getattr(task, "control_modes", ("position",)))
    other = [m for m in modes if m != "position"]
    if other:
        raise BadInput(f"task {task.name!r} commands the arm in {' and '.join(other)} mode (its control_modes: "
                       f"{', '.join(modes)}); the gate forwards joint positions only, so `officina ros task` "
                       "cannot run it")


class GateWatch:
    """The gate's ``safety_state`` as the task node reads it: the latest key/values, and why the
    gate first went from armed to disarmed, taken from the status of that moment (the refusal it
    made then, else its event), before refused commands overwrite ``last_refusal``."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.disarmed_because: str | None = None

    def on_status(self, msg) -> None:
        new = {kv.key: kv.value for kv in msg.values}
        old = self.values
        if old.get("armed") == "true" and new.get("armed") != "true" and self.disarmed_because is None:
            changed = new.get("last_refusal") != old.get("last_refusal") and new.get("last_refusal")
            self.disarmed_because = changed or new.get("last_event") or msg.message
        old.update(new)


def run_task(job: TaskJob, node, executor) -> dict:
    """Build the Cell over ROS and run the procedure; returns the outcome as a dict."""
    from diagnostic_msgs.msg import DiagnosticStatus
    from std_srvs.srv import SetBool

    from officina.controllers.model import RobotModel
    from officina.errors import JobFailed
    from officina.ros.client import RosArm, RosCamera, RosCompliantArm, RosLink, make_ros_gripper, make_ros_wrist
    from officina.ros.gate_node import ARM_SERVICE, SAFETY_STATE_TOPIC
    from officina.ros.qos import qos_latched
    from officina.tasks import Cell
    from officina.tasks.runtime import task_planning_scene

    run, resolved = job.run, job.resolved
    spec = resolved.spec
    link = RosLink(node, executor, resolved, run.rate_hz)
    link.wait_for_state(60.0)
    wrist = make_ros_wrist(link, spec)  # before arming: its wait holds no armed arm
    if spec.wrist_sensor is not None and wrist is None:
        node.get_logger().warning(f"no wrench on {resolved.wrench_topic}: guarded moves use the joint-torque "
                                  "estimate")
    watch = GateWatch()
    safety = watch.values
    node.create_subscription(DiagnosticStatus, SAFETY_STATE_TOPIC, watch.on_status, qos_latched())
    if run.arm:
        cli = node.create_client(SetBool, ARM_SERVICE)
        link.spin_until(cli.service_is_ready, 30.0, f"the gate's {ARM_SERVICE} service")
        # Nodes started together (ros2 launch) come up in any order: the gate refuses to arm until it
        # has the arm's /joint_states, which its safety_state shows as a stamp.
        link.spin_until(lambda: bool(safety.get("stamp")), 30.0, f"the gate to receive {resolved.joint_states}")
        fut = cli.call_async(SetBool.Request(data=True))
        link.spin_until(fut.done, 10.0, "the arming response")
        if not fut.result().success:
            raise JobFailed(f"the gate refused to arm: {fut.result().message}")
    else:
        node.get_logger().info(f"waiting for the gate to be armed ({ARM_SERVICE}) ...")
    link.spin_until(lambda: safety.get("armed") == "true", run.arm_timeout_s, "the gate to be armed")
    # a task that runs with the arm's admittance controller gets the arm that configures it
    compliant = "admittance" in getattr(job.task, "compliant_modes", ()) and spec.wrist_sensor is not None
    arm = RosCompliantArm(link, spec.limits) if compliant else RosArm(link, spec.limits)
    gripper = make_ros_gripper(link, spec)
    camera = RosCamera(link, world_T_camera=job.world_T_camera, topics=dict(run.camera_topics))
    cell = Cell(arm=arm, gripper=gripper, camera=camera, model=RobotModel.from_spec(spec), tick=link.tick,
                wrist=wrist,
                rng=np.random.default_rng(job.seed), planning_scene=task_planning_scene(job.task, job.params))
    arm.command_positions(link.state.position)
    try:
        outcome = job.task.procedure(cell, job.params)
    finally:
        if getattr(arm, "admittance_enabled", False):  # a procedure that stopped half-way leaves none on
            from officina.interfaces import AdmittanceConfig

            arm.set_admittance(AdmittanceConfig())
    if safety.get("armed") != "true":
        raise JobFailed(f"the gate disarmed during the task: {watch.disarmed_because or safety.get('last_event')}")
    return {"task": job.task_ref, "robot": spec.name, "completed": outcome.completed, "message": outcome.message,
            "details": outcome.details, "events": cell.events,
            "wrist": wrist.topic if wrist is not None else None,
            "gate_refused": int(safety.get("refused", 0)), "gate_watchdog_holds": int(safety.get("watchdog_holds", 0)),
            "gate_replaced_commands": int(safety.get("replaced_commands", 0))}


def main_task(run: TaskRun, argv: list[str]) -> int:
    """The task node's main: 0 when the procedure completed (its outcome as one JSON line on
    stdout), 1 when it did not (JobFailed), 2 for bad input (BadInput, before ROS starts),
    130 when stopped before its end (Ctrl-C, SIGTERM)."""
    from officina.errors import JobFailed
    from officina.ros.runner import INTERRUPTED, run_node

    job = prepare(run)

    def make(_argv):
        import rclpy

        return rclpy.create_node("officina_task")

    def spin(node, executor) -> int:
        out = run_task(job, node, executor)
        print(json.dumps(out, default=str), flush=True)
        if not out["completed"]:
            raise JobFailed(f"procedure did not complete: {out['message']}")
        return 0

    return run_node(make, argv, spin, interrupted=INTERRUPTED)
