"""`officina ros sim`: PyBullet fake hardware that looks like a ros2_control robot on the wire.

Publishes ``/joint_states`` (arm + finger joints) every control period (a vacuum gripper's switch on
``/<gripper_controller>/vacuum_switch``, std_msgs/Bool, latched, when it changes), camera ``image_raw``,
``depth/image_raw`` (32FC1, metres), ``camera_info`` and the camera pose (when subscribed), and
the task objects' ground-truth poses on ``/ground_truth/object_poses``; the wrist force/torque
sensor's wrench (geometry_msgs/WrenchStamped, sensor frame) on the profile's wrench topic every
period while subscribed. The camera is rendered beside the control loop, in a forked copy of the
world (`officina.ros.render_process`), unless ``camera_process`` is false. Subscribes the profile's
``/<controller>/joint_trajectory``, ``/<forward_controller>/commands`` and
``/<gripper_controller>/commands``. Accept/reject reports go to ``/officina/sim/controller_state``
(diagnostic_msgs/DiagnosticStatus, latched).

Pacing (`officina.ros.pacing`): ``realtime`` (wall clock; stamps are wall time), ``fast`` (as fast
as it goes, publishes ``/clock``), ``lockstep`` (advances ``lockstep_periods`` control periods per
call of the ``/officina/sim/step`` std_srvs/Trigger service, publishes ``/clock``). The latency
modes (`officina.ros.latency`): the executor, and ``command_sync`` (real time only: a forward
command runs the control period it arrives in at once, a bus-synchronous drive).
The cell is the task's, built as `officina run` builds it; ``task_set`` takes the same ``--set``
keys as `officina run` (``params.NAME``, ``seed``, ``sim.gravity``, ``sim.solver_iterations``).
Where control_msgs is importable: the FollowJointTrajectory action and ``controller_state``
(`officina.ros.fjt`).

On robots with a wrist sensor the node runs the admittance controller of `FakeHardware` (in the
role of ros2_controllers' ``admittance_controller``), configured by its parameters ``admittance.*``
(`ADMITTANCE_PARAMETERS`; set them, several at once, with the node's
``set_parameters_atomically`` service; a refused value leaves the controller as it was).
"""

from __future__ import annotations

import time

import numpy as np
from rclpy.node import Node

from officina.ros.convert import camera_info_msg, image_msg, joint_state_msg, pose_msg, s_to_time, trajectory_from_msg
from officina.ros.jtc import JtcConfig, TrajectoryRejected
from officina.ros.latency import CommandSync, executor_kind
from officina.ros.pacing import PACINGS, RealtimeGrid
from officina.ros.params import declare, task_config
from officina.ros.qos import qos_command_stream, qos_latched, qos_reliable

__all__ = ["SimNode", "PACINGS", "STEP_SERVICE", "CONTROLLER_STATE_TOPIC", "GROUND_TRUTH_TOPIC", "SET_KEYS"]

STEP_SERVICE = "/officina/sim/step"
CONTROLLER_STATE_TOPIC = "/officina/sim/controller_state"
GROUND_TRUTH_TOPIC = "/ground_truth/object_poses"
SET_KEYS = ("params", "seed", "sim.gravity", "sim.solver_iterations")  # the --set keys the sim uses
# the admittance controller's parameters: name -> (AdmittanceConfig field, description)
ADMITTANCE_PARAMETERS = {
    "admittance.enabled": ("enabled", "offset the joint references by the admittance"),
    "admittance.selected_axes": ("selected_axes", "compliant axes x y z rx ry rz (base axes at the control frame)"),
    "admittance.mass": ("mass", "virtual mass per axis [kg, kg m^2]"),
    "admittance.damping_ratio": ("damping_ratio", "damping ratio per axis"),
    "admittance.stiffness": ("stiffness", "stiffness per axis [N/m, N m/rad]"),
    "admittance.frame_offset_xyz": ("frame_offset_xyz", "control frame's origin in the tcp frame [m]"),
    "admittance.max_offset_m": ("max_offset_m", "largest translation from the reference [m]"),
    "admittance.max_offset_rad": ("max_offset_rad", "largest rotation from the reference [rad]"),
    "admittance.filter_time_s": ("filter_time_s", "time constant of the wrench's low-pass filter [s]"),
}


