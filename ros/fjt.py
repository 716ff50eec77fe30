"""FollowJointTrajectory (control_msgs) as joint_trajectory_controller serves it, where
``control_msgs`` is importable (RoboStack on lab machines; PyPI has no wheel).

The topic interface (`officina.ros.jtc`) is the one that works everywhere; this module adds, on
top of the same validation and follower:

* the action ``/<ns>/<controller>/follow_joint_trajectory`` served by the sim
  (`FollowJointTrajectoryServer`), and
* the ``/<ns>/<controller>/controller_state`` topic (control_msgs/JointTrajectoryControllerState).

Goal semantics (ros2_controllers ``joint_trajectory_controller``, "Action Server" and
``tolerances.hpp``): an invalid trajectory (same rules as the topic) or a tolerance naming an
unknown joint is rejected at the goal callback; an accepted goal replaces whatever runs (a goal
still active is aborted, error_string says it was preempted; a trajectory on the topic does the
same); each period the actual state is compared with the reference: before the last point's time
a path tolerance violation aborts the goal (PATH_TOLERANCE_VIOLATED) and the arm holds; after it,
the goal succeeds as soon as every joint is within its goal tolerance (default: only the velocity,
``stopped_velocity_tolerance`` 0.01 rad/s), or aborts (GOAL_TOLERANCE_VIOLATED) once
``goal_time_tolerance`` has passed (0 = wait without limit). A tolerance of 0 keeps the
controller's default, -1 removes it. A cancel request holds the current reference and ends the
goal canceled with SUCCESSFUL.

`Tolerances`, `tolerances_from_goal` and `GoalMonitor` know no rclpy (tests drive them directly).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = [
    "available", "ErrorCode", "Tolerances", "tolerances_from_goal", "GoalMonitor", "Outcome",
    "FollowJointTrajectoryServer", "GateActionRelay", "GATE_ACTION", "action_name", "controller_state_topic",
]


def available() -> bool:
    """True where ``control_msgs`` (with its FollowJointTrajectory action) can be imported."""
    try:
        if importlib.util.find_spec("control_msgs") is None:
            return False
        from control_msgs.action import FollowJointTrajectory  # noqa: F401
        return True
    except Exception:  # noqa: BLE001 - a broken install counts as absent
        return False


def action_name(resolved) -> str:
    from officina.ros.robot_profiles import topic

    return topic(resolved.namespace, resolved.controller, "follow_joint_trajectory")


def controller_state_topic(resolved) -> str:
    from officina.ros.robot_profiles import topic

    return topic(resolved.namespace, resolved.controller, "controller_state")


class ErrorCode:
    """control_msgs/action/FollowJointTrajectory_Result error codes."""

    SUCCESSFUL = 0
    INVALID_GOAL = -1
    INVALID_JOINTS = -2
    OLD_HEADER_TIMESTAMP = -3
    PATH_TOLERANCE_VIOLATED = -4
    GOAL_TOLERANCE_VIOLATED = -5


@dataclass(frozen=True)
class Tolerances:
    """Per joint (controller order): 0 = not checked. ``goal_time`` 0 = wait without limit."""

    path_position: np.ndarray
    path_velocity: np.ndarray
    path_acceleration: np.ndarray
    goal_position: np.ndarray
    goal_velocity: np.ndarray
    goal_acceleration: np.ndarray
    goal_time: float = 0.0

    @classmethod
    def defaults(cls, n: int, stopped_velocity_tolerance: float = 0.01, goal_time: float = 0.0) -> "Tolerances":
        z = np.zeros(n)
        return cls(z, z.copy(), z.copy(), z.copy(), np.full(n, float(stopped_velocity_tolerance)), z.copy(),
                   float(goal_time))


def _merge(default: np.ndarray, given: float) -> float:
    if given < 0:
        return 0.0  # -1: "erased", no restriction
    if given == 0:
        return float(default)
    return float(given)


def tolerances_from_goal(goal: Any, joints: Sequence[str], defaults: Tolerances) -> Tolerances:
    """Apply a goal's ``path_tolerance``, ``goal_tolerance`` (control_msgs/JointTolerance[]) and
    ``goal_time_tolerance`` to ``defaults``. Raises ValueError naming an unknown joint."""
    joints = list(joints)
    out = {k: np.array(getattr(defaults, k), float) for k in (
        "path_position", "path_velocity", "path_acceleration", "goal_position", "goal_velocity",
        "goal_acceleration")}
    for kind in ("path", "goal"):
        for tol in getattr(goal, f"{kind}_tolerance", None) or []:
            if tol.name not in joints:
                raise ValueError(f"{kind}_tolerance names unknown joint {tol.name!r} (joints: {joints})")
            i = joints.index(tol.name)
            for field in ("position", "velocity", "acceleration"):
                key = f"{kind}_{field}"
                out[key][i] = _merge(out[key][i], float(getattr(tol, field)))
    gtt = getattr(goal, "goal_time_tolerance", None)
    goal_time = defaults.goal_time
    if gtt is not None:
        s = float(gtt.sec) + float(gtt.nanosec) * 1e-9
        if s < 0:
            raise ValueError(f"goal_time_tolerance {s} s is negative")
        if s > 0:
            goal_time = s
    return Tolerances(goal_time=goal_time, **out)


def _violations(err_q, err_qd, err_qdd, tol_q, tol_qd, tol_qdd, joints) -> list[str]:
    bad = []
    for name, err, tol in (("position", err_q, tol_q), ("velocity", err_qd, tol_qd),
                           ("acceleration", err_qdd, tol_qdd)):
        if err is None:
            continue
        over = (tol > 0) & (np.abs(err) > tol)
        for i in np.nonzero(over)[0]:
            bad.append(f"{joints[i]} {name} error {err[i]:+.4g} beyond {tol[i]:.4g}")
    return bad


@dataclass(frozen=True)
class Outcome:
    """How a goal ended: ``status`` is "succeeded" | "aborted" | "canceled"."""

    status: str
    error_code: int
    error_string: str


class GoalMonitor:
    """Watches one accepted goal's trajectory against the actual state, period by period."""

    def __init__(self, end_time: float, tolerances: Tolerances, joints: Sequence[str]) -> None:
        self.end_time = float(end_time)
        self.tol = tolerances
        self.joints = list(joints)

    def update(self, t: float, desired: tuple, actual_q: np.ndarray, actual_qd: np.ndarray,
               actual_qdd: np.ndarray | None = None) -> Outcome | None:
        """``desired`` (q, qd, qdd) sampled for time ``t``; None while the goal runs on."""
        dq = np.asarray(actual_q, float) - desired[0]
        dqd = np.asarray(actual_qd, float) - desired[1]
        dqdd = None if actual_qdd is None else np.asarray(actual_qdd, float) - desired[2]
        tol = self.tol
        if t < self.end_time:
            bad = _violations(dq, dqd, dqdd, tol.path_position, tol.path_velocity, tol.path_acceleration,
                              self.joints)
            if bad:
                return Outcome("aborted", ErrorCode.PATH_TOLERANCE_VIOLATED,
                               "path tolerance violated: " + "; ".join(bad))
            return None
        bad = _violations(dq, dqd, dqdd, tol.goal_position, tol.goal_velocity, tol.goal_acceleration, self.joints)
        if not bad:
            return Outcome("succeeded", ErrorCode.SUCCESSFUL, "Goal successfully reached!")
        late = t - self.end_time
        if tol.goal_time > 0 and late > tol.goal_time:
            return Outcome("aborted", ErrorCode.GOAL_TOLERANCE_VIOLATED,
                           f"goal tolerance violated {late:.3f} s after the trajectory's end "
                           f"(goal_time_tolerance {tol.goal_time:.3f} s): " + "; ".join(bad))
        return None


