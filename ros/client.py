"""ROS-backed `Arm`, `Gripper` and `Camera`, and a `tick` on the clock in use, so a task's
procedure runs unchanged against whatever arm is behind the gate (the sim or a real driver).

Every command goes to the gate (``/officina/commands``, ``/officina/gripper/commands``), never to
a controller. ``tick()`` returns when ``/joint_states`` shows that one control period of the clock
in use has passed (the arm's own stamps: wall time on hardware, sim time in the sim).
"""

from __future__ import annotations

import time

import numpy as np

from officina.errors import JobFailed
from officina.interfaces import (
    CameraFrame, CameraIntrinsics, ControlMode, GraspState, JointLimits, JointState, Wrench,
)
from officina.ros.convert import (
    MalformedMessage, image_from_msg, intrinsics_from_camera_info, joint_state_from_msg, time_to_s,
)
from officina.ros.qos import qos_command_stream, qos_latched, qos_reliable
from officina.ros.gate_node import COMMANDS_TOPIC, GRIPPER_TOPIC
from officina.ros.robot_profiles import ResolvedProfile

__all__ = ["RosLink", "RosArm", "RosCompliantArm", "ADMITTANCE_NODE", "RosGripper", "RosVacuumGripper", "RosCamera", "RosForceTorqueSensor",
           "make_ros_gripper", "make_ros_wrist"]


class RosLink:
    """The node, executor and latest joint state shared by the ROS-backed devices."""

    def __init__(self, node, executor, resolved: ResolvedProfile, rate_hz: float = 250.0,
                 state_timeout_s: float = 5.0) -> None:
        from sensor_msgs.msg import JointState as JS

        self.node, self.executor, self.resolved = node, executor, resolved
        self.period = 1.0 / rate_hz
        self.state_timeout_s = state_timeout_s
        self.state: JointState | None = None
        self.fingers: JointState | None = None
        self._next_tick: float | None = None
        self.malformed = 0
        self.malformed_why = ""  # why the last malformed /joint_states was ignored
        self.waiting_hooks: list = []  # called while spin_until waits (RosArm keeps its stream alive)
        node.create_subscription(JS, resolved.joint_states, self._on_js, qos_reliable())

    def _on_js(self, msg) -> None:
        try:
            self.state = joint_state_from_msg(msg, self.resolved.joint_names)
            if self.resolved.finger_joints:
                self.fingers = joint_state_from_msg(msg, self.resolved.finger_joints)
        except MalformedMessage as exc:
            self.malformed += 1
            self.malformed_why = str(exc)

    def spin_until(self, pred, timeout: float, what: str) -> None:
        """Spin until ``pred()``; the `waiting_hooks` run after each spin that leaves the caller
        still waiting, not after the one that ends the wait: the caller goes on from there (a
        procedure's `tick` returns to send its next command), so a hook's repeat of the last
        command would be a second command in that period."""
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise JobFailed(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.005)
            if pred():
                return
            for hook in self.waiting_hooks:
                hook()

    def wait_for_state(self, timeout: float = 30.0) -> JointState:
        try:
            self.spin_until(lambda: self.state is not None, timeout, f"{self.resolved.joint_states}")
        except JobFailed:
            if self.malformed:  # they came, with other joint names: say so, not "nothing came"
                raise JobFailed(f"every {self.resolved.joint_states} message ignored ({self.malformed} in "
                                f"{timeout:g} s): {self.malformed_why}") from None
            raise
        return self.state

    def tick(self) -> None:
        """Wait one control period of the clock in use (as stamped on /joint_states)."""
        if self._next_tick is None or self.state.stamp > self._next_tick + self.period:
            self._next_tick = self.state.stamp  # (re)synchronise after a pause of the procedure
        self._next_tick += self.period
        target = self._next_tick - 1e-6
        self.spin_until(lambda: self.state.stamp >= target, self.state_timeout_s,
                        f"{self.resolved.joint_states} (arm not publishing)")


