"""`officina ros sim`: PyBullet fake hardware that looks like a ros2_control robot on the wire.

Publishes ``/joint_states`` (arm + finger joints) every control period, camera ``image_raw``,
``depth/image_raw`` (32FC1, metres), ``camera_info`` and the camera pose (when subscribed), and
the task objects' ground-truth poses on ``/ground_truth/object_poses``. Subscribes the profile's
``/<controller>/joint_trajectory``, ``/<forward_controller>/commands`` and
``/<gripper_controller>/commands``. Accept/reject reports go to ``/officina/sim/controller_state``
(diagnostic_msgs/DiagnosticStatus, latched).

Pacing: ``realtime`` (wall clock; stamps are wall time), ``fast`` (as fast as it goes, publishes
``/clock``), ``lockstep`` (advances ``lockstep_periods`` control periods per call of the
``/officina/sim/step`` std_srvs/Trigger service, publishes ``/clock``). ``command_sync`` (real time
only): a forward command runs the control period it arrives in at once (bus-synchronous drive).
Where control_msgs is importable: the FollowJointTrajectory action and ``controller_state``
(`officina.ros.fjt`).
"""

from __future__ import annotations

import time

import numpy as np
from rclpy.node import Node

from officina.ros.common import (
    JointStateWire, camera_info_msg, declare, executor_kind, image_msg, joint_state_msg, pose_msg,
    qos_latched, qos_reliable, raw_publish_supported, s_to_time, trajectory_from_msg,
)
from officina.ros.jtc import JtcConfig, TrajectoryRejected

__all__ = ["SimNode", "PACINGS", "STEP_SERVICE", "CONTROLLER_STATE_TOPIC", "GROUND_TRUTH_TOPIC"]