def _point_msg(q, qd=None, qdd=None, effort=None):
    from trajectory_msgs.msg import JointTrajectoryPoint

    p = JointTrajectoryPoint()
    p.positions = [float(x) for x in q]
    if qd is not None:
        p.velocities = [float(x) for x in qd]
    if qdd is not None:
        p.accelerations = [float(x) for x in qdd]
    if effort is not None:
        p.effort = [float(x) for x in effort]
    return p


class FollowJointTrajectoryServer:
    """The sim's FollowJointTrajectory action server and controller_state publisher.

    The node owns the control loop: it calls `on_period()` after every control period and
    `on_topic_trajectory()` when the topic replaced the reference. Goals are handled in the node's
    executor (the execute callback awaits a future the control loop completes).
    """

    def __init__(self, node, hw, resolved, *, stopped_velocity_tolerance: float = 0.01,
                 goal_time: float = 0.0, feedback_hz: float = 100.0) -> None:
        from control_msgs.action import FollowJointTrajectory
        from control_msgs.msg import JointTrajectoryControllerState
        from rclpy.action import ActionServer, CancelResponse, GoalResponse

        from officina.ros.qos import qos_reliable

        self.node, self.hw, self.resolved = node, hw, resolved
        self.joints = list(resolved.joint_names)
        self.defaults = Tolerances.defaults(len(self.joints), stopped_velocity_tolerance, goal_time)
        self._FJT = FollowJointTrajectory
        self._GoalResponse, self._CancelResponse = GoalResponse, CancelResponse
        self.feedback_every = max(1, int(round(1.0 / (feedback_hz * hw.control_dt)))) if feedback_hz > 0 else 0
        self.active = None  # dict: handle, monitor, future
        self.pub_state = node.create_publisher(JointTrajectoryControllerState, controller_state_topic(resolved),
                                               qos_reliable())
        self.server = ActionServer(node, FollowJointTrajectory, action_name(resolved),
                                   execute_callback=self._execute, goal_callback=self._on_goal,
                                   cancel_callback=self._on_cancel)
        self.counts = {"goals_accepted": 0, "goals_rejected": 0, "goals_succeeded": 0, "goals_aborted": 0,
                       "goals_canceled": 0}

    # --- action callbacks ---------------------------------------------------------------------------
    def _validate(self, goal):
        from officina.ros.convert import trajectory_from_msg
        from officina.ros.jtc import validate_trajectory

        traj = validate_trajectory(trajectory_from_msg(goal.trajectory), self.joints, self.hw.now,
                                   self.hw.follower.desired[0], self.hw.setup.jtc)
        tol = tolerances_from_goal(goal, self.joints, self.defaults)
        return traj, tol

    def _on_goal(self, goal):
        try:
            self._validate(goal)
        except Exception as exc:  # noqa: BLE001 - a goal never kills the node
            self.counts["goals_rejected"] += 1
            self.hw.last_reason = f"goal rejected: {exc}"
            self.node.get_logger().warning(self.hw.last_reason)
            return self._GoalResponse.REJECT
        return self._GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle):
        return self._CancelResponse.ACCEPT

    async def _execute(self, goal_handle):
        try:
            return await self._run_goal(goal_handle)
        except Exception as exc:  # noqa: BLE001 - a goal never kills the node (and under rclpy 9.1.2's
            # EventsExecutor a task that raises is a SIGSEGV)
            self.node.get_logger().error(f"goal failed: {type(exc).__name__}: {exc}")
            self.active = None
            try:
                goal_handle.abort()
            except Exception:  # noqa: BLE001 - already terminal
                pass
            res = self._FJT.Result()
            res.error_code = int(ErrorCode.INVALID_GOAL)
            res.error_string = f"{type(exc).__name__}: {exc}"
            return res

    async def _run_goal(self, goal_handle):
        from rclpy.task import Future

        try:
            traj, tol = self._validate(goal_handle.request)  # again: time has passed since the goal callback
        except Exception as exc:  # noqa: BLE001
            return self._finish(goal_handle, Outcome("aborted", ErrorCode.INVALID_GOAL, str(exc)))
        self.preempt("preempted by a new goal")
        self.hw.follower.set_trajectory(traj)
        self.hw.source = "trajectory"
        self.hw.counts["trajectories_accepted"] += 1
        self.counts["goals_accepted"] += 1
        fut = Future()
        self.active = {"handle": goal_handle, "monitor": GoalMonitor(traj.end, tol, self.joints), "future": fut,
                       "start": max(traj.start, traj.received), "k": 0}
        outcome = await fut
        return self._finish(goal_handle, outcome)

    def _finish(self, goal_handle, outcome: Outcome):
        res = self._FJT.Result()
        res.error_code = int(outcome.error_code)
        res.error_string = outcome.error_string
        if outcome.status == "succeeded":
            goal_handle.succeed()
        elif outcome.status == "canceled" and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        self.counts[f"goals_{outcome.status}"] += 1
        return res

    def _end(self, outcome: Outcome) -> None:
        act, self.active = self.active, None
        if act is not None and not act["future"].done():
            act["future"].set_result(outcome)

    # --- from the node's loop -------------------------------------------------------------------------
    def preempt(self, why: str) -> None:
        """A new reference (goal or topic trajectory/command) replaces the active goal: abort it."""
        if self.active is not None:
            self._end(Outcome("aborted", ErrorCode.INVALID_GOAL, why))

    def on_period(self, actual) -> None:
        """After a control period: goal bookkeeping, feedback, controller_state. ``actual``: the
        arm's JointState (controller order, first ``len(joints)`` entries)."""
        n = len(self.joints)
        q, qd = np.asarray(actual.position[:n], float), np.asarray(actual.velocity[:n], float)
        desired = self.hw.follower.desired
        now = self.hw.now
        act = self.active
        if act is not None:
            handle = act["handle"]
            if handle.is_cancel_requested:
                self.hw.follower.hold(desired[0])
                self._end(Outcome("canceled", ErrorCode.SUCCESSFUL, "goal canceled: holding"))
            elif now >= act["start"] - 1e-12:
                out = act["monitor"].update(now, desired, q, qd)
                if out is not None:
                    if out.status == "aborted":
                        self.hw.follower.hold(q)  # as the JTC: hold where the arm is
                    self._end(out)
                elif self.feedback_every and act["k"] % self.feedback_every == 0:
                    handle.publish_feedback(self._feedback(now, desired, q, qd))
                act["k"] += 1
        if self.pub_state.get_subscription_count():
            self.pub_state.publish(self._state(now, desired, q, qd))

    def _feedback(self, now, desired, q, qd):
        from officina.ros.convert import s_to_time

        fb = self._FJT.Feedback()
        fb.header.stamp = s_to_time(now)
        fb.joint_names = self.joints
        fb.desired = _point_msg(desired[0], desired[1], desired[2])
        fb.actual = _point_msg(q, qd)
        fb.error = _point_msg(desired[0] - q, desired[1] - qd)
        return fb

    def _state(self, now, desired, q, qd):
        from control_msgs.msg import JointTrajectoryControllerState

        from officina.ros.convert import s_to_time

        m = JointTrajectoryControllerState()
        m.header.stamp = s_to_time(now)
        m.joint_names = self.joints
        ref = _point_msg(desired[0], desired[1], desired[2])
        fb = _point_msg(q, qd)
        err = _point_msg(desired[0] - q, desired[1] - qd)
        for field, val in (("reference", ref), ("feedback", fb), ("error", err), ("output", ref),
                           ("desired", ref), ("actual", fb)):  # desired/actual: control_msgs < 5 (Humble)
            if hasattr(m, field):
                setattr(m, field, val)
        return m

    def close(self) -> None:
        self.preempt("the controller is shutting down")
        self.server.destroy()