class RosArm:
    """`Arm` over /joint_states and the gate's position-command stream (position mode only:
    the gate filters positions; velocity and torque commands are not forwarded).

    While the procedure waits inside the link (a camera frame, a service) and has let a whole
    control period of the arm's clock pass without a command, the last command is sent again once
    a period: the procedure is alive and holding, so the gate's watchdog, there for a client that
    stopped, does not brake the arm at every capture. A procedure that stops spinning (hung,
    exited) stops the stream and the watchdog holds the arm as before."""

    def __init__(self, link: RosLink, limits: JointLimits) -> None:
        from std_msgs.msg import Float64MultiArray

        self._link = link
        self._limits = limits
        self._msg = Float64MultiArray
        self._pub = link.node.create_publisher(Float64MultiArray, COMMANDS_TOPIC, qos_command_stream())
        self._last = None  # (message, arm-clock stamp when sent)
        link.waiting_hooks.append(self._keep_alive)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._link.resolved.joint_names

    @property
    def limits(self) -> JointLimits:
        return self._limits

    @property
    def control_period(self) -> float:
        return self._link.period

    def read(self) -> JointState:
        return self._link.state

    def set_mode(self, mode: ControlMode) -> None:
        if ControlMode(mode) != ControlMode.POSITION:
            raise ValueError("the ROS arm takes position commands only (the gate filters positions)")

    def command_positions(self, q: np.ndarray, qd: np.ndarray | None = None) -> None:
        m = self._msg(data=[float(x) for x in np.asarray(q, float).reshape(-1)])
        self._pub.publish(m)
        self._last = (m, self._link.state.stamp if self._link.state is not None else None)

    def _keep_alive(self) -> None:
        st = self._link.state
        if self._last is None or st is None:
            return
        m, sent = self._last
        # two periods: a procedure commanding every tick is never repeated (its next command comes
        # one period after the last); one that waits is, once per period
        if sent is None or st.stamp >= sent + 2.0 * self._link.period - 1e-6:
            self._pub.publish(m)
            self._last = (m, st.stamp - self._link.period)

    def command_velocities(self, qd: np.ndarray) -> None:
        raise ValueError("the ROS arm takes position commands only (the gate filters positions)")

    def command_torques(self, tau: np.ndarray) -> None:
        raise ValueError("the ROS arm takes position commands only (the gate filters positions)")

    def fault(self) -> str | None:
        """None: the arm's own stops (protective stop, reflex) and the gate's (e-stop, watchdog,
        disarming) are reported by the driver and on the gate's safety_state, which the task node
        watches."""
        return None

    def clear_fault(self) -> bool:
        return True


ADMITTANCE_NODE = "/officina_sim"  # the node whose ``admittance.*`` parameters configure the admittance


class RosCompliantArm(RosArm):
    """`RosArm` that is also a `CompliantArm`: `set_admittance` sets the ``admittance.*``
    parameters of the arm's admittance controller (``node``; `officina ros sim` runs one)
    together, through its ``set_parameters_atomically`` service, and returns once it has taken
    them. The joint references still go through the gate; the controller offsets them next to the
    arm."""

    def __init__(self, link: RosLink, limits: JointLimits, node: str = ADMITTANCE_NODE) -> None:
        from rcl_interfaces.srv import SetParametersAtomically

        super().__init__(link, limits)
        self._srv_name = f"{node}/set_parameters_atomically"
        self._cli = link.node.create_client(SetParametersAtomically, self._srv_name)
        self.admittance_enabled = False

    def set_admittance(self, config) -> None:
        from dataclasses import asdict

        from rcl_interfaces.srv import SetParametersAtomically
        from rclpy.parameter import Parameter

        from officina.ros.sim_node import ADMITTANCE_PARAMETERS

        fields = asdict(config)
        params = []
        for name, (field_name, _) in ADMITTANCE_PARAMETERS.items():
            v = fields[field_name]
            if isinstance(v, tuple):
                v = [bool(x) for x in v] if field_name == "selected_axes" else [float(x) for x in v]
            elif not isinstance(v, bool):
                v = float(v)
            params.append(Parameter(name, value=v).to_parameter_msg())
        self._link.spin_until(self._cli.service_is_ready, 10.0, f"the admittance controller ({self._srv_name})")
        fut = self._cli.call_async(SetParametersAtomically.Request(parameters=params))
        self._link.spin_until(fut.done, 5.0, f"the answer of {self._srv_name}")
        res = fut.result().result
        if not res.successful:
            raise JobFailed(f"the admittance controller refused its parameters: {res.reason}")
        self.admittance_enabled = bool(config.enabled)


