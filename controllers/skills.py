"""Skills: joint moves, pose moves, straight-line moves, grasp and release.

Skills talk to hardware only through the `Arm` and `Gripper` interfaces and advance time with
the ``tick`` callable of the runtime (simulation: one control period of physics; real arm:
wait for the next control period). They are the same code in simulation and on a real arm.

When the arm stops on its own (a protective stop: `Arm.fault`), the skill under way ends at once
with ``SkillStatus.PROTECTIVE_STOP`` and the reason; the procedure decides what to do (clear the
fault with `Skills.clear_fault`, back off, skip the object). `Skills.move_until_contact` is the
guarded move: a straight line that stops when the contact force along it reaches a threshold,
measured by a wrist force/torque sensor or, without one, estimated from the joint torques.

With a `PlanningScene`, motions are collision-aware: ``move_joints`` and ``move_to_pose`` take
the direct joint-space path when it keeps the padding and plan around obstacles otherwise
(OMPL, `officina.controllers.planning`); ``move_line`` stays straight and refuses, with the
reason, when the line would collide. Without a scene they move as planned, unchecked (apart
from the optional ``min_link_z`` floor).
"""

from __future__ import annotations

import enum
import itertools
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from officina.controllers.ik import solve_ik
from officina.controllers.model import RobotModel
from officina.controllers.planning.collision import CollisionChecker
from officina.controllers.planning.planner import MotionPlanner, PlannerSettings, PlanStatus
from officina.controllers.planning.scene import PlanningScene
from officina.controllers.trajectory import (
    JointTrajectory,
    TrajectoryError,
    plan_cartesian_line,
    plan_joint_move,
    time_scale,
    torque_time_scale,
)
from officina.interfaces import Arm, ForceTorqueSensor, Gripper

__all__ = ["SkillStatus", "SkillResult", "Skills"]

# A guarded move that reaches the end of its line without contact holds the end until the arm is
# within this of it [rad, every joint], for at most CATCH_UP_S [s], before it reports no contact.
CATCH_UP_TOL_RAD = 2e-3
CATCH_UP_S = 1.0


class SkillStatus(str, enum.Enum):
    OK = "ok"
    IK_FAILED = "ik_failed"
    PLANNING_FAILED = "planning_failed"
    COLLISION = "collision"  # the motion would collide (a straight line that cannot go around)
    GRASP_EMPTY = "grasp_empty"
    PROTECTIVE_STOP = "protective_stop"  # the arm stopped on contact nobody planned for
    NO_CONTACT = "no_contact"  # a guarded move reached its end without touching anything
    GRIPPER_FAILED = "gripper_failed"  # the gripper did not carry out its command (stopped short, timed out)


@dataclass(frozen=True)
class SkillResult:
    status: SkillStatus
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == SkillStatus.OK