GATE_ACTION = "/officina/follow_joint_trajectory"


class GateActionRelay:
    """The gate's FollowJointTrajectory: serves ``/officina/follow_joint_trajectory`` (point MoveIt
    or any action client here) and, for a goal the gate accepts, uses the controller's own action
    (``/<ns>/<controller>/follow_joint_trajectory``), relaying its feedback and result.

    A goal is checked like a trajectory on ``/officina/joint_trajectory`` (armed, not e-stopped,
    joint_trajectory_controller rules, limits, workspace) by ``check(trajectory_msg)``, which returns
    a refusal reason or None; the relay's own reasons (a tolerance naming an unknown joint, the
    controller's action not available) go to ``refuse(why)``. `stop(why)` (e-stop, disarm) cancels the controller's goal and aborts
    the client's with ``why``; the gate commands its hold as for any trajectory, at once. The
    controller may still take the goal after that hold (its acceptance was on its way when the
    stop came: the goal then replaces the hold until the cancel reaches it), and a cancel that
    reaches it after the hold holds the arm where it finds it: so once a stopped goal has ended at
    the controller, ``hold()`` is called, for the gate to command again, last, its hold or the
    newest command (a trajectory on the topic that replaced the goal: `GateCore.after_stopped_goal`).
    """

    def __init__(self, node, resolved, check, refuse, hold=None) -> None:
        from control_msgs.action import FollowJointTrajectory
        from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse

        self.node, self.check, self.refuse, self.hold = node, check, refuse, hold
        self.joints = list(resolved.joint_names)
        self._FJT = FollowJointTrajectory
        self._GoalResponse, self._CancelResponse = GoalResponse, CancelResponse
        self.downstream = action_name(resolved)
        self.client = ActionClient(node, FollowJointTrajectory, self.downstream)
        self.server = ActionServer(node, FollowJointTrajectory, GATE_ACTION, execute_callback=self._execute,
                                   goal_callback=self._on_goal, cancel_callback=self._on_cancel)
        self.active: dict | None = None
        self.counts = {"goals_forwarded": 0, "goals_refused": 0}
        # rclpy runs an accepted goal's execute callback as a task of its own, after the goal
        # callback: other callbacks (an e-stop, a disarm, a streamed command) may run in between.
        # Each `stop` counts one; a goal accepted before the last stop is not sent on.
        self._stops = 0
        self._last_stop = ""
        self._accepted: dict[int, tuple[object, int]] = {}  # id(goal) -> (goal, stops when accepted)

    @property
    def ready(self) -> bool:
        return self.client.server_is_ready()

    def _on_goal(self, goal):
        why = None
        try:
            tolerances_from_goal(goal, self.joints, Tolerances.defaults(len(self.joints)))
        except ValueError as exc:
            why = f"goal refused: {exc}"
        if why is None and not self.ready:
            why = f"goal refused: the controller's action {self.downstream} is not available"
        if why is not None:
            self.refuse(why)
        else:
            why = self.check(goal.trajectory)
        if why is not None:
            self.counts["goals_refused"] += 1
            return self._GoalResponse.REJECT
        self._accepted[id(goal)] = (goal, self._stops)
        return self._GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle):
        act = self.active
        if act is not None and act["up"] is goal_handle and act.get("down") is not None:
            act["down"].cancel_goal_async()
        return self._CancelResponse.ACCEPT

    def _result(self, code: int, text: str):
        r = self._FJT.Result()
        r.error_code, r.error_string = int(code), text
        return r

    async def _execute(self, goal_handle):
        from action_msgs.msg import GoalStatus

        accepted = self._accepted.pop(id(goal_handle.request), None)
        if accepted is None or accepted[0] is not goal_handle.request or accepted[1] != self._stops:
            why = self._last_stop if accepted is not None else "not accepted by the gate's check"
            goal_handle.abort()
            return self._result(ErrorCode.INVALID_GOAL, f"goal not sent on: {why} after it was accepted")
        if self.active is not None:  # as the controller: a new goal preempts the running one
            self._cancel_active("preempted by a new goal")
        act = {"up": goal_handle, "down": None, "why": None, "stopped": False}
        self.active = act
        try:
            down = await self.client.send_goal_async(
                goal_handle.request, feedback_callback=lambda fb: goal_handle.publish_feedback(fb.feedback))
            if not down.accepted:
                goal_handle.abort()
                return self._result(ErrorCode.INVALID_GOAL, f"the controller ({self.downstream}) rejected the goal")
            self.counts["goals_forwarded"] += 1
            act["down"] = down
            if act["why"] is not None:  # stopped while the goal was on its way
                down.cancel_goal_async()
            if goal_handle.is_cancel_requested:
                down.cancel_goal_async()
            res = await down.get_result_async()
        finally:
            if self.active is act:
                self.active = None
        if act["stopped"] and self.hold is not None:
            try:
                self.hold()  # the goal has ended at the controller: the hold goes out after it
            except Exception as exc:  # noqa: BLE001 - a task that raises is a SIGSEGV under rclpy 9.1.2's EventsExecutor
                self.node.get_logger().error(f"hold after a stopped goal failed: {type(exc).__name__}: {exc}")
        result = res.result
        if res.status == GoalStatus.STATUS_SUCCEEDED and act["why"] is None:
            goal_handle.succeed()
        elif res.status == GoalStatus.STATUS_CANCELED and goal_handle.is_cancel_requested and act["why"] is None:
            goal_handle.canceled()
        else:
            goal_handle.abort()
            if act["why"] is not None:
                result = self._result(ErrorCode.INVALID_GOAL, act["why"])
        return result

    def stop(self, why: str) -> None:
        """Cancel the controller's goal now; the client's goal ends aborted with ``why``; a goal
        accepted but not yet executing is not sent on."""
        self._stops += 1
        self._last_stop = why
        self._cancel_active(why, stopped=True)

    def _cancel_active(self, why: str, stopped: bool = False) -> None:
        act = self.active
        if act is None:
            return
        act["why"] = why
        act["stopped"] = act["stopped"] or stopped
        if act["down"] is not None:
            act["down"].cancel_goal_async()

    def close(self) -> None:
        self.stop("the gate is shutting down")
        self.server.destroy()
        self.client.destroy()