class SimNode(Node):
    def __init__(self, *, context=None, parameter_overrides=None) -> None:
        super().__init__("officina_sim", context=context, parameter_overrides=parameter_overrides or [])
        from rclpy.parameter import Parameter

        from officina.errors import BadInput
        from officina.robots import load_robot
        from officina.ros.fake_hardware import FakeHardware, SimSetup
        from officina.ros.robot_profiles import load_profile, resolve_profile

        p = {
            "robot": declare(self, "robot", "", "officina robot name or YAML path ('' = the profile's robot)"),
            "profile": declare(self, "profile", "default", "ROS profile (controller, namespace, joint names)"),
            "controller": declare(self, "controller", "", "trajectory controller name ('' = the profile's)"),
            "namespace": declare(self, "namespace", "", "namespace of the controller topics ('' = the profile's)"),
            "pacing": declare(self, "pacing", "realtime", "realtime | fast | lockstep"),
            "rate_hz": declare(self, "rate_hz", 250.0, "control rate = /joint_states rate [Hz]",
                               floating_point_range=(1.0, 2000.0)),
            "sim_dt": declare(self, "sim_dt", 0.001, "physics step [s]"),
            "task": declare(self, "task", "pick-place",
                            "task whose cell to build: a name, an entry point, or path/to/module.py:Class "
                            "('none' = robot only)"),
            "task_set": declare(self, "task_set", Parameter.Type.STRING_ARRAY,
                                "--set KEY=VALUE of officina run: params.NAME, seed, sim.gravity, sim.solver_iterations"),
            "seed": declare(self, "seed", 0, "seed of the scene"),
            "camera_hz": declare(self, "camera_hz", 5.0, "camera frame rate when subscribed [Hz]",
                                 floating_point_range=(0.0, 60.0)),
            "ground_truth_hz": declare(self, "ground_truth_hz", 10.0, "object pose rate [Hz]",
                                       floating_point_range=(0.0, 1000.0)),
            "lockstep_periods": declare(self, "lockstep_periods", 1, "control periods per step call"),
            "allow_partial_joints_goal": declare(self, "allow_partial_joints_goal", False, "JTC parameter"),
            "allow_nonzero_velocity_at_trajectory_end": declare(
                self, "allow_nonzero_velocity_at_trajectory_end", False, "JTC parameter"),
            "gui": declare(self, "gui", False, "PyBullet GUI window"),
            "command_sync": declare(
                self, "command_sync", False,
                "realtime pacing: a forward command runs its control period at once and publishes its state "
                "(bus-synchronous drive); without commands the sim keeps its own period"),
            "follow_joint_trajectory": declare(
                self, "follow_joint_trajectory", True,
                "serve the FollowJointTrajectory action and controller_state where control_msgs is importable"),
            "stopped_velocity_tolerance": declare(self, "stopped_velocity_tolerance", 0.01,
                                                  "JTC: default goal velocity tolerance [rad/s]"),
            "goal_time": declare(self, "goal_time", 0.0, "JTC: default goal_time_tolerance [s] (0 = no limit)"),
            "camera_process": declare(
                self, "camera_process", True,
                "render the camera in a forked copy of the world (officina.ros.render_process), so that "
                "rendering does not stop the control loop; false: in the loop"),
            "executor": declare(self, "executor", "events",
                                "events (rclpy's EventsExecutor, where rclpy has it; else single) | single"),
        }
        if p["pacing"] not in PACINGS:
            raise BadInput(f"pacing {p['pacing']!r}: expected one of {', '.join(PACINGS)}")
        self.executor_kind = executor_kind(p["executor"])  # run_node builds it
        if int(p["lockstep_periods"]) < 1:
            raise BadInput("lockstep_periods must be >= 1")
        if p["command_sync"] and p["pacing"] != "realtime":
            raise BadInput(f"command_sync applies to realtime pacing only (pacing is {p['pacing']!r})")
        profile = load_profile(p["profile"])
        robot = p["robot"] or profile.robot
        spec = load_robot(robot)
        self.resolved = resolve_profile(spec, profile, controller=p["controller"] or None,
                                        namespace=p["namespace"] or None)
        jtc = JtcConfig(bool(p["allow_partial_joints_goal"]), bool(p["allow_nonzero_velocity_at_trajectory_end"]))
        base = dict(rate_hz=float(p["rate_hz"]), sim_dt=float(p["sim_dt"]), gui=bool(p["gui"]), jtc=jtc)
        sets = list(p["task_set"] or ())
        if p["task"] in ("", "none"):
            if sets:
                raise BadInput(f"--set {sets[0]}: the sim builds no task (task 'none') to take it")
            setup = SimSetup(seed=int(p["seed"]), **base)
        else:
            from officina.runner import task_params
            from officina.tasks import get_task

            from officina.ros.task_node import check_over_ros

            cfg = task_config("ros sim", p["task"], robot=robot, seed=int(p["seed"]), sets=sets, accepted=SET_KEYS)
            check_over_ros(get_task(cfg.task))
            setup = SimSetup(task=get_task(cfg.task), params=task_params(cfg), seed=cfg.seed, gravity=cfg.sim.gravity,
                             solver_iterations=cfg.sim.solver_iterations, **base)
        self.hw = FakeHardware(self.resolved, setup)
        self.hw.queue_commands = not p["command_sync"]
        self.pacing = p["pacing"]
        self.lockstep_periods = int(p["lockstep_periods"])
        dt = self.hw.control_dt
        self.camera_every = 0 if p["camera_hz"] <= 0 else max(1, int(round(1.0 / (p["camera_hz"] * dt))))
        self.gt_every = 0 if p["ground_truth_hz"] <= 0 else max(1, int(round(1.0 / (p["ground_truth_hz"] * dt))))
        if self.pacing == "realtime":  # for what is stamped before the period grid starts (camera pose)
            self.hw.t0 = self._ros_now()

        from diagnostic_msgs.msg import DiagnosticStatus
        from geometry_msgs.msg import PoseArray, PoseStamped
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import Float64MultiArray
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        r = self.resolved
        self.pub_js = self.create_publisher(JointState, r.joint_states, qos_reliable())
        self._js_msg = None  # refilled each period
        self.pub_state = self.create_publisher(DiagnosticStatus, CONTROLLER_STATE_TOPIC, qos_latched())
        self.pub_gt = self.create_publisher(PoseArray, GROUND_TRUTH_TOPIC, qos_reliable())
        self.pub_clock = self.create_publisher(Clock, "/clock", qos_reliable(1)) if self.pacing != "realtime" else None
        self.pub_rgb = self.pub_depth = self.pub_info = None
        if self.hw.camera is not None:
            # Reliable (depth 2): matches both reliable and sensor-data (best-effort) subscribers;
            # a best-effort stream of ~1 MB frames loses whole frames on a loaded machine.
            self.pub_rgb = self.create_publisher(Image, r.camera_topic("image_raw"), qos_reliable(2))
            self.pub_depth = self.create_publisher(Image, r.camera_topic("depth", "image_raw"), qos_reliable(2))
            self.pub_info = self.create_publisher(CameraInfo, r.camera_topic("camera_info"), qos_reliable(2))
            self.pub_cam_pose = self.create_publisher(PoseStamped, r.camera_topic("pose"), qos_latched())
            self._publish_camera_pose()
        # the wrist sensor's wrench every period (while subscribed), before the joint state: a tick
        # that sees the period's joint state has its wrench too
        self.wrist = getattr(self.hw.cell, "wrist", None)
        self.pub_wrench = None
        if self.wrist is not None:
            from geometry_msgs.msg import WrenchStamped

            self.pub_wrench = self.create_publisher(WrenchStamped, r.wrench_topic, qos_reliable())
            self._wrench_frame = spec.wrist_sensor.joint
        self.render = None
        if self.hw.camera is not None and p["camera_process"] and not p["gui"]:
            from officina.ros.render_process import CameraProcess

            self.render = CameraProcess(self.hw.world.client_id, self.hw.camera)
        self.create_subscription(JointTrajectory, r.trajectory_topic, self._on_trajectory, qos_reliable())
        self.create_subscription(Float64MultiArray, r.commands_topic, self._on_commands, qos_command_stream())
        if self.hw.gripper is not None:
            self.create_subscription(Float64MultiArray, r.gripper_topic, self._on_gripper, qos_reliable())
        self.pub_vacuum = None
        self._vacuum_last = None
        if self.hw.vacuum:
            from std_msgs.msg import Bool

            # latched: a subscriber that joins later gets the switch's present state
            self.pub_vacuum = self.create_publisher(Bool, r.vacuum_topic, qos_latched())
        if self.hw.wrist is not None:
            self._declare_admittance()
        self.fjt = None
        from officina.ros import fjt

        if p["follow_joint_trajectory"] and fjt.available():
            self.fjt = fjt.FollowJointTrajectoryServer(
                self, self.hw, r, stopped_velocity_tolerance=float(p["stopped_velocity_tolerance"]),
                goal_time=float(p["goal_time"]))
        self.timer = None
        self.grid: RealtimeGrid | None = None
        self.sync: CommandSync | None = None
        if self.pacing == "realtime":
            # the period grid (monotonic) and the stamps (ROS time) start at the same instant, after
            # the set-up above, so the stamps do not lag the wall clock by the set-up's duration
            self.grid = RealtimeGrid(dt, wall0=time.monotonic(), stamp0=self._ros_now())
            self.hw.t0 = self.grid.stamp0
            self.sync = CommandSync(self.grid) if p["command_sync"] else None
            self.timer = self.create_timer(dt, self._on_realtime_timer)
        elif self.pacing == "fast":
            self.timer = self.create_timer(1e-5, self._on_fast_timer)
        else:
            self.create_service(Trigger, STEP_SERVICE, self._on_step)
        # the controller state once per second, from its own timer, not inside a control period: in
        # the period it delayed that period's joint state by ~2 periods once a second (bench_ros, sync)
        self.state_timer = self.create_timer(1.0, lambda: self._publish_state("running"))
        self._publish_state("started")
        self._publish_outputs()
        self.get_logger().info(
            f"sim {spec.name} ({profile.name} profile) at {1 / dt:.0f} Hz, pacing {self.pacing}, "
            f"{self.executor_kind} executor: "
            f"{r.trajectory_topic}, {r.commands_topic}, {r.joint_states}"
        )

    def _declare_admittance(self) -> None:
        from dataclasses import asdict

        from rcl_interfaces.msg import ParameterDescriptor

        from officina.interfaces import AdmittanceConfig

        defaults = asdict(AdmittanceConfig())
        for name, (field_name, description) in ADMITTANCE_PARAMETERS.items():
            v = defaults[field_name]
            v = list(v) if isinstance(v, tuple) else v
            self.declare_parameter(name, v, ParameterDescriptor(description=description))
        self.add_on_set_parameters_callback(self._on_admittance_parameters)

    def _on_admittance_parameters(self, params):
        """Validate and apply a set of admittance parameters together (the others unchanged)."""
        from dataclasses import asdict

        from rcl_interfaces.msg import SetParametersResult

        from officina.interfaces import AdmittanceConfig

        new = {p.name: p.value for p in params if p.name in ADMITTANCE_PARAMETERS}
        if not new:
            return SetParametersResult(successful=True)
        fields = asdict(self.hw.admittance.config) if self.hw.admittance is not None else asdict(AdmittanceConfig())
        for name, value in new.items():
            field_name = ADMITTANCE_PARAMETERS[name][0]
            fields[field_name] = tuple(value) if isinstance(fields[field_name], tuple) else value
        try:
            self.hw.set_admittance(AdmittanceConfig(**fields))
        except Exception as exc:  # noqa: BLE001 - a refused value is the caller's answer, not the node's end
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _ros_now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- callbacks: convert, call the core, report ------------------------------------------------------
    def _on_trajectory(self, msg) -> None:
        try:
            traj = self.hw.accept_trajectory(trajectory_from_msg(msg))
            if self.fjt is not None:
                self.fjt.preempt("replaced by a trajectory on the topic")
            self._publish_state(f"accepted trajectory: {len(traj.times)} points, {traj.kind.value}, "
                                f"start {traj.start:.4f} s, end {traj.end:.4f} s")
        except TrajectoryRejected as exc:
            self._refuse("trajectories_rejected", f"trajectory rejected: {exc}")
        except Exception as exc:  # noqa: BLE001 - a message never kills the node
            self._refuse("trajectories_rejected", f"trajectory rejected: {type(exc).__name__}: {exc}")

    def _on_commands(self, msg) -> None:
        arrival = time.monotonic()
        if self.sync is not None:  # periods that ended before this command run with the previous one
            self._run_periods(self.grid.due(arrival, self.hw.periods))
        try:
            self.hw.forward_command(msg.data)
            if self.fjt is not None:
                self.fjt.preempt("replaced by forward commands")
        except Exception as exc:  # noqa: BLE001
            self._refuse("commands_rejected", f"command rejected: {exc}")
            return
        if self.sync is not None:
            if self.sync.run_now(arrival, self.hw.periods):
                self._run_periods(1)
            self.timer.reset()  # while commands stream, they drive the periods; the timer covers silence

    def _on_gripper(self, msg) -> None:
        try:
            self.hw.gripper_command(msg.data)
        except Exception as exc:  # noqa: BLE001
            self._refuse("gripper_rejected", f"gripper command rejected: {exc}")

    def _refuse(self, key: str, reason: str) -> None:
        self.hw.counts[key] += 1
        self.hw.last_reason = reason
        self.get_logger().warning(reason + "; holding")
        self._publish_state(reason, level=1)

    def _on_step(self, request, response):
        for _ in range(self.lockstep_periods):
            self._advance()
        response.success = True
        response.message = f"t={self.hw.now:.6f}"
        return response

    def _on_fast_timer(self) -> None:
        self._advance()

    def _on_realtime_timer(self) -> None:
        self._run_periods(self.grid.due(time.monotonic(), self.hw.periods))

    def _run_periods(self, n: int) -> None:
        self.hw.t0 = self.grid.stamp0  # the grid moves the stamps when it slips or locks onto commands
        for _ in range(n):
            self._advance()

    def _advance(self) -> None:
        self.hw.step()
        values = self._publish_outputs()
        if self.fjt is not None:
            from officina.interfaces import JointState

            self.fjt.on_period(JointState(self.hw.now, self.hw.state_names, *values))

    # --- outputs --------------------------------------------------------------------------------------
    def _publish_outputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Publish what this period produced; returns the joint state's (position, velocity, effort)."""
        hw = self.hw
        now = hw.now
        if self.pub_clock is not None:
            from rosgraph_msgs.msg import Clock

            self.pub_clock.publish(Clock(clock=s_to_time(now)))
        q, qd, effort = hw.state_values()
        if self.pub_vacuum is not None:  # before the joint state: a tick that sees the period sees the switch
            holding = hw.vacuum_holding()
            if holding != self._vacuum_last:
                from std_msgs.msg import Bool

                self.pub_vacuum.publish(Bool(data=holding))
                self._vacuum_last = holding
        if self.pub_wrench is not None and self.pub_wrench.get_subscription_count():
            self._publish_wrench(now)
        self._js_msg = joint_state_msg(hw.state_names, now, q, qd, effort, reuse=self._js_msg)
        self.pub_js.publish(self._js_msg)
        k = hw.periods
        if self.gt_every and k % self.gt_every == 0 and hw.scene is not None:
            from geometry_msgs.msg import PoseArray

            m = PoseArray()
            m.header.stamp = s_to_time(now)
            m.header.frame_id = "world"
            m.poses = [pose_msg(p[:3], p[3:]) for p in hw.object_poses()]
            self.pub_gt.publish(m)
        if self.render is not None:
            got = self.render.poll()
            if got is not None:
                self._publish_frame(*got)
        if self.camera_every and self.pub_rgb is not None and k % self.camera_every == 0:
            subs = (self.pub_rgb.get_subscription_count() + self.pub_depth.get_subscription_count())
            if subs:
                if self.render is None:
                    frame = self.hw.camera.capture()
                    self._publish_frame(now, frame.rgb, frame.depth_m)
                else:  # rendered beside the loop, published when done, stamped with this period
                    self.render.request(now)
        return q, qd, effort

    def _publish_wrench(self, now: float) -> None:
        from geometry_msgs.msg import WrenchStamped

        w = self.wrist.read()
        m = WrenchStamped()
        m.header.stamp = s_to_time(now)
        m.header.frame_id = self._wrench_frame
        m.wrench.force.x, m.wrench.force.y, m.wrench.force.z = (float(v) for v in w.force)
        m.wrench.torque.x, m.wrench.torque.y, m.wrench.torque.z = (float(v) for v in w.torque)
        self.pub_wrench.publish(m)

    def _publish_frame(self, stamp: float, rgb: np.ndarray, depth_m: np.ndarray | None) -> None:
        fid = "camera_optical_frame"
        self.pub_info.publish(camera_info_msg(self.hw.camera.intrinsics, stamp, fid))
        self.pub_rgb.publish(image_msg(rgb, stamp, fid, "rgb8"))
        if depth_m is not None:
            self.pub_depth.publish(image_msg(depth_m.astype(np.float32), stamp, fid, "32FC1"))

    def _publish_camera_pose(self) -> None:
        from geometry_msgs.msg import PoseStamped

        from officina.vision.transforms import matrix_to_quat

        T = self.hw.camera.extrinsics()
        m = PoseStamped()
        m.header.stamp = s_to_time(self.hw.now)
        m.header.frame_id = "world"
        m.pose = pose_msg(T[:3, 3], matrix_to_quat(T[:3, :3]))
        self.pub_cam_pose.publish(m)

    def _publish_state(self, message: str, level: int = 0) -> None:
        from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

        hw = self.hw
        st = DiagnosticStatus()
        st.level = bytes([level])
        st.name = self.resolved.controller
        st.hardware_id = f"officina_sim/{self.resolved.spec.name}"
        st.message = message
        counts = {**hw.counts, **(self.fjt.counts if getattr(self, "fjt", None) is not None else {})}
        vals = {**{k: str(v) for k, v in counts.items()}, "t": f"{hw.now:.6f}", "source": hw.source,
                "executing": str(hw.follower.executing).lower(), "last_reason": hw.last_reason}
        st.values = [KeyValue(key=k, value=v) for k, v in vals.items()]
        self.pub_state.publish(st)

    def destroy_node(self) -> None:
        # also called (by rclpy's context cleanup) on a node whose __init__ refused its parameters
        try:
            if getattr(self, "fjt", None) is not None:
                self.fjt.close()
            if getattr(self, "render", None) is not None:
                self.render.close()
            if getattr(self, "hw", None) is not None:
                self.hw.close()
        finally:
            super().destroy_node()
