"""`officina ros gate`: the safety gate in front of any arm (simulated or real).

In: ``/officina/commands`` (std_msgs/Float64MultiArray, positions in the profile's joint order),
``/officina/joint_trajectory`` (trajectory_msgs/JointTrajectory), ``/officina/gripper/commands``
(``[width_m]`` or ``[width_m, force_n]``), the arm's ``/joint_states``, ``/officina/estop``
(std_msgs/Bool, from reliable or best-effort publishers: a true engages at once, a false releases
once every reader that took a true has taken a false, so a best-effort writer's false does not
release an e-stop a reliable writer engaged; `GateCore.estop_from`) and the ``/officina/arm``
service (std_srvs/SetBool).
Out: the configured controller's ``joint_trajectory`` / forward ``commands`` / gripper topics and
``/officina/safety_state`` (diagnostic_msgs/DiagnosticStatus, latched, on every change and at
``status_hz``). The logic is `officina.ros.gate_core.GateCore`.
"""

from __future__ import annotations

import time

import numpy as np
from rclpy.node import Node

from officina.ros.convert import MalformedMessage, joint_state_from_msg, trajectory_from_msg, trajectory_to_msg
from officina.ros.latency import executor_kind
from officina.ros.params import declare
from officina.ros.qos import qos_best_effort, qos_command_stream, qos_latched, qos_reliable

__all__ = ["GateNode", "COMMANDS_TOPIC", "TRAJECTORY_TOPIC", "GRIPPER_TOPIC", "ARM_SERVICE", "ESTOP_TOPIC",
           "SAFETY_STATE_TOPIC"]

COMMANDS_TOPIC = "/officina/commands"
TRAJECTORY_TOPIC = "/officina/joint_trajectory"
GRIPPER_TOPIC = "/officina/gripper/commands"
ARM_SERVICE = "/officina/arm"
ESTOP_TOPIC = "/officina/estop"
SAFETY_STATE_TOPIC = "/officina/safety_state"
# Streamed commands replaced while one waited for its period before the log says a backlog came
# (a procedure that commands twice in a period, the second superseding the first, replaces one).
BACKLOG_WARN = 10