class Skills:
    """Motion skills over an Arm (position mode) and a Gripper.

    ``tick()`` advances one control period. ``velocity_scale`` scales the joint velocity,
    acceleration and jerk limits used by Ruckig; ``linear_speed_m_s`` and ``linear_accel_m_s2``
    (jerk ten times that, per second) bound the tcp's straight lines. With ``effort_fraction``
    every motion is slowed down, uniformly along its path, until the joint torques the control
    model computes for it stay within the effort limits (gravity in full, the dynamics within
    that fraction of the rest): fast moves that the actuators could not follow are not
    commanded. ``max_tcp_speed_m_s`` caps the tcp speed of every motion (a collaborative robot's
    tool speed limit): a joint move that would be faster is timed again with lower joint velocity
    limits (its accelerations kept), and what is still too fast is slowed down as a whole.
    ``planning_scene`` (with ``padding_m`` and ``world_T_base``, the base's pose in the scene's
    frame) makes the motions collision-aware.
    """

    def __init__(
        self,
        arm: Arm,
        gripper: Gripper | None,
        model: RobotModel,
        tick: Callable[[], None],
        *,
        rng: np.random.Generator,
        velocity_scale: float = 0.5,
        linear_speed_m_s: float = 0.15,
        linear_accel_m_s2: float = 1.0,
        min_link_z: float | None = None,
        planning_scene: PlanningScene | None = None,
        padding_m: float = 0.01,
        world_T_base: np.ndarray | None = None,
        planner_settings: PlannerSettings | None = None,
        effort_fraction: float | None = None,
        max_tcp_speed_m_s: float | None = None,
    ) -> None:
        self.arm = arm
        self.gripper = gripper
        self.model = model
        self.tick = tick
        self.rng = rng
        self.velocity_scale = velocity_scale
        self.linear_speed_m_s = linear_speed_m_s
        if not linear_accel_m_s2 > 0:
            raise ValueError(f"linear_accel_m_s2 must be positive, got {linear_accel_m_s2}")
        self.linear_accel_m_s2 = float(linear_accel_m_s2)
        self.min_link_z = min_link_z
        self.effort_fraction = effort_fraction
        self.dt = arm.control_period
        if max_tcp_speed_m_s is not None and not max_tcp_speed_m_s > 0:
            raise ValueError(f"max_tcp_speed_m_s must be positive, got {max_tcp_speed_m_s}")
        self.max_tcp_speed_m_s = max_tcp_speed_m_s
        self._q_cmd = arm.read().position.copy()
        self.scene = planning_scene
        self.checker: CollisionChecker | None = None
        self.planner: MotionPlanner | None = None
        if planning_scene is not None:
            self.checker = CollisionChecker(model, planning_scene, padding_m=padding_m, world_T_base=world_T_base)
            settings = planner_settings or PlannerSettings(
                velocity_scale=velocity_scale, acceleration_scale=velocity_scale, jerk_scale=velocity_scale)
            self.planner = MotionPlanner(model, self.checker, self.dt, settings)

    @property
    def q_command(self) -> np.ndarray:
        """The last commanded joint positions (the reference, not the measurement)."""
        return self._q_cmd.copy()

    def tcp_speed_peak(self, traj: JointTrajectory) -> float:
        """Largest tcp speed along ``traj`` (m/s), from its samples every 10 ms and its last."""
        step = max(1, int(round(0.01 / self.dt)))
        idx = list(range(0, len(traj), step)) + [len(traj) - 1]
        return max((float(np.linalg.norm(self.model.jacobian(traj.q[i], "tcp")[:3] @ traj.qd[i])) for i in idx),
                   default=0.0)

    def execute(self, traj: JointTrajectory) -> SkillResult:
        """Stream ``traj`` one sample per control period. With ``effort_fraction`` or
        ``max_tcp_speed_m_s``, a trajectory too fast for the joints' torques or the tool speed limit
        is first slowed down as a whole (the same path, in more time). When the arm reports a speed
        override (``speed_scaling``, the robot's safety system slowing it down), the trajectory's
        time advances by ``scaling x dt`` per period instead (samples interpolated): the path stays
        the planned one, only slower, and it halts while the override is 0."""
        if self.effort_fraction is not None:
            # no faster than the joints' torques allow (the model's inverse dynamics)
            traj = time_scale(traj, torque_time_scale(self.model, traj, self.effort_fraction))
        cap = self.max_tcp_speed_m_s
        if cap is not None and len(traj) > 1:
            peak = self.tcp_speed_peak(traj)
            if peak > cap:
                traj = time_scale(traj, peak / (0.98 * cap))
        arm, tick = self.arm, self.tick
        qs, qds = traj.q, traj.qd
        last = len(qs) - 1
        idx = 0.0
        s = 1.0
        while last >= 0:
            i = min(int(idx), last)
            f = idx - i
            if f > 1e-12 and i < last:
                q = (1.0 - f) * qs[i] + f * qs[i + 1]
                qd = s * ((1.0 - f) * qds[i] + f * qds[i + 1])
            else:
                q = qs[i]
                qd = qds[i] if s == 1.0 else s * qds[i]  # (1.0 * x is x, bit for bit)
            arm.command_positions(q, qd)
            self._q_cmd = q
            tick()
            if arm.fault() is not None:
                return self._stopped()
            if i >= last:
                break
            s = float(getattr(arm, "speed_scaling", 1.0))  # an arm without an override: 1
            idx = min(idx + s, float(last))
        return SkillResult(SkillStatus.OK)

    def _stopped(self) -> SkillResult | None:
        """The arm's own stop, if it made one: the reference becomes where the arm is."""
        why = self.arm.fault()
        if why is None:
            return None
        self._q_cmd = self.arm.read().position.copy()
        return SkillResult(SkillStatus.PROTECTIVE_STOP, why)

    def resync(self) -> None:
        """The reference becomes where the arm is: after the procedure drove the arm itself (a
        torque-mode phase, a compliant motion), before the next skill."""
        self._q_cmd = self.arm.read().position.copy()

    def clear_fault(self) -> bool:
        """Resume after a protective stop; the next motion starts where the arm stopped."""
        ok = bool(self.arm.clear_fault())
        self._q_cmd = self.arm.read().position.copy()
        return ok

    def move_until_contact(self, direction: np.ndarray, max_distance_m: float, force_n: float, *,
                           speed_m_s: float = 0.02, wrist: ForceTorqueSensor | None = None,
                           wrist_R_base: np.ndarray | None = None, average_periods: int = 1) -> SkillResult:
        """The guarded move: the tcp along ``direction`` (base frame) for at most ``max_distance_m``
        at ``speed_m_s``, stopping when the contact force against the motion reaches ``force_n``.

        The force comes from ``wrist`` (its force rotated into the base frame by ``wrist_R_base``,
        default: the frame of the joint the robot file puts its wrist sensor on, else the flange's;
        zeroed at the start, as a real sensor is before a guarded move, so the tool's weight does
        not count) or, without a sensor, from the external
        joint torques estimated with the control model (`ExternalTorqueObserver`). The line is not checked
        against the planning scene: touching is what it is for. With ``average_periods`` N > 1 the
        arm first holds still for N periods and the tare is their mean, and the force compared with
        ``force_n`` is the mean of the last N readings (compared from the N-th period of the motion
        on): a sensor's noise divided by sqrt(N), for a detection later by about N/2 periods.
        Returns OK with ``info`` (``force_n``, ``travel_m``, ``tcp_xyz``) at contact, NO_CONTACT at
        the end of the line once the arm has reached it (every joint within `CATCH_UP_TOL_RAD` of
        the line's end, which is held for at most `CATCH_UP_S` more)."""
        from officina.controllers.contact import ExternalTorqueObserver

        d = np.asarray(direction, float).reshape(3)
        if not np.linalg.norm(d) > 0 or not max_distance_m > 0 or not force_n > 0 or not speed_m_s > 0:
            return SkillResult(SkillStatus.PLANNING_FAILED, "guarded move: direction, distance, force and speed must be positive")
        n_avg = max(1, int(average_periods))
        d = d / np.linalg.norm(d)
        T0 = self.model.frame_transform(self._q_cmd, "tcp")
        T1 = T0.copy()
        T1[:3, 3] += d * max_distance_m
        try:
            traj = plan_cartesian_line(self.model, self._q_cmd, T1, self.dt, max_speed_m_s=speed_m_s)
        except TrajectoryError as exc:
            return SkillResult(SkillStatus.PLANNING_FAILED, str(exc))
        observer = None
        if wrist is None:
            observer = ExternalTorqueObserver(self.model)
            observer.reset(self.arm.read())
        else:
            tare = np.asarray(wrist.read().force, float)
            if n_avg > 1:  # hold still while the tare is averaged
                reads = [tare]
                for _ in range(n_avg - 1):
                    self.arm.command_positions(self._q_cmd)
                    self.tick()
                    stop = self._stopped()
                    if stop is not None:
                        return stop
                    reads.append(np.asarray(wrist.read().force, float))
                tare = np.mean(reads, axis=0)
        # the sensor's frame when no rotation is given: its joint's (the Panda's hand is turned
        # 45 deg on its flange), else the flange's
        ws = self.model.spec.wrist_sensor
        sensor_frame = ws.joint if ws is not None and self.model.model.existFrame(ws.joint) else "flange"
        force = 0.0
        recent: deque[float] = deque(maxlen=n_avg)
        # The line, then its end held until the arm is there (within CATCH_UP_TOL_RAD, for at most
        # CATCH_UP_S): an arm behind a network lags its commands by the controller's and the
        # network's delays, and more after a stall of a process on the way, so the tool can touch
        # after the line's last command has gone out.
        end = traj.q[-1]
        hold_end = itertools.repeat((end, None), max(1, int(round(CATCH_UP_S / self.dt))))
        for k, (q, qd) in enumerate(itertools.chain(zip(traj.q, traj.qd), hold_end)):
            if k >= len(traj.q) and float(np.max(np.abs(self.arm.read().position - end))) < CATCH_UP_TOL_RAD:
                break
            self.arm.command_positions(q, qd)
            self._q_cmd = q
            self.tick()
            stop = self._stopped()
            if stop is not None:
                return stop
            st = self.arm.read()
            if wrist is not None:
                R = self.model.frame_transform(st.position, sensor_frame)[:3, :3] if wrist_R_base is None else wrist_R_base
                f_base = R @ (np.asarray(wrist.read().force, float) - tare)
                # the sensor measures what the tool pushes on it: against the motion is along -d
                recent.append(float(-(f_base @ d)))
            else:
                tau = observer.update(st)
                Jv = self.model.jacobian(st.position, "tcp")[:3]
                f_ext, *_ = np.linalg.lstsq(Jv.T, tau, rcond=1e-3)
                recent.append(float(-(f_ext @ d)))
            force = sum(recent) / len(recent)
            # the mean of fewer than N readings has more noise than the threshold was set for
            if len(recent) == n_avg and force >= force_n:
                # stop where the arm is: hold the measured position, the contact force stays bounded
                self._q_cmd = st.position.copy()
                self.arm.command_positions(self._q_cmd)
                tcp = self.model.frame_transform(st.position, "tcp")[:3, 3]
                return SkillResult(SkillStatus.OK, f"contact {force:.1f} N", {
                    "force_n": force, "travel_m": float((tcp - T0[:3, 3]) @ d), "tcp_xyz": tcp.tolist()})
        return SkillResult(SkillStatus.NO_CONTACT, f"no contact within {max_distance_m * 1e3:.0f} mm "
                           f"(last force {force:.1f} N)")

    def position_error(self) -> float:
        """The largest joint error of the arm against the last command [rad]."""
        return float(np.max(np.abs(self.arm.read().position - self._q_cmd)))

    def wait_in_position(self, tol_rad: float = 2e-3, timeout_s: float = 1.0, still_s: float = 0.0) -> bool:
        """Hold the last command until the arm's joints are within ``tol_rad`` of it (at most
        ``timeout_s``); True when they are. A real arm lags its commands by its controller's and
        the network's delays (through ROS, several periods): a grasp or a release that must happen
        where the tool was sent waits for this. With ``still_s`` the joints must stay within
        ``tol_rad`` for that long: a swinging arm passes through its target without staying there."""
        need = max(1, int(round(still_s / self.dt)))
        still = 0
        for _ in range(max(1, int(round(timeout_s / self.dt)))):
            still = still + 1 if self.position_error() < tol_rad else 0
            if still >= need:
                return True
            self.arm.command_positions(self._q_cmd)
            self.tick()
        return need == 1 and self.position_error() < tol_rad

    def settle(self, seconds: float) -> None:
        """Hold the last commanded position for ``seconds`` (commanding it every period)."""
        for _ in range(max(1, int(round(seconds / self.dt)))):
            self.arm.command_positions(self._q_cmd)
            self.tick()

    def move_joints(self, q_target: np.ndarray) -> SkillResult:
        if self.planner is not None:
            return self._planned_move(np.asarray(q_target, float))
        try:
            traj = plan_joint_move(
                self._q_cmd, np.asarray(q_target, float), self.model.limits, self.dt,
                velocity_scale=self.velocity_scale, acceleration_scale=self.velocity_scale,
                jerk_scale=self.velocity_scale,
            )
        except TrajectoryError as exc:
            return SkillResult(SkillStatus.PLANNING_FAILED, str(exc))
        step = max(1, int(0.05 / self.dt))
        for q in traj.q[::step]:
            if not self.links_clear(q):
                return SkillResult(SkillStatus.PLANNING_FAILED, "joint move would take a link below the work surface")
        if self.max_tcp_speed_m_s is not None:
            q0, q1 = self._q_cmd.copy(), np.asarray(q_target, float)
            traj = self._within_tool_speed(traj, self.velocity_scale, lambda v: plan_joint_move(
                q0, q1, self.model.limits, self.dt, velocity_scale=v, acceleration_scale=self.velocity_scale,
                jerk_scale=self.velocity_scale))
        return self.execute(traj)

    def ik(self, base_T_tcp: np.ndarray, q_hint: np.ndarray | None = None, n_candidates: int = 6):
        """IK seeded from the current command, then from home and random restarts; among the
        solutions found, the one with the smallest largest joint displacement wins (no wrist or
        elbow flips when a nearby solution exists)."""
        seed = self._q_cmd if q_hint is None else np.asarray(q_hint, float)
        home = self.model.spec.home
        best = None
        seeds = [seed, home] + [self.rng.uniform(self.model.limits.lower, self.model.limits.upper)
                                for _ in range(n_candidates - 2)]
        for i, s0 in enumerate(seeds):
            r = solve_ik(self.model, base_T_tcp, "tcp", s0, rng=self.rng, max_restarts=0 if i else 20,
                         posture=home, posture_gain=0.05)
            if not r.success or not self.config_clear(r.q):
                continue
            cost = float(np.max(np.abs(r.q - seed)))
            if best is None or cost < best[0]:
                best = (cost, r)
            if i == 0 and cost < 0.5:
                break
        if best is None:
            return solve_ik(self.model, base_T_tcp, "tcp", seed, rng=self.rng, max_restarts=0)
        return best[1]

    def config_clear(self, q: np.ndarray) -> bool:
        """With a planning scene: nothing of the robot touches anything at q (the padding is
        not required of a goal: a grasp pose may be closer than that to the table). Without:
        `links_clear`."""
        if self.checker is not None:
            return self.checker.is_valid(q, -self.checker.padding_m)
        return self.links_clear(q)

    def _planned_move(self, q_target: np.ndarray, goals: list[np.ndarray] = ()) -> SkillResult:
        """Direct when free, planned otherwise; to ``q_target`` or, failing that, to ``goals``."""
        assert self.planner is not None
        seed = int(self.rng.integers(2**31 - 1))
        r = self.planner.plan(self._q_cmd, q_target, seed=seed)
        if not r.success and goals and r.status in (PlanStatus.GOAL_IN_COLLISION, PlanStatus.NO_PLAN):
            r = self.planner.plan(self._q_cmd, np.array(goals), seed=seed)
        if not r.success:
            status = SkillStatus.COLLISION if r.status.bad_input else SkillStatus.PLANNING_FAILED
            return SkillResult(status, r.message)
        traj = r.trajectory
        if self.max_tcp_speed_m_s is not None and r.path is not None:
            settings = self.planner.settings

            def retime(v: float) -> JointTrajectory:
                timer = MotionPlanner(self.model, self.checker, self.dt, replace(settings, velocity_scale=v))
                return timer.time_parameterize(r.path)

            traj = self._within_tool_speed(traj, settings.velocity_scale, retime)
        return self.execute(traj)

    def _within_tool_speed(self, traj: JointTrajectory, velocity_scale: float,
                           retime: Callable[[float], JointTrajectory]) -> JointTrajectory:
        """A trajectory whose tcp would exceed ``max_tcp_speed_m_s``, timed again along the same
        path with lower joint velocity limits (the accelerations and jerks kept, so only the
        fast part slows down); `execute` slows down what is still too fast as a whole."""
        cap = self.max_tcp_speed_m_s
        peak = self.tcp_speed_peak(traj)
        v = velocity_scale
        for _ in range(4):
            if peak <= cap:
                break
            v *= 0.98 * cap / peak
            traj = retime(v)
            peak = self.tcp_speed_peak(traj)
        return traj

    def links_clear(self, q: np.ndarray) -> bool:
        """Every joint origin past the second one stays above ``min_link_z`` (base frame)."""
        if self.min_link_z is None:
            return True
        import pinocchio as pin

        m = self.model
        pin.forwardKinematics(m.model, m.data, m._to_model(np.asarray(q, float)))
        z = np.array([m.data.oMi[j].translation[2] for j in range(3, m.model.njoints)])
        tcp_z = m.frame_transform(q, "tcp")[2, 3]
        return bool(np.all(z > self.min_link_z) and tcp_z > self.min_link_z - 0.05)

    def move_to_pose(self, base_T_tcp: np.ndarray, q_hint: np.ndarray | None = None) -> SkillResult:
        r = self.ik(base_T_tcp, q_hint)
        if not r.success:
            return SkillResult(SkillStatus.IK_FAILED, f"pose unreachable (error {r.position_error_m * 1e3:.1f} mm)")
        if self.planner is not None:
            goals, _ = self.planner.goal_configurations(base_T_tcp, "tcp", self._q_cmd,
                                                        np.random.default_rng(int(self.rng.integers(2**31 - 1))))
            return self._planned_move(r.q, goals)
        return self.move_joints(r.q)

    def move_line(self, base_T_tcp: np.ndarray, speed_m_s: float | None = None, *,
                  escape_m: float = 0.0) -> SkillResult:
        """The tcp in a straight line to ``base_T_tcp``. With a planning scene the line is checked
        first and refused when it would collide; ``escape_m`` lets its first metres start in
        contact (backing out of a contact the arm stopped in, or off a part it just released)."""
        try:
            traj = plan_cartesian_line(
                self.model, self._q_cmd, base_T_tcp, self.dt,
                max_speed_m_s=speed_m_s or self.linear_speed_m_s,
                max_accel_m_s2=self.linear_accel_m_s2, max_jerk_m_s3=10.0 * self.linear_accel_m_s2,
            )
        except TrajectoryError as exc:
            return SkillResult(SkillStatus.PLANNING_FAILED, str(exc))
        if self.planner is not None:
            k0 = 0
            if escape_m > 0:
                p0 = self.model.frame_transform(traj.q[0], "tcp")[:3, 3]
                k0 = next((k for k, q in enumerate(traj.q)
                           if np.linalg.norm(self.model.frame_transform(q, "tcp")[:3, 3] - p0) >= escape_m),
                          len(traj.q) - 1)
            check = self.planner.check_trajectory(traj.q[k0], traj.q[k0:]) if k0 else \
                self.planner.check_trajectory(self._q_cmd, traj.q)
            if not check.ok:
                where = 100.0 * check.index / max(1, len(traj.q))
                contacts = "; ".join(str(c) for c in check.contacts[:3])
                return SkillResult(SkillStatus.COLLISION,
                                   f"straight line would collide at {where:.0f}% of the path: {contacts}")
        return self.execute(traj)

    def _hold_while_stopped(self) -> None:
        """Hold the arm while the robot's safety system keeps it stopped (a speed override of 0):
        the tool does not move either while, e.g., a person stands too close."""
        while getattr(self.arm, "speed_scaling", 1.0) == 0.0:
            self.arm.command_positions(self._q_cmd)
            self.tick()

    # The gripper's command is done when its width has stood still for GRIPPER_STEADY_S (changing
    # by less than GRIPPER_STEADY_M a control period) either at the commanded width (within
    # GRIPPER_WIDTH_TOL_M) or, stalled on an object, elsewhere. A stand-still counts as a stall only
    # once the fingers have moved (by more than GRIPPER_WIDTH_TOL_M) or the command has been on for
    # GRIPPER_START_S: a gripper starts moving some periods after its command (its controller's
    # and its bus's delays), and before that its width stands still where it was.
    GRIPPER_STEADY_S = 0.05
    GRIPPER_STEADY_M = 2e-5
    GRIPPER_WIDTH_TOL_M = 1e-3
    GRIPPER_START_S = 0.2

    def _wait_gripper(self, target_m: float, timeout_s: float, *, releasing: bool = False) -> tuple[float, str]:
        """Hold the arm while the gripper carries out a command toward ``target_m`` (m); return
        the width and how the command ended: ``"reached"`` (steady at the target, or beyond it
        when opening; ``releasing``: also at the full width, which a vacuum gripper reads once
        vented whatever width was asked), ``"stalled"`` (steady elsewhere: fingers on an object)
        or ``"timeout"`` (still moving, or not yet started, after ``timeout_s``)."""
        assert self.gripper is not None
        steady_ticks = max(1, int(round(self.GRIPPER_STEADY_S / self.dt)))
        start_ticks = max(1, int(round(self.GRIPPER_START_S / self.dt)))
        w0 = last = self.gripper.width()
        opening = target_m >= w0  # opening: wider than asked is let go too
        full = self.gripper.max_width - self.GRIPPER_WIDTH_TOL_M
        moved = False
        still = 0
        for k in range(1, max(1, int(round(timeout_s / self.dt))) + 1):
            self.arm.command_positions(self._q_cmd)
            self.tick()
            w = self.gripper.width()
            still = still + 1 if abs(w - last) < self.GRIPPER_STEADY_M else 0
            moved = moved or abs(w - w0) > self.GRIPPER_WIDTH_TOL_M
            last = w
            if still < steady_ticks:
                continue
            if (w >= target_m - self.GRIPPER_WIDTH_TOL_M if opening else abs(w - target_m) <= self.GRIPPER_WIDTH_TOL_M) \
                    or (releasing and w >= full):
                return w, "reached"
            if moved or k >= start_ticks:
                return w, "stalled"
        return last, "timeout"

    def grasp(self, force_n: float, timeout_s: float = 1.5, min_width_m: float = 0.003) -> SkillResult:
        """Close with a force limit; holding when the fingers stop apart (an object between).
        Fingers still moving at ``timeout_s`` are a failed grasp (``GRIPPER_FAILED``)."""
        if self.gripper is None:
            return SkillResult(SkillStatus.GRASP_EMPTY, "robot has no gripper")
        self._hold_while_stopped()
        self.wait_in_position()  # the fingers close where the tool was sent, not on the way there
        self.gripper.close(0.0, force_n)
        w, how = self._wait_gripper(0.0, timeout_s)
        if self.checker is not None:
            self.checker.gripper_width_m = w
        if how == "timeout":
            return SkillResult(SkillStatus.GRIPPER_FAILED, f"the gripper did not finish closing within "
                               f"{timeout_s:.1f} s (width {w * 1e3:.1f} mm)", {"width_m": w})
        if w > min_width_m:
            return SkillResult(SkillStatus.OK, info={"width_m": w})
        return SkillResult(SkillStatus.GRASP_EMPTY, f"gripper closed on nothing (width {w * 1e3:.1f} mm)",
                           {"width_m": w})

    def release(self, timeout_s: float = 1.0, width_m: float | None = None) -> SkillResult:
        """Open the gripper (fully, or to ``width_m``: a release where open fingers would not fit).
        Fingers that stop short of the width (something holds them: the part is not let go) or are
        still moving at ``timeout_s`` are a failed release (``GRIPPER_FAILED``)."""
        if self.gripper is None:
            return SkillResult(SkillStatus.OK)
        self._hold_while_stopped()
        self.wait_in_position()  # the fingers open where the tool was sent, not on the way there
        self.gripper.open(width_m)
        target = self.gripper.max_width if width_m is None else float(np.clip(width_m, 0.0, self.gripper.max_width))
        w, how = self._wait_gripper(target, timeout_s, releasing=True)
        if self.checker is not None:
            self.checker.gripper_width_m = w
        if how == "reached":
            return SkillResult(SkillStatus.OK, info={"width_m": w})
        why = "stopped" if how == "stalled" else f"was still moving after {timeout_s:.1f} s"
        return SkillResult(SkillStatus.GRIPPER_FAILED, f"the gripper {why} at {w * 1e3:.1f} mm opening "
                           f"to {target * 1e3:.1f} mm", {"width_m": w})