class RosGripper:
    """`Gripper` over the gate (``[width, force]`` commands) and the finger joints on /joint_states.

    `open` and `close` return once the fingers have started to move (or, when they have nowhere
    to go, after `START_TIMEOUT_S` of the arm's clock), as a gripper action's goal is accepted
    before it runs: the command crosses the gate and may wait behind the forward commands queued
    in the controller, and a caller that watches the width for the motion's end must not take
    fingers that have not started yet for fingers that have stopped."""

    START_TIMEOUT_S = 0.3

    def __init__(self, link: RosLink, max_width_m: float, max_force_n: float) -> None:
        from std_msgs.msg import Float64MultiArray

        self._link = link
        self._max_w = float(max_width_m)
        self._max_f = float(max_force_n)
        self._target = self._max_w
        self._msg = Float64MultiArray
        self._pub = link.node.create_publisher(Float64MultiArray, GRIPPER_TOPIC, qos_reliable())

    @property
    def max_width(self) -> float:
        return self._max_w

    def open(self, width: float | None = None) -> None:
        self._target = self._max_w if width is None else float(np.clip(width, 0.0, self._max_w))
        self._send([self._target])

    def close(self, width: float = 0.0, force: float | None = None) -> None:
        self._target = float(np.clip(width, 0.0, self._max_w))
        f = self._max_f if force is None else float(np.clip(force, 0.0, self._max_f))
        self._send([self._target, f])

    def _send(self, data: list[float]) -> None:
        link = self._link
        w0 = self.width()
        self._pub.publish(self._msg(data=data))
        st = link.state
        if st is None or link.fingers is None:
            return
        until = st.stamp + self.START_TIMEOUT_S

        def started() -> bool:
            f = link.fingers
            return (abs(float(np.sum(f.position)) - w0) > 2e-4 or float(np.max(np.abs(f.velocity))) > 5e-3
                    or link.state.stamp >= until)

        link.spin_until(started, link.state_timeout_s + self.START_TIMEOUT_S, f"{link.resolved.joint_states}")

    def width(self) -> float:
        f = self._link.fingers
        return float(np.sum(f.position)) if f is not None else float("nan")

    def grasp_state(self) -> GraspState:
        f = self._link.fingers
        if f is None:
            return GraspState.MOVING
        w = float(np.sum(f.position))
        if float(np.max(np.abs(f.velocity))) > 5e-3:
            return GraspState.MOVING
        if self._target >= self._max_w - 1e-3 and w >= self._target - 2e-3:
            return GraspState.OPEN
        if w > self._target + 3e-3:
            return GraspState.HOLDING
        return GraspState.CLOSED_EMPTY if self._target < 1e-3 else GraspState.OPEN


