"""PyBullet as ros2_control fake hardware: the part of `officina ros sim` that knows no ROS.

The cell is built as every run builds it (`officina.tasks.runtime.build_sim_cell`: the robot, the
task's scene, the clock at zero, the simulated arm, gripper and camera). One control period
(`step`): sample the joint_trajectory_controller reference (or take the next forward command),
send it to the simulated arm's position interface (with velocity feed-forward), run the task's
scene motion (``before_step``, on the clock in use counted from the first period), advance the
physics by ``control_dt``. The node around it converts
messages, publishes states and paces the loop.

Forward commands are a stream of one position per control period. They are applied in the order
they arrived, one per period, so a burst that a busy process delivered at once moves the arm at
the rate the stream was made for, not several periods' worth in one. At most
`MAX_PENDING_COMMANDS` wait: beyond them one waiting command gives way per arrival, where the
stream's neighbours lie closest together, so that the arm catches up by one more period's worth
in a period, spread over the stream, instead of stepping over all the oldest at once (the gate's
limits hold per command, that is per period). A
gripper command that arrives behind pending forward commands takes effect after them (a vent is
applied where the arm was sent before it). A forward command's velocity feed-forward is the
stream's own: its step from the previous period's command over the period, as a drive's setpoint
interpolator derives it (zero in a period without a new command); without it the position loop
would brake the arm to rest within every period and restart it in the next.

The admittance controller (`officina.controllers.admittance.Admittance`, in the role of
ros2_controllers' ``admittance_controller`` chained after the trajectory and forward controllers),
on robots with a wrist sensor: while enabled (`set_admittance`), each period's joint reference is
offset by the admittance of the wrench the sensor measured after the last physics step (no
network in that loop), and the result passes the officina `SafetyFilter` (joint position,
velocity and acceleration limits) before it reaches the arm. The offset is bounded by the
config's maximum, itself at most `MAX_ADMITTANCE_OFFSET_M` / `MAX_ADMITTANCE_OFFSET_RAD`.
"""

from __future__ import annotations

import array
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from officina.errors import BadInput
from officina.interfaces import JointState
from officina.ros.convert import MalformedMessage
from officina.ros.jtc import JointTrajectoryFollower, JtcConfig, Trajectory, TrajectoryMsg, validate_trajectory
from officina.ros.robot_profiles import ResolvedProfile
from officina.tasks.base import TaskDefinition

__all__ = ["FakeHardware", "SimSetup", "RobotOnly", "MAX_PENDING_COMMANDS", "MAX_ADMITTANCE_OFFSET_M",
           "MAX_ADMITTANCE_OFFSET_RAD"]

MAX_PENDING_COMMANDS = 10  # forward commands waiting for their period (40 ms at 250 Hz)
MAX_ADMITTANCE_OFFSET_M = 0.02  # the most an admittance config may let the arm leave its reference
MAX_ADMITTANCE_OFFSET_RAD = 0.2


class RobotOnly(TaskDefinition):
    """The cell of ``--task none``: the robot alone, no scene, no camera."""

    name = "none"
    description = "the robot alone"


@dataclass(frozen=True)
class SimSetup:
    """What the simulated cell is: ``task`` (a task object, see `officina.tasks`; None: the robot
    alone) and its validated ``params`` (None: the task's defaults), the scene's ``seed``, the
    rates and the physics settings of `build_sim_cell`, and the trajectory controller's options."""

    rate_hz: float = 250.0
    sim_dt: float = 0.001
    task: Any = None
    params: Any = None
    seed: int = 0
    gravity: float = -9.81
    solver_iterations: int = 50
    gui: bool = False
    jtc: JtcConfig = JtcConfig()