PACINGS = ("realtime", "fast", "lockstep")
STEP_SERVICE = "/officina/sim/step"
CONTROLLER_STATE_TOPIC = "/officina/sim/controller_state"
GROUND_TRUTH_TOPIC = "/ground_truth/object_poses"
MAX_CATCHUP_PERIODS = 5
SYNC_PHASE_GAIN = 0.1  # command_sync: share of a command's phase error the period grid moves by


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
            "task": declare(self, "task", "pick-place", "task whose scene to build ('none' = robot only)"),
            "task_set": declare(self, "task_set", Parameter.Type.STRING_ARRAY,
                                "task parameter overrides KEY=VALUE"),
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
        spec = load_robot(p["robot"] or profile.robot)
        self.resolved = resolve_profile(spec, profile, controller=p["controller"] or None,
                                        namespace=p["namespace"] or None)
        task = None if p["task"] in ("", "none") else p["task"]
        setup = SimSetup(rate_hz=float(p["rate_hz"]), sim_dt=float(p["sim_dt"]), task=task,
                         task_overrides=tuple(p["task_set"] or ()), seed=int(p["seed"]), gui=bool(p["gui"]),
                         jtc=JtcConfig(bool(p["allow_partial_joints_goal"]),
                                       bool(p["allow_nonzero_velocity_at_trajectory_end"])))
        self.hw = FakeHardware(self.resolved, setup)
        self.pacing = p["pacing"]
        self.lockstep_periods = int(p["lockstep_periods"])
        self.command_sync = bool(p["command_sync"])
        dt = self.hw.control_dt
        self.camera_every = 0 if p["camera_hz"] <= 0 else max(1, int(round(1.0 / (p["camera_hz"] * dt))))
        self.gt_every = 0 if p["ground_truth_hz"] <= 0 else max(1, int(round(1.0 / (p["ground_truth_hz"] * dt))))
        if self.pacing == "realtime":  # for what is stamped before the period grid starts (camera pose)
            self.hw.t0 = self.get_clock().now().nanoseconds * 1e-9

        from diagnostic_msgs.msg import DiagnosticStatus
        from geometry_msgs.msg import PoseArray, PoseStamped
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import Float64MultiArray
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        r = self.resolved
        self.pub_js = self.create_publisher(JointState, r.joint_states, qos_reliable())
        self._js_msg = None
        self._js_wire = JointStateWire(self.hw.state_names) if raw_publish_supported() else None
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
        self.create_subscription(JointTrajectory, r.trajectory_topic, self._on_trajectory, qos_reliable())
        self.create_subscription(Float64MultiArray, r.commands_topic, self._on_commands, qos_reliable(100))
        if self.hw.gripper is not None:
            self.create_subscription(Float64MultiArray, r.gripper_topic, self._on_gripper, qos_reliable())
        self.fjt = None
        from officina.ros import fjt

        if p["follow_joint_trajectory"] and fjt.available():
            self.fjt = fjt.FollowJointTrajectoryServer(
                self, self.hw, r, stopped_velocity_tolerance=float(p["stopped_velocity_tolerance"]),
                goal_time=float(p["goal_time"]))
        self.timer = None
        if self.pacing == "realtime":
            # the period grid (monotonic) and the stamps (ROS time) start at the same instant, after
            # the set-up above, so the stamps do not lag the wall clock by the set-up's duration
            self._wall0 = time.monotonic()
            self.hw.t0 = self.get_clock().now().nanoseconds * 1e-9
            self.overruns = 0
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
        if self.command_sync:
            self._on_realtime_timer()  # periods that ended before this command run with the previous one
        try:
            self.hw.forward_command(msg.data)
            if self.fjt is not None:
                self.fjt.preempt("replaced by forward commands")
        except Exception as exc:  # noqa: BLE001
            self._refuse("commands_rejected", f"command rejected: {exc}")
            return
        if self.command_sync:
            self._sync_period()
            self.timer.reset()  # while commands stream, they drive the periods; the timer covers silence

    def _sync_period(self) -> None:
        """Run the control period this command falls in now, instead of at its end.

        The period grid is the real-time one; the current period runs early (its state is stamped
        with its end, at most one and a half periods ahead of the wall clock); a command that comes
        after its period already ran starts the next one if that one is less than half a period
        away (so a stream at the control rate keeps one period per command despite jitter),
        otherwise it waits for the period's end as without sync.

        The grid locks onto the stream's phase: each command that runs a period moves the grid (and
        the stamps with it) a tenth of the way to the command's arrival, so a steady stream settles
        at the start of its periods, the farthest from the half-period edge, and one late or early
        command moves it little. Without the lock, a stream on another clock (another machine)
        walks through the grid and loses a command each time its phase crosses that edge.
        """
        dt = self.hw.control_dt
        now = time.monotonic()
        start = self._wall0 + self.hw.periods * dt  # start of the next period to run
        if start - now <= 0.5 * dt:
            shift = SYNC_PHASE_GAIN * (now - start)
            self._wall0 += shift
            self.hw.t0 += shift
            self._advance()

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
        due = int((time.monotonic() - self._wall0) / self.hw.control_dt) - self.hw.periods
        if due > MAX_CATCHUP_PERIODS:  # fell behind (CPU, rendering): slip the clock, do not burst
            self.overruns += 1
            self._wall0 += (due - MAX_CATCHUP_PERIODS) * self.hw.control_dt
            self.hw.t0 += (due - MAX_CATCHUP_PERIODS) * self.hw.control_dt
            due = MAX_CATCHUP_PERIODS
        for _ in range(max(0, due)):
            self._advance()

    def _advance(self) -> None:
        self.hw.step()
        values = self._publish_outputs()
        if self.fjt is not None:
            from officina.interfaces import JointState

            self.fjt.on_period(JointState(self.hw.now, self.hw.state_names, *(np.array(v) for v in values)))

    # --- outputs --------------------------------------------------------------------------------------
    def _publish_outputs(self) -> tuple[list[float], list[float], list[float]]:
        """Publish what this period produced; returns the joint state's (position, velocity, effort)."""
        hw = self.hw
        now = hw.now
        if self.pub_clock is not None:
            from rosgraph_msgs.msg import Clock

            self.pub_clock.publish(Clock(clock=s_to_time(now)))
        q, qd, effort = hw.state_values()
        if self._js_wire is not None:  # serialized once, refilled: rclpy's raw publish
            self.pub_js.publish(self._js_wire.fill(now, q, qd, effort))
        else:
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
        if self.camera_every and self.pub_rgb is not None and k % self.camera_every == 0:
            subs = (self.pub_rgb.get_subscription_count() + self.pub_depth.get_subscription_count())
            if subs:
                self._publish_camera(now)
        return q, qd, effort

    def _publish_camera(self, now: float) -> None:
        frame = self.hw.camera.capture()
        fid = "camera_optical_frame"
        self.pub_info.publish(camera_info_msg(self.hw.camera.intrinsics, now, fid))
        self.pub_rgb.publish(image_msg(frame.rgb, now, fid, "rgb8"))
        if frame.depth_m is not None:
            self.pub_depth.publish(image_msg(frame.depth_m.astype(np.float32), now, fid, "32FC1"))

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
            if getattr(self, "hw", None) is not None:
                self.hw.close()
        finally:
            super().destroy_node()