class RosVacuumGripper:
    """`Gripper` of a vacuum gripper over the gate: ``close`` sends ``[0, force]`` (vacuum on,
    regulated to the force), ``open`` sends ``[max_width]`` (vent); the state is the vacuum switch
    (std_msgs/Bool on ``<gripper_controller>/vacuum_switch``: true while a part is held), read as
    `officina.interfaces.Gripper` documents for a vacuum gripper. A switch tells held or not held
    only: ``grasp_state`` is OPEN, HOLDING or CLOSED_EMPTY (never MOVING), and HOLDING until the
    switch drops after ``open`` (the vent travels through the gate)."""

    def __init__(self, link: RosLink, max_width_m: float, max_force_n: float) -> None:
        from std_msgs.msg import Bool, Float64MultiArray

        self._link = link
        self._max_w = float(max_width_m)
        self._max_f = float(max_force_n)
        self._on = False
        self._holding = False
        self._msg = Float64MultiArray
        self._pub = link.node.create_publisher(Float64MultiArray, GRIPPER_TOPIC, qos_reliable())
        link.node.create_subscription(Bool, link.resolved.vacuum_topic, self._on_switch, qos_latched())

    def _on_switch(self, msg) -> None:
        self._holding = bool(msg.data)

    @property
    def max_width(self) -> float:
        return self._max_w

    def open(self, width: float | None = None) -> None:
        self._on = False
        self._pub.publish(self._msg(data=[self._max_w]))

    def close(self, width: float = 0.0, force: float | None = None) -> None:
        f = self._max_f if force is None else float(np.clip(force, 0.0, self._max_f))
        if f <= 0.0:
            self.open()
            return
        self._on = True
        self._pub.publish(self._msg(data=[0.0, f]))

    def width(self) -> float:
        return self._max_w if (not self._on or self._holding) else 0.0

    def grasp_state(self) -> GraspState:
        """HOLDING while the switch reads a held part (also just after ``open``, until the vent has
        reached the gripper: the part is released when the switch drops), else OPEN when vented or
        CLOSED_EMPTY when the vacuum is on."""
        if self._holding:
            return GraspState.HOLDING
        return GraspState.CLOSED_EMPTY if self._on else GraspState.OPEN


def make_ros_gripper(link: RosLink, spec) -> "RosGripper | RosVacuumGripper | None":
    """The robot's kind of gripper over the gate (``spec``: its `RobotSpec`), None without one."""
    g = spec.gripper
    if g is None:
        return None
    cls = RosVacuumGripper if g.kind == "vacuum" else RosGripper
    return cls(link, g.max_width_m, g.max_force_n)


class RosForceTorqueSensor:
    """`ForceTorqueSensor` over a geometry_msgs/WrenchStamped topic (the sensor frame, as the
    `Wrench` convention reads it): ``read()`` is the latest wrench received."""

    def __init__(self, link: RosLink, topic: str) -> None:
        from geometry_msgs.msg import WrenchStamped

        self._link = link
        self.topic = topic
        self._last: Wrench | None = None
        self.received = 0
        link.node.create_subscription(WrenchStamped, topic, self._on_wrench, qos_reliable())

    def _on_wrench(self, m) -> None:
        f, t = m.wrench.force, m.wrench.torque
        self._last = Wrench(time_to_s(m.header.stamp), np.array([f.x, f.y, f.z]), np.array([t.x, t.y, t.z]))
        self.received += 1

    def wait(self, timeout_s: float) -> bool:
        """True once a wrench has arrived (waiting at most ``timeout_s``)."""
        try:
            self._link.spin_until(lambda: self._last is not None, timeout_s, self.topic)
        except JobFailed:
            return False
        return True

    def read(self) -> Wrench:
        if self._last is None:
            self._link.spin_until(lambda: self._last is not None, self._link.state_timeout_s,
                                  f"the wrist sensor's wrench on {self.topic}")
        return self._last


def make_ros_wrist(link: RosLink, spec, timeout_s: float = 5.0) -> RosForceTorqueSensor | None:
    """The robot's wrist force/torque sensor over its wrench topic, or None when the robot file
    has no sensor or nothing arrives on the topic within ``timeout_s`` (guarded moves then use the
    joint-torque estimate from /joint_states' efforts, as in simulation without a sensor)."""
    if spec.wrist_sensor is None:
        return None
    wrist = RosForceTorqueSensor(link, link.resolved.wrench_topic)
    return wrist if wrist.wait(timeout_s) else None