class FakeHardware:
    """Simulated robot cell behind ros2_control-like command and state interfaces."""

    def __init__(self, resolved: ResolvedProfile, setup: SimSetup = SimSetup()) -> None:
        from officina.sim.arm import control_substeps
        from officina.tasks.runtime import build_sim_cell, task_hook

        self.resolved = resolved
        self.setup = setup
        spec = resolved.spec
        if not (1.0 <= setup.rate_hz <= 2000.0):
            raise BadInput(f"rate_hz must be between 1 and 2000, got {setup.rate_hz}")
        self.control_dt = 1.0 / setup.rate_hz
        try:
            control_substeps(self.control_dt, setup.sim_dt)
        except ValueError as exc:
            raise BadInput(f"rate_hz/sim_dt: {exc}") from None
        task = setup.task if setup.task is not None else RobotOnly()
        self.task = setup.task
        self.task_params = setup.params if setup.params is not None else task.Params()
        try:
            self.cell = build_sim_cell(task, self.task_params, spec, rng=np.random.default_rng(setup.seed),
                                       control_dt=self.control_dt, sim_dt=setup.sim_dt, gravity=setup.gravity,
                                       solver_iterations=setup.solver_iterations, gui=setup.gui)
        except ValueError as exc:  # a robot or scene that does not load
            raise BadInput(str(exc)) from None
        self.world = self.cell.world
        self.scene = self.cell.scene if setup.task is not None else None
        self.camera = self.cell.camera
        self.arm = self.cell.arm
        self.gripper = self.cell.gripper
        g = spec.gripper
        # a vacuum gripper has no finger joints: its state is the vacuum switch (`vacuum_holding`)
        self.vacuum = g is not None and g.kind == "vacuum"
        # the task's scene motion (a conveyor) runs in the ROS sim as in a run; its after_step
        # (ground truth for metrics) does not: the ROS sim reports no metrics
        self._before_step = task_hook(task, "before_step", self.cell)
        self.n = spec.dof
        self.lower = np.asarray(spec.limits.lower, float)
        self.upper = np.asarray(spec.limits.upper, float)
        self.follower = JointTrajectoryFollower(np.asarray(spec.home, float))
        self.t0 = 0.0  # clock-in-use time of world.time == 0
        self._t0_start: float | None = None  # t0 at the first period (the scene's clock starts there)
        self.periods = 0
        self.counts = {"trajectories_accepted": 0, "trajectories_rejected": 0, "commands_accepted": 0,
                       "commands_rejected": 0, "gripper_commands": 0, "gripper_rejected": 0,
                       "limit_clamps": 0, "periods_without_command": 0, "commands_thinned": 0,
                       "commands_thinned_with_admittance": 0}
        self.last_reason = ""
        self.source = "hold"  # "trajectory" | "commands" | "hold"
        self._pending: deque = deque()  # ("q", positions) | ("gripper", values), in arrival order
        # False: a forward command replaces the waiting ones (a command-synchronous drive runs the
        # period of the command that arrives, with that command)
        self.queue_commands = True
        self._fresh: np.ndarray | None = None  # the forward command taken this period, if any
        self._prev_cmd: np.ndarray | None = None  # the forward command of the previous period, if any
        self.vmax = np.asarray(spec.limits.velocity, float)
        # /joint_states: arm joints (wire names) then finger joints
        self._state_names = tuple(resolved.joint_names) + tuple(resolved.finger_joints)
        self.wrist = getattr(self.cell, "wrist", None)
        self.admittance = None  # officina.controllers.admittance.Admittance, made when first configured
        self._adm_filter = None  # the SafetyFilter its commands pass
        self._q_sent: np.ndarray | None = None  # the position command of the last period

    # --- the admittance controller ------------------------------------------------------------------
    def set_admittance(self, config) -> None:
        """Configure the admittance (`officina.interfaces.AdmittanceConfig`); raises BadInput (one
        line) for a robot without a wrist sensor or a config out of range. Enabling tares the
        sensor with its present reading and starts the safety filter from the last command."""
        from officina.controllers.admittance import Admittance, validate_admittance
        from officina.controllers.safety import SafetyFilter

        if self.wrist is None:
            raise BadInput(f"robot {self.resolved.spec.name!r} has no wrist force/torque sensor: no admittance")
        try:
            config = validate_admittance(config)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        if config.max_offset_m > MAX_ADMITTANCE_OFFSET_M or config.max_offset_rad > MAX_ADMITTANCE_OFFSET_RAD:
            raise BadInput(f"admittance max_offset_m / max_offset_rad: at most {MAX_ADMITTANCE_OFFSET_M} m and "
                           f"{MAX_ADMITTANCE_OFFSET_RAD} rad, got {config.max_offset_m} and {config.max_offset_rad}")
        if self.admittance is None:
            spec = self.resolved.spec
            self.admittance = Admittance(self.cell.model, self.control_dt, spec.wrist_sensor.joint)
            self._adm_filter = SafetyFilter(spec.limits, self.control_dt)
        was = self.admittance.enabled
        self.admittance.configure(config, self.wrist.read())
        if config.enabled and not was:
            st = self.arm.read()
            q0 = self._q_sent if self._q_sent is not None else st.position
            self._adm_filter.reset(JointState(st.stamp, st.names, q0, st.velocity, st.effort))

    # --- time ------------------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Seconds of the clock in use (sim time, offset by ``t0`` in real-time pacing)."""
        return self.t0 + self.periods * self.control_dt

    # --- commands --------------------------------------------------------------------------------------
    def accept_trajectory(self, msg: TrajectoryMsg) -> Trajectory:
        """Validate against the controller's joints (raises TrajectoryRejected) and replace the active one."""
        traj = validate_trajectory(msg, self.resolved.joint_names, self.now, self.follower.desired[0],
                                   self.setup.jtc)
        self._flush_pending()  # a trajectory replaces the forward commands still waiting
        self.follower.set_trajectory(traj)
        self.counts["trajectories_accepted"] += 1
        self.source = "trajectory"
        return traj

    def forward_command(self, values) -> np.ndarray:
        """One position per joint (robot order), for the next control period that has none; held
        until the next one. Raises MalformedMessage."""
        if isinstance(values, array.array) and values.typecode == "d":  # as rclpy hands float64[] over
            a = np.frombuffer(values, dtype=np.float64).copy()
        else:
            a = np.asarray(list(values), dtype=float).reshape(-1)
        if a.size != self.n:
            raise MalformedMessage(f"forward command has {a.size} values for {self.n} joints")
        if not np.all(np.isfinite(a)):
            raise MalformedMessage("forward command has non-finite values")
        if not self.queue_commands:
            self._flush_pending()
        self._pending.append(("q", a))
        while sum(kind == "q" for kind, _ in self._pending) > MAX_PENDING_COMMANDS:
            self._thin_pending()
            self.counts["commands_thinned"] += 1
            if self.admittance is not None and self.admittance.enabled:
                self.counts["commands_thinned_with_admittance"] += 1
        self.counts["commands_accepted"] += 1
        self.source = "commands"
        return a

    def gripper_command(self, values) -> None:
        """``[width_m]`` or ``[width_m, max_force_n]``: open to the width or close with at most the
        force; for a vacuum gripper, vent or switch the vacuum on regulated to the force (the
        width is ignored)."""
        if self.gripper is None:
            raise MalformedMessage("this robot has no gripper")
        a = np.asarray(list(values), dtype=float).reshape(-1)
        if a.size not in (1, 2) or not np.all(np.isfinite(a)) or a[0] < 0 or (a.size == 2 and a[1] < 0):
            raise MalformedMessage(f"gripper command must be [width_m] or [width_m, force_n] >= 0, got {a.tolist()}")
        if self._pending:
            self._pending.append(("gripper", a))
        else:
            self._apply_gripper(a)
        self.counts["gripper_commands"] += 1

    def _apply_gripper(self, a: np.ndarray) -> None:
        if a.size == 2:
            self.gripper.close(float(a[0]), float(a[1]))
        else:
            self.gripper.open(float(a[0]))

    def _pop_command(self) -> None:
        """Apply the pending gripper commands up to the next forward command, and hold that."""
        while self._pending:
            kind, a = self._pending.popleft()
            if kind == "gripper":
                self._apply_gripper(a)
            else:
                self.follower.hold(a)
                self._fresh = a
                return

    def _thin_pending(self) -> None:
        """One waiting forward command gives way: of those between the last one applied and the
        newest, the one whose neighbours lie closest together (the largest joint step between
        them), so that the arm catches up by a period's worth at a time, spread over the stream,
        instead of taking the oldest commands' periods in one step. Gripper commands stay where
        they are in the stream."""
        qs = [i for i, (kind, _) in enumerate(self._pending) if kind == "q"]
        points = [self.follower.desired[0]] + [self._pending[i][1] for i in qs]  # from the held command
        gaps = [float(np.max(np.abs(points[k + 1] - points[k - 1]))) for k in range(1, len(points) - 1)]
        del self._pending[qs[int(np.argmin(gaps))]]

    def _flush_pending(self) -> None:
        """Drop the waiting forward commands; the gripper commands among them take effect now."""
        for kind, a in self._pending:
            if kind == "gripper":
                self._apply_gripper(a)
        self._pending.clear()

    # --- the control period --------------------------------------------------------------------------------
    def step(self) -> None:
        if self._pending:
            if self.source == "commands":
                self._pop_command()
            else:  # a trajectory (topic or action) took over
                self._flush_pending()
        q, qd, _ = self.follower.sample(self.now)
        if self.source == "commands":
            fresh, self._fresh = self._fresh, None
            if fresh is None:
                self.counts["periods_without_command"] += 1
            if fresh is not None and self._prev_cmd is not None:
                qd = np.clip((fresh - self._prev_cmd) / self.control_dt, -self.vmax, self.vmax)
            self._prev_cmd = fresh
        else:
            self._fresh = self._prev_cmd = None
        qc = np.clip(q, self.lower, self.upper)
        if np.any(qc != q):
            self.counts["limit_clamps"] += 1
            qd = np.where(qc != q, 0.0, qd)
        if self.admittance is not None and self.admittance.enabled:
            st = self.arm.read()
            qa = self.admittance.step(qc, st, self.wrist.read())
            qc = self._adm_filter.filter_position(qa, st).command
            if np.any(np.abs(qc - qa) > 1e-12):
                self.counts["limit_clamps"] += 1
        self.arm.command_positions(qc, qd)
        self._q_sent = qc
        if self._before_step is not None:
            if self._t0_start is None:
                self._t0_start = self.t0
            # the scene's clock: the physics time plus what the real-time grid slipped (``t0``
            # moves when it does), so that a machine's timer runs on the clock the procedure reads
            # from /joint_states' stamps, as a real machine's runs on the wall clock
            self._before_step(self.world.time + (self.t0 - self._t0_start))
        self.world.step(self.arm.substeps)
        self.periods += 1

    # --- states ----------------------------------------------------------------------------------------
    @property
    def state_names(self) -> tuple[str, ...]:
        """/joint_states' joints: the arm's (wire names), then the fingers'."""
        return self._state_names

    def state_values(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, velocity and effort of `state_names`, as read from the physics this period."""
        arm = self.arm.read()
        if self.gripper is None or self.vacuum:
            return arm.position, arm.velocity, arm.effort
        f = self.gripper.finger_state()
        return (np.concatenate((arm.position, f.position)), np.concatenate((arm.velocity, f.velocity)),
                np.concatenate((arm.effort, f.effort)))

    def vacuum_holding(self) -> bool | None:
        """The vacuum switch of a vacuum gripper (a part is held), None for other grippers."""
        return bool(self.gripper.holding()) if self.vacuum else None

    def joint_state(self) -> JointState:
        """Arm joints (wire names) then finger joints, stamped with the clock in use."""
        return JointState(self.now, self._state_names, *self.state_values())

    def object_poses(self) -> np.ndarray:
        """(K, 7) x y z qx qy qz qw of the task's objects (ground truth), world frame."""
        objs = getattr(self.scene, "objects", None) or []
        return np.array([np.concatenate(self.world.object_pose(o.body_id)) for o in objs]).reshape(-1, 7)

    def close(self) -> None:
        self.world.close()
