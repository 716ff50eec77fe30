"""`officina ros task TASK`: a task's procedure, unchanged, through the gate against whatever arm
is behind it (sim or real), reading /joint_states and the camera topics."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

__all__ = ["TaskRun", "run_task"]


@dataclass(frozen=True)
class TaskRun:
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


def run_task(cfg: TaskRun, node, executor) -> dict:
    """Build the Cell over ROS and run the procedure; returns the outcome as a dict."""
    from diagnostic_msgs.msg import DiagnosticStatus
    from std_srvs.srv import SetBool

    from officina.config import apply_overrides
    from officina.controllers.model import RobotModel
    from officina.errors import BadInput, JobFailed
    from officina.robots import load_robot
    from officina.ros.client import RosArm, RosCamera, RosGripper, RosLink
    from officina.ros.common import qos_latched
    from officina.ros.gate_node import ARM_SERVICE, SAFETY_STATE_TOPIC
    from officina.ros.robot_profiles import load_profile, resolve_profile
    from officina.tasks import Cell, get_task

    task = get_task(cfg.task)
    raw = apply_overrides({}, list(cfg.overrides)) if cfg.overrides else {}
    try:
        params = task.Params.model_validate(raw.get("params", raw))
    except Exception as exc:  # pydantic ValidationError
        raise BadInput(f"task parameters: {exc}") from None
    world_T_camera = None
    if cfg.camera_pose_file:
        from officina.vision.handeye import load_base_T_camera

        try:
            world_T_camera = load_base_T_camera(cfg.camera_pose_file)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    profile = load_profile(cfg.profile)
    spec = load_robot(cfg.robot or profile.robot)
    resolved = resolve_profile(spec, profile)
    link = RosLink(node, executor, resolved, cfg.rate_hz)
    link.wait_for_state(60.0)
    safety = {}

    def on_safety(m):
        safety.update({kv.key: kv.value for kv in m.values})

    node.create_subscription(DiagnosticStatus, SAFETY_STATE_TOPIC, on_safety, qos_latched())
    if cfg.arm:
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
    link.spin_until(lambda: safety.get("armed") == "true", cfg.arm_timeout_s, "the gate to be armed")
    arm = RosArm(link, spec.limits)
    gripper = RosGripper(link, spec.gripper.max_width_m, spec.gripper.max_force_n) if spec.gripper else None
    camera = RosCamera(link, world_T_camera=world_T_camera, topics=dict(cfg.camera_topics))
    cell = Cell(arm=arm, gripper=gripper, camera=camera, model=RobotModel.from_spec(spec), tick=link.tick,
                rng=np.random.default_rng(cfg.seed))
    arm.command_positions(link.state.position)
    outcome = task.procedure(cell, params)
    if safety.get("armed") != "true":
        raise JobFailed(f"the gate disarmed during the task: {safety.get('last_refusal') or safety.get('last_event')}")
    return {"task": cfg.task, "robot": spec.name, "completed": outcome.completed, "message": outcome.message,
            "details": outcome.details, "events": cell.events,
            "gate_refused": int(safety.get("refused", 0)), "gate_watchdog_holds": int(safety.get("watchdog_holds", 0))}


def main_task(cfg: TaskRun, argv: list[str]) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from officina.errors import JobFailed
    from officina.ros.common import ros_env_defaults

    ros_env_defaults()
    rclpy.init(args=argv)
    node = None
    try:
        node = rclpy.create_node("officina_task")
        ex = SingleThreadedExecutor()
        ex.add_node(node)
        out = run_task(cfg, node, ex)
        print(json.dumps(out, default=str))
        if not out["completed"]:
            raise JobFailed(f"procedure did not complete: {out['message']}")
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 130
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