class RosCamera:
    """`Camera` over ``image_raw`` + ``depth/image_raw`` + ``camera_info`` (subscribed only while
    capturing) and the camera pose (``<camera>/pose``, latched; or given ``world_T_camera``)."""

    def __init__(self, link: RosLink, world_T_camera: np.ndarray | None = None, timeout_s: float = 20.0,
                 topics: dict[str, str] | None = None) -> None:
        """``topics`` overrides the profile's camera topics by key: ``image``, ``depth``,
        ``camera_info``, ``pose`` (e.g. a RealSense's ``/camera/color/image_raw``)."""
        from geometry_msgs.msg import PoseStamped

        self._link = link
        r = link.resolved
        self.topics = {"image": r.camera_topic("image_raw"), "depth": r.camera_topic("depth", "image_raw"),
                       "camera_info": r.camera_topic("camera_info"), "pose": r.camera_topic("pose")}
        unknown = set(topics or {}) - set(self.topics)
        if unknown:
            raise ValueError(f"unknown camera topic keys {sorted(unknown)} (expected {sorted(self.topics)})")
        self.topics.update({k: v for k, v in (topics or {}).items() if v})
        self._T = None if world_T_camera is None else np.asarray(world_T_camera, float)
        self._intr: CameraIntrinsics | None = None
        self.timeout_s = timeout_s
        if self._T is None:
            link.node.create_subscription(PoseStamped, self.topics["pose"], self._on_pose, qos_latched())

    def _on_pose(self, msg) -> None:
        from officina.vision.transforms import pose_to_transform

        p, o = msg.pose.position, msg.pose.orientation
        self._T = pose_to_transform((p.x, p.y, p.z), (o.x, o.y, o.z, o.w))

    @property
    def intrinsics(self) -> CameraIntrinsics:
        if self._intr is None:
            self.capture()
        return self._intr

    def extrinsics(self) -> np.ndarray | None:
        if self._T is None:
            try:
                self._link.spin_until(lambda: self._T is not None, 5.0, "camera pose")
            except JobFailed:
                return None
        return self._T

    def capture(self) -> CameraFrame:
        from sensor_msgs.msg import CameraInfo, Image

        link = self._link
        tp = self.topics
        t_req = link.state.stamp if link.state is not None else 0.0
        got: dict[str, dict[float, object]] = {"rgb": {}, "depth": {}}

        def keep(kind):
            def cb(m):
                got[kind][time_to_s(m.header.stamp)] = m
            return cb

        def on_info(m):
            try:
                self._intr = intrinsics_from_camera_info(m)
            except MalformedMessage:
                pass

        # Reliable: a task needs a matching RGB + depth pair, not the freshest of a lossy stream.
        subs = [link.node.create_subscription(Image, tp["image"], keep("rgb"), qos_reliable(2)),
                link.node.create_subscription(Image, tp["depth"], keep("depth"), qos_reliable(2)),
                link.node.create_subscription(CameraInfo, tp["camera_info"], on_info, qos_reliable(2))]

        def pair():
            common = [t for t in got["rgb"] if t in got["depth"] and t >= t_req]
            return max(common) if common and self._intr is not None else None

        try:
            link.spin_until(lambda: pair() is not None, self.timeout_s,
                            f"camera frames on {tp['image']} + {tp['depth']} + {tp['camera_info']}")
        finally:
            for s in subs:
                link.node.destroy_subscription(s)
        t = pair()
        rgb = image_from_msg(got["rgb"][t])
        depth = image_from_msg(got["depth"][t]).astype(np.float32)
        return CameraFrame(t, rgb, depth)
