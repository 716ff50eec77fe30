"""Skills: joint moves, pose moves, straight-line moves, grasp and release.

Skills talk to hardware only through the `Arm` and `Gripper` interfaces and advance time with
the ``tick`` callable of the runtime (simulation: one control period of physics; real arm:
wait for the next control period). They are the same code in simulation and on a real arm.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

import numpy as np

from officina.controllers.ik import solve_ik
from officina.controllers.model import RobotModel
from officina.controllers.trajectory import (
    JointTrajectory,
    TrajectoryError,
    plan_cartesian_line,
    plan_joint_move,
)
from officina.interfaces import Arm, Gripper

__all__ = ["SkillStatus", "SkillResult", "Skills"]


class SkillStatus(str, enum.Enum):
    OK = "ok"
    IK_FAILED = "ik_failed"
    PLANNING_FAILED = "planning_failed"
    GRASP_EMPTY = "grasp_empty"


@dataclass(frozen=True)
class SkillResult:
    status: SkillStatus
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == SkillStatus.OK


class Skills:
    """Motion skills over an Arm (position mode) and a Gripper.

    ``tick()`` advances one control period. ``velocity_scale`` scales the joint velocity,
    acceleration and jerk limits used by Ruckig.
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
        min_link_z: float | None = None,
    ) -> None:
        self.arm = arm
        self.gripper = gripper
        self.model = model
        self.tick = tick
        self.rng = rng
        self.velocity_scale = velocity_scale
        self.linear_speed_m_s = linear_speed_m_s
        self.min_link_z = min_link_z
        self.dt = arm.control_period
        self._q_cmd = arm.read().position.copy()

    @property
    def q_command(self) -> np.ndarray:
        """The last commanded joint positions (the reference, not the measurement)."""
        return self._q_cmd.copy()

    def execute(self, traj: JointTrajectory) -> SkillResult:
        for q, qd in zip(traj.q, traj.qd):
            self.arm.command_positions(q, qd)
            self._q_cmd = q
            self.tick()
        return SkillResult(SkillStatus.OK)

    def settle(self, seconds: float) -> None:
        """Hold the last commanded position for ``seconds`` (commanding it every period)."""
        for _ in range(max(1, int(round(seconds / self.dt)))):
            self.arm.command_positions(self._q_cmd)
            self.tick()

    def move_joints(self, q_target: np.ndarray) -> SkillResult:
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
            if not r.success or not self.links_clear(r.q):
                continue
            cost = float(np.max(np.abs(r.q - seed)))
            if best is None or cost < best[0]:
                best = (cost, r)
            if i == 0 and cost < 0.5:
                break
        if best is None:
            return solve_ik(self.model, base_T_tcp, "tcp", seed, rng=self.rng, max_restarts=0)
        return best[1]

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
        return self.move_joints(r.q)

    def move_line(self, base_T_tcp: np.ndarray, speed_m_s: float | None = None) -> SkillResult:
        try:
            traj = plan_cartesian_line(
                self.model, self._q_cmd, base_T_tcp, self.dt,
                max_speed_m_s=speed_m_s or self.linear_speed_m_s,
            )
        except TrajectoryError as exc:
            return SkillResult(SkillStatus.PLANNING_FAILED, str(exc))
        return self.execute(traj)

    def _wait_gripper(self, timeout_s: float) -> float:
        """Hold the arm and wait until the fingers stop (width steady for 50 ms); return the width."""
        assert self.gripper is not None
        steady_ticks = max(1, int(0.05 / self.dt))
        last = self.gripper.width()
        still = 0
        for _ in range(max(1, int(timeout_s / self.dt))):
            self.arm.command_positions(self._q_cmd)
            self.tick()
            w = self.gripper.width()
            still = still + 1 if abs(w - last) < 2e-5 else 0
            last = w
            if still >= steady_ticks:
                break
        return last

    def grasp(self, force_n: float, timeout_s: float = 1.5, min_width_m: float = 0.003) -> SkillResult:
        """Close with a force limit; holding when the fingers stop apart (an object between)."""
        if self.gripper is None:
            return SkillResult(SkillStatus.GRASP_EMPTY, "robot has no gripper")
        self.gripper.close(0.0, force_n)
        w = self._wait_gripper(timeout_s)
        if w > min_width_m:
            return SkillResult(SkillStatus.OK)
        return SkillResult(SkillStatus.GRASP_EMPTY, f"gripper closed on nothing (width {w * 1e3:.1f} mm)")

    def release(self, timeout_s: float = 1.0) -> SkillResult:
        if self.gripper is None:
            return SkillResult(SkillStatus.OK)
        self.gripper.open()
        self._wait_gripper(timeout_s)
        return SkillResult(SkillStatus.OK)