class GateNode(Node):
    def __init__(self, *, context=None, parameter_overrides=None) -> None:
        super().__init__("officina_gate", context=context, parameter_overrides=parameter_overrides or [])
        from diagnostic_msgs.msg import DiagnosticStatus
        from rclpy.event_handler import SubscriptionEventCallbacks
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, Float64MultiArray
        from std_srvs.srv import SetBool
        from trajectory_msgs.msg import JointTrajectory

        from rclpy.parameter import Parameter

        from officina.controllers.model import RobotModel
        from officina.controllers.safety import SafetyConfig
        from officina.errors import BadInput
        from officina.robots import load_robot
        from officina.ros.gate_core import GateConfig, GateCore, StreamRate
        from officina.ros.jtc import JtcConfig
        from officina.ros.robot_profiles import load_profile, resolve_profile

        p = {
            "robot": declare(self, "robot", "", "officina robot name or YAML path ('' = the profile's robot)"),
            "profile": declare(self, "profile", "default", "ROS profile of the arm behind the gate"),
            "controller": declare(self, "controller", "", "trajectory controller to forward to ('' = profile's)"),
            "namespace": declare(self, "namespace", "", "namespace of the arm's topics ('' = profile's)"),
            "rate_hz": declare(self, "rate_hz", 250.0, "rate of the command stream [Hz] (filter period)",
                               floating_point_range=(1.0, 2000.0)),
            "watchdog_periods": declare(self, "watchdog_periods", 25, "periods without a command before holding"),
            "velocity_scale": declare(self, "velocity_scale", 1.0, "scale of the velocity limits",
                                      floating_point_range=(0.01, 1.0)),
            "acceleration_scale": declare(self, "acceleration_scale", 1.0, "scale of the acceleration limits",
                                          floating_point_range=(0.01, 1.0)),
            "position_margin_rad": declare(self, "position_margin_rad", 0.0, "margin inside the joint limits"),
            "action": declare(self, "action", "clamp", "clamp | reject streamed commands that break a limit"),
            "workspace_min": declare(self, "workspace_min", Parameter.Type.DOUBLE_ARRAY,
                                     "tcp box min xyz [m, base frame] (unset = no box)"),
            "workspace_max": declare(self, "workspace_max", Parameter.Type.DOUBLE_ARRAY,
                                     "tcp box max xyz [m, base frame] (unset = no box)"),
            "state_timeout_s": declare(self, "state_timeout_s", 1.0, "disarm when /joint_states is older (0 = off)",
                                       floating_point_range=(0.0, 3600.0)),
            "status_hz": declare(self, "status_hz", 5.0, "safety_state rate [Hz]",
                                 floating_point_range=(0.1, 100.0)),
            "allow_partial_joints_goal": declare(self, "allow_partial_joints_goal", False, "as the controller"),
            "follow_joint_trajectory": declare(
                self, "follow_joint_trajectory", True,
                "serve /officina/follow_joint_trajectory and use the controller's action, where control_msgs "
                "is importable"),
            "executor": declare(self, "executor", "single",
                                "single: SingleThreadedExecutor | events: rclpy's EventsExecutor (experimental in "
                                "rclpy, dispatch in C++; where rclpy has it, else single)"),
        }
        self.executor_kind = executor_kind(p["executor"])  # run_node builds it
        profile = load_profile(p["profile"])
        spec = load_robot(p["robot"] or profile.robot)
        self.resolved = r = resolve_profile(spec, profile, controller=p["controller"] or None,
                                            namespace=p["namespace"] or None)
        wmin, wmax = list(p["workspace_min"] or []), list(p["workspace_max"] or [])
        box = len(wmin) == 3 and len(wmax) == 3
        if not box and (wmin or wmax):
            raise BadInput("workspace_min/workspace_max: expected 3 values each (or none)")
        try:
            safety = SafetyConfig(
                action=p["action"], velocity_scale=float(p["velocity_scale"]),
                acceleration_scale=float(p["acceleration_scale"]),
                position_margin_rad=float(p["position_margin_rad"]),
                workspace_min=tuple(wmin) if box else None, workspace_max=tuple(wmax) if box else None,
                watchdog_periods=int(p["watchdog_periods"]),
            )
            cfg = GateConfig(rate_hz=float(p["rate_hz"]), safety=safety,
                             jtc=JtcConfig(allow_partial_joints_goal=bool(p["allow_partial_joints_goal"])))
        except ValueError as exc:
            raise BadInput(f"gate parameters: {exc}") from None
        tcp = None
        if box:
            model = RobotModel.from_spec(spec)
            tcp = lambda q: model.frame_transform(q, "tcp")[:3, 3]  # noqa: E731
        self.core = GateCore(r.joint_names, spec.limits, cfg, tcp_position=tcp)
        self.max_gripper_width = spec.gripper.max_width_m if spec.gripper else 0.0
        self.max_gripper_force = spec.gripper.max_force_n if spec.gripper else 0.0
        self.state_timeout_s = float(p["state_timeout_s"])
        self._now = time.monotonic  # the wall clock of the state timeout and of the refusals' log
        self._last_state_wall: float | None = None
        self._logged = ("", 0.0)  # the last refusal logged, and when
        self._state_error = ""  # why the last /joint_states was ignored (a profile's joint names not in it)
        self.stream_rate = StreamRate(cfg.rate_hz)  # the last ~2 s of forwarded commands

        self.pub_traj = self.create_publisher(JointTrajectory, r.trajectory_topic, qos_reliable())
        self.pub_cmd = self.create_publisher(Float64MultiArray, r.commands_topic, qos_command_stream())
        self.pub_grip = self.create_publisher(Float64MultiArray, r.gripper_topic, qos_reliable())
        self.pub_state = self.create_publisher(DiagnosticStatus, SAFETY_STATE_TOPIC, qos_latched())
        # The commands before the states: a round of the single-threaded executor (the default)
        # takes one message from each ready subscription in this order, so after a stall of this
        # process the commands that waited meanwhile are taken before the states that came after
        # them, not after a state that shows their silence to the watchdog (each state lets the
        # one command that waits out). The events executor takes them in the order their events
        # came, and can still meet such a state first.
        self.create_subscription(Float64MultiArray, COMMANDS_TOPIC, self._on_commands, qos_command_stream())
        self.create_subscription(JointState, r.joint_states, self._on_joint_state, qos_reliable())
        self.create_subscription(JointTrajectory, TRAJECTORY_TOPIC, self._on_trajectory, qos_reliable())
        self.create_subscription(Float64MultiArray, GRIPPER_TOPIC, self._on_gripper, qos_reliable())
        # The e-stop is taken from reliable and from best-effort publishers (an e-stop button's
        # bridge or a safety PLC often publishes best effort): a reliable reader matches reliable
        # writers only, a best-effort one matches both but drops what a lossy link loses, so there
        # is one of each. A reliable writer's message reaches both; `GateCore.estop_from` engages
        # on the first copy of a true and releases once the last message on each reader says
        # false and no reader owes a copy of a true (a copy that does not come is waited for
        # briefly). The reliable reader's warning about best-effort writers is left out: the
        # other reader takes them.
        self._estop_subs = {
            "reliable": self.create_subscription(
                Bool, ESTOP_TOPIC, lambda m: self._on_estop(m, "reliable"), qos_reliable(),
                event_callbacks=SubscriptionEventCallbacks(incompatible_qos=lambda _e: None)),
            "best_effort": self.create_subscription(
                Bool, ESTOP_TOPIC, lambda m: self._on_estop(m, "best_effort"), qos_best_effort()),
        }
        self.create_service(SetBool, ARM_SERVICE, self._on_arm)
        self.relay = None
        from officina.ros import fjt

        if p["follow_joint_trajectory"] and fjt.available():
            self.relay = fjt.GateActionRelay(self, r, self._check_goal, self._refuse_goal, self._hold_after_goal)
        self.timer = self.create_timer(1.0 / float(p["status_hz"]), self._on_timer)
        # While an e-stop release waits for a reader's copy, it is looked at every 20 ms (and with
        # every state): the wait counts gaps up to ESTOP_TICK_GAP_S only, so the status timer
        # alone would stretch it (an arm whose states stopped).
        self._estop_timer = self.create_timer(0.02, self._estop_tick)
        self._estop_timer.cancel()
        self._status_sig = None
        self._publish_status(force=True)
        self.get_logger().info(
            f"gate for {spec.name} ({profile.name}, {self.executor_kind} executor): "
            f"{COMMANDS_TOPIC} -> {r.commands_topic}, "
            f"{TRAJECTORY_TOPIC} -> {r.trajectory_topic}; DISARMED (call {ARM_SERVICE})"
        )

    # --- outputs ------------------------------------------------------------------------------------
    def _send(self, fwd, original=None) -> None:
        from std_msgs.msg import Float64MultiArray

        if fwd is None:
            return
        if fwd.kind == "commands":
            self.pub_cmd.publish(Float64MultiArray(data=[float(x) for x in fwd.positions]))
        elif fwd.trajectory is not None:
            self.pub_traj.publish(trajectory_to_msg(fwd.trajectory))
        elif original is not None:
            self.pub_traj.publish(original)

    def _stop_goal(self, why: str) -> None:
        if self.relay is not None:
            self.relay.stop(why)

    def _hold_after_goal(self) -> None:
        """The relay's stopped goal has ended at the controller: command the hold again (while
        disarmed) or the topic's trajectory that replaced the goal (`GateCore.after_stopped_goal`),
        so that it comes after whatever the goal did."""
        self._send(self.core.after_stopped_goal())
        self._publish_status()

    def _refuse_goal(self, why: str) -> None:
        self.core.refuse(why)
        self.get_logger().warning(why)
        self._publish_status()

    def _check_goal(self, trajectory_msg) -> str | None:
        """The relay's check of a FollowJointTrajectory goal: None to forward it, else the refusal."""
        self._check_state()
        before = self.core.counts["refused"]
        try:
            fwd = self.core.on_trajectory(trajectory_from_msg(trajectory_msg), goal=True)
        except Exception as exc:  # noqa: BLE001
            self.core.refuse(f"goal refused: {type(exc).__name__}: {exc}")
            fwd = None
        self._log_refusal(before)
        self._publish_status()
        return None if fwd is not None else (self.core.last_refusal or "goal refused")

    def _publish_status(self, force: bool = False) -> None:
        from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

        # At once on an event (armed, e-stop, hold, mode, a refusal, ...); what changes with every
        # command (stamp, forwarded counts, the filter's clamp counts) goes out at status_hz, so
        # the status topic does not run at the command rate and cost time on every command.
        relay = self.relay
        sig = (self.core.events(), None if relay is None else (relay.ready, tuple(relay.counts.items())))
        if not force and sig == self._status_sig:
            return
        self._status_sig = sig
        vals = self.core.status()
        if relay is not None:
            vals["follow_joint_trajectory"] = "ready" if relay.ready else f"waiting for {relay.downstream}"
            vals.update({k: str(v) for k, v in relay.counts.items()})
        c = self.core
        st = DiagnosticStatus()
        st.level = bytes([2 if c.estopped else (0 if c.armed else 1)])
        st.name = "officina_gate"
        st.hardware_id = self.resolved.spec.name
        st.message = ("E-STOP" if c.estopped else ("armed" if c.armed else "disarmed")) + (
            f"; last refusal: {c.last_refusal}" if c.last_refusal else "")
        st.values = [KeyValue(key=k, value=v) for k, v in vals.items()]
        self.pub_state.publish(st)

    def _log_refusal(self, before: int) -> None:
        """Log a refusal made since ``before`` (the refused count); the same refusal again within
        a second is not logged again (a client streaming at 250 Hz into a disarmed gate would
        print 250 lines a second over the e-stop's); safety_state counts every one."""
        if self.core.counts["refused"] == before:
            return
        why, now = self.core.last_refusal, self._now()
        if why == self._logged[0] and now - self._logged[1] < 1.0:
            return
        self._logged = (why, now)
        self.get_logger().warning(why)

    # --- callbacks -------------------------------------------------------------------------------------
    def _on_joint_state(self, msg) -> None:
        try:
            st = joint_state_from_msg(msg, self.resolved.joint_names)
        except MalformedMessage as exc:
            self._state_error = str(exc)
            self.get_logger().warning(f"ignored joint_states: {exc}", throttle_duration_sec=2.0)
            return
        except Exception as exc:  # noqa: BLE001 - a message never kills the gate
            self.get_logger().error(f"ignored joint_states: {type(exc).__name__}: {exc}", throttle_duration_sec=2.0)
            return
        self._last_state_wall = self._now()
        self._estop_tick()
        forwarded, armed = self.core.counts["forwarded_commands"], self.core.armed
        self._send(self.core.on_joint_state(st))
        if armed and not self.core.armed:  # the stamps stood still (`GateCore.on_joint_state`)
            self._stop_goal(self.core.last_refusal)
            self.get_logger().error(self.core.last_refusal)
        elif self.core.counts["forwarded_commands"] != forwarded:  # the command that waited for this period
            self._check_rate()
        self._publish_status()

    def _on_commands(self, msg) -> None:
        self._check_state()
        before = self.core.counts["refused"]
        forwarded = self.core.counts["forwarded_commands"]
        replaced = self.core.counts["replaced_commands"]
        try:
            fwd = self.core.on_command(np.asarray(msg.data, dtype=float))
            if fwd is not None or self.core.pending is not None:
                self._stop_goal("replaced by streamed commands")
            self._send(fwd)
        except Exception as exc:  # noqa: BLE001
            self.core.refuse(f"command refused: {type(exc).__name__}: {exc}")
        if self.core.counts["forwarded_commands"] != forwarded:
            self._check_rate()
        elif self.core.pending_replaced == BACKLOG_WARN and self.core.counts["replaced_commands"] != replaced:
            self.get_logger().warning(
                f"a backlog of streamed commands arrived within one period of {self.resolved.joint_states} "
                f"(this process or the client's was descheduled): the newest goes out, within the "
                f"filter's limits ({self.core.counts['replaced_commands']} replaced so far)",
                throttle_duration_sec=2.0)
        self._log_refusal(before)
        self._publish_status()

    def _check_rate(self) -> None:
        """Disarm (with the hold of disarming) when the stream comes faster than rate_hz (`StreamRate`)."""
        why = self.stream_rate.add(self.core.state.stamp)
        if why is None:
            return
        self._send(self.core.set_armed(False)[2])  # the hold, as disarming commands it
        self.core.refuse(why)
        self.get_logger().error(why)

    def _on_trajectory(self, msg) -> None:
        self._check_state()
        before = self.core.counts["refused"]
        try:
            fwd = self.core.on_trajectory(trajectory_from_msg(msg))
            if fwd is not None:
                self._stop_goal("replaced by a trajectory on " + TRAJECTORY_TOPIC)
            self._send(fwd, original=msg)
        except Exception as exc:  # noqa: BLE001
            self.core.refuse(f"trajectory refused: {type(exc).__name__}: {exc}")
        self._log_refusal(before)
        self._publish_status()

    def _on_gripper(self, msg) -> None:
        from std_msgs.msg import Float64MultiArray

        self._check_state()
        before = self.core.counts["refused"]
        why = self.core.ready("gripper command")
        a = np.asarray(msg.data, dtype=float)
        if why is None and (a.size not in (1, 2) or not np.all(np.isfinite(a))):
            why = f"gripper command refused: expected [width_m] or [width_m, force_n], got {a.tolist()}"
        if why:
            self.core.refuse(why)
        else:
            out = [float(np.clip(a[0], 0.0, self.max_gripper_width))]
            if a.size == 2:
                out.append(float(np.clip(a[1], 0.0, self.max_gripper_force)))
            self.pub_grip.publish(Float64MultiArray(data=out))
        self._log_refusal(before)
        self._publish_status()

    def _on_estop(self, msg, reader: str = "reliable") -> None:
        engage = bool(msg.data) and not self.core.estopped
        if engage:
            self._stop_goal("e-stop")
        self._send(self.core.estop_from(reader, bool(msg.data), self._estop_publishers(), self._now()))
        self._estop_timer_on()
        if engage:
            self.get_logger().error("E-STOP: forwarding stopped, holding, disarmed")
        self._publish_status()

    def _estop_publishers(self) -> dict[str, int]:
        return {r: sub.get_publisher_count() for r, sub in self._estop_subs.items()}

    def _estop_tick(self) -> None:
        """Go on with an e-stop release that waits for a reader's copy (`GateCore.estop_tick`)."""
        if self.core.release_waits:
            self.core.estop_tick(self._estop_publishers(), self._now())
            self._estop_timer_on()
            if not self.core.estopped:
                self._publish_status()

    def _estop_timer_on(self) -> None:
        """The release's timer runs while a release waits for a reader's copy (`GateCore.copy_waits`)."""
        waits = self.core.copy_waits
        if waits == self._estop_timer.is_canceled():
            if waits:
                self._estop_timer.reset()
            else:
                self._estop_timer.cancel()

    def _on_arm(self, request, response):
        if not request.data:
            self._stop_goal("disarmed")
        age = self._state_age()
        if request.data and age is not None and self.state_timeout_s > 0 and age > self.state_timeout_s:
            # the filter would start from a state the arm may have left (and the timer would disarm
            # again at its next tick, with a hold from that state)
            ok, fwd = False, None
            message = f"refused: no /joint_states for {age:.1f} s (state_timeout_s {self.state_timeout_s:g} s)"
        else:
            ok, message, fwd = self.core.set_armed(bool(request.data))
            if not ok and self.core.state is None and self._state_error:
                message = f"refused: every {self.resolved.joint_states} ignored: {self._state_error}"
            if ok and request.data and not (self.pub_cmd.get_subscription_count()
                                            or self.pub_traj.get_subscription_count()):
                r = self.resolved
                message += (f" (but nothing subscribes to {r.commands_topic} or {r.trajectory_topic}: "
                            "check the profile, the controller names and that they are loaded)")
        self.stream_rate.clear()
        self._send(fwd)
        response.success = ok
        response.message = message
        self.get_logger().info(f"arm({request.data}): {message}")
        self._publish_status()
        return response

    def _state_age(self) -> float | None:
        """Seconds since the last /joint_states arrived (wall clock; None before the first)."""
        return None if self._last_state_wall is None else self._now() - self._last_state_wall

    def _check_state(self) -> None:
        """Disarm (with the hold of disarming) when armed and /joint_states is older than
        state_timeout_s: at the status rate, and before any command is taken, so none is
        forwarded against a lost state between two ticks."""
        age = self._state_age()
        if self.state_timeout_s > 0 and self.core.armed and age is not None and age > self.state_timeout_s:
            why = f"disarmed: no /joint_states for {self.state_timeout_s} s"
            self._stop_goal(why)
            self._send(self.core.state_lost(why))  # the hold, as disarming commands it
            self.get_logger().error(why)
            self._publish_status()

    def _on_timer(self) -> None:
        self._estop_tick()
        self._check_state()
        self._publish_status(force=True)
