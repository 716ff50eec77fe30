"""PyBullet implementations of the `Arm`, `Gripper` and `ForceTorqueSensor` interfaces.

A command is held until the next one (as on a real arm); physics advances only when the
owner of the world calls ``SimWorld.step``. ``control_dt`` must be a whole multiple of the
world's ``sim_dt`` (checked once, at construction).
"""

from __future__ import annotations

import struct

import numpy as np
from officina.sim.bullet import pybullet as p

from officina.interfaces import ControlMode, GraspState, JointLimits, JointState, Wrench, as_joint_array, joint_state
from officina.sim.world import SimRobotHandle, SimWorld

__all__ = ["SimArm", "SimGripper", "SimForceTorqueSensor", "control_substeps"]


def control_substeps(control_dt: float, sim_dt: float) -> int:
    """Number of physics steps per control period; raises if not a whole multiple."""
    n = control_dt / sim_dt
    k = int(round(n))
    if k < 1 or abs(n - k) > 1e-9 * max(1.0, n):
        raise ValueError(
            f"control_dt ({control_dt} s) must be a whole multiple of sim_dt ({sim_dt} s)"
        )
    return k


def _is_joint_array(a, shape: tuple[int]) -> bool:
    """``a`` is already what `as_joint_array` would make of it (a 1-D float64 array of the length)."""
    return type(a) is np.ndarray and a.shape == shape and a.dtype == np.float64


class SimArm:
    """The arm joints of a simulated robot, in the robot's joint-name order."""

    def __init__(self, world: SimWorld, robot: SimRobotHandle, control_dt: float = 0.001,
                 position_gain: float = 0.3, velocity_gain: float = 1.0) -> None:
        self._world = world
        self._robot = robot
        self._cid = world.client_id
        self._body = robot.body_id
        self._spec = robot.spec
        self._idx = [robot.joint_index[n] for n in robot.spec.joint_names]
        self._n = len(self._idx)
        self._shape = (self._n,)
        self._pack = struct.Struct(f"{3 * self._n}d").pack
        self._rows_shape = (3, self._n)
        self.substeps = control_substeps(control_dt, world.sim_dt)
        self._control_dt = float(control_dt)
        self._mode = ControlMode.POSITION
        self._kp = [position_gain] * self._n
        self._kd = [velocity_gain] * self._n
        self._forces = self._spec.limits.effort.tolist()
        self._last_effort = np.zeros(self._n)
        self._cache: JointState | None = None
        self._cache_step = -1
        self.command_positions(np.asarray(robot.spec.home, dtype=float))

    # --- Arm protocol ---------------------------------------------------------------------------
    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._spec.joint_names

    @property
    def limits(self) -> JointLimits:
        return self._spec.limits

    @property
    def control_period(self) -> float:
        return self._control_dt

    @property
    def mode(self) -> ControlMode:
        return self._mode

    def read(self) -> JointState:
        # The state only changes when the world steps: read PyBullet once per step.
        world = self._world
        if self._cache_step == world.steps and self._cache is not None:
            return self._cache
        pos, vel, _, applied = zip(*p.getJointStates(self._body, self._idx, physicsClientId=self._cid))
        # The floats packed as native doubles, in one flat pass (np.array of the three tuples
        # inspects them as nested sequences); an array over bytes is read-only from the start,
        # as the state is shared between the readers of this step (and so are its rows).
        a = np.ndarray(self._rows_shape, float, self._pack(*(pos + vel + applied)))
        if self._mode is ControlMode.TORQUE:
            eff = self._last_effort.copy()
            eff.setflags(write=False)
        else:
            eff = a[2]
        steps = world.steps
        # stamped world.time (steps x sim_dt), without the property's call
        self._cache = st = joint_state(steps * world.sim_dt, self._spec.joint_names, a[0], a[1], eff)
        self._cache_step = steps
        return st

    def set_mode(self, mode: ControlMode) -> None:
        mode = ControlMode(mode)
        self._cache = None
        if mode == ControlMode.TORQUE and self._mode != ControlMode.TORQUE:
            # Turn PyBullet's default joint motors off, or they fight the torques.
            p.setJointMotorControlArray(self._body, self._idx, p.VELOCITY_CONTROL,
                                        forces=[0.0] * self._n, physicsClientId=self._cid)
        if mode != ControlMode.TORQUE and self._mode == ControlMode.TORQUE:
            q = self.read().position
            self._mode = mode
            self.command_positions(q)
        self._mode = mode

    def command_positions(self, q: np.ndarray, qd: np.ndarray | None = None) -> None:
        """Position targets (rad), with an optional velocity feed-forward (rad/s)."""
        if self._mode != ControlMode.POSITION:
            raise RuntimeError(f"arm is in {self._mode.value} mode; call set_mode(POSITION) first")
        if not _is_joint_array(q, self._shape):  # the safety filter's output already is one
            q = as_joint_array(q, self._n, "position command")
        kw = {}
        if qd is not None:
            if not _is_joint_array(qd, self._shape):
                qd = as_joint_array(qd, self._n, "velocity feed-forward")
            kw["targetVelocities"] = qd.tolist()
        p.setJointMotorControlArray(
            self._body, self._idx, p.POSITION_CONTROL, targetPositions=q.tolist(), forces=self._forces,
            positionGains=self._kp, velocityGains=self._kd, physicsClientId=self._cid, **kw,
        )

    def command_position_floats(self, q: list[float], qd: list[float] | None = None) -> None:
        """`command_positions` of a command already checked: ``q`` (and ``qd``) lists of one Python
        float per joint, as `SafeArm` sends its safety filter's output; nothing is checked but
        the mode."""
        if self._mode != ControlMode.POSITION:
            raise RuntimeError(f"arm is in {self._mode.value} mode; call set_mode(POSITION) first")
        if qd is None:
            p.setJointMotorControlArray(self._body, self._idx, p.POSITION_CONTROL, targetPositions=q,
                                        forces=self._forces, positionGains=self._kp, velocityGains=self._kd,
                                        physicsClientId=self._cid)
        else:
            p.setJointMotorControlArray(self._body, self._idx, p.POSITION_CONTROL, targetPositions=q,
                                        targetVelocities=qd, forces=self._forces, positionGains=self._kp,
                                        velocityGains=self._kd, physicsClientId=self._cid)

    def command_velocities(self, qd: np.ndarray) -> None:
        if self._mode != ControlMode.VELOCITY:
            raise RuntimeError(f"arm is in {self._mode.value} mode; call set_mode(VELOCITY) first")
        qd = as_joint_array(qd, self._n, "velocity command")
        p.setJointMotorControlArray(self._body, self._idx, p.VELOCITY_CONTROL, targetVelocities=qd.tolist(),
                                    forces=self._forces, physicsClientId=self._cid)

    def command_torques(self, tau: np.ndarray) -> None:
        if self._mode != ControlMode.TORQUE:
            raise RuntimeError(f"arm is in {self._mode.value} mode; call set_mode(TORQUE) first")
        tau = np.clip(as_joint_array(tau, self._n, "torque command"), -self._spec.limits.effort,
                      self._spec.limits.effort)
        self._last_effort = tau
        self._cache = None
        p.setJointMotorControlArray(self._body, self._idx, p.TORQUE_CONTROL, forces=tau.tolist(),
                                    physicsClientId=self._cid)

    @property
    def speed_scaling(self) -> float:
        """The speed override the cell's safety system imposes (1: none; `SimWorld.set_speed_override`),
        as a robot controller reports it; `officina.controllers.safe_arm.SafeArm` applies it."""
        return self._world.speed_override(self._robot)

    def fault(self) -> str | None:
        """The simulated arm has no fault of its own (the protective stop is `SafeArm`'s)."""
        return None

    def clear_fault(self) -> bool:
        return True

    def reset(self, q: np.ndarray) -> None:
        """Teleport the joints (setup only, never during a run)."""
        q = as_joint_array(q, self._n, "reset positions")
        self._cache = None
        for j, v in zip(self._idx, q):
            p.resetJointState(self._body, j, float(v), 0.0, physicsClientId=self._cid)
        if self._mode == ControlMode.POSITION:
            self.command_positions(q)


class SimGripper:
    """A force-limited parallel gripper: fingers are motors with a maximum force, objects are
    held by contact and friction only (never attached by a constraint).

    Two fingers are coupled as the real grippers' mechanisms couple them (the Franka Hand, the
    usual electric parallel grippers): a gear constraint keeps their joint positions equal, so the
    fingers close symmetrically about the tcp and a held part does not slide sideways with both
    fingers when pushed along their axis (two independent force-limited motors would let it)."""

    def __init__(self, world: SimWorld, robot: SimRobotHandle, *, finger_friction: float = 1.2) -> None:
        spec = robot.spec.gripper
        if spec is None:
            raise ValueError(f"robot {robot.spec.name!r} has no gripper")
        if not spec.finger_joints:
            raise ValueError(f"robot {robot.spec.name!r}: its {spec.kind} gripper has no fingers; "
                             "use officina.sim.grippers.make_gripper")
        self._world = world
        self._robot = robot
        self._cid = world.client_id
        self._body = robot.body_id
        self._spec = spec
        self._idx = [robot.joint_index[n] for n in spec.finger_joints]
        self._per_finger_max = spec.max_width_m / len(self._idx)
        self._target = spec.max_width_m
        self._force = spec.max_force_n
        for j in self._idx:
            p.changeDynamics(self._body, j, lateralFriction=finger_friction, spinningFriction=0.002,
                             frictionAnchor=True, physicsClientId=self._cid)
            p.resetJointState(self._body, j, self._per_finger_max, 0.0, physicsClientId=self._cid)
        self.coupling = None
        if len(self._idx) == 2:
            a, b = self._idx
            self.coupling = p.createConstraint(
                self._body, a, self._body, b, jointType=p.JOINT_GEAR, jointAxis=[1, 0, 0],
                parentFramePosition=[0, 0, 0], childFramePosition=[0, 0, 0], physicsClientId=self._cid)
            p.changeConstraint(self.coupling, gearRatio=-1, erp=0.05, maxForce=10.0 * spec.max_force_n,
                               physicsClientId=self._cid)
        self._apply()

    @property
    def max_width(self) -> float:
        return self._spec.max_width_m

    def _apply(self) -> None:
        per = float(np.clip(self._target / len(self._idx), 0.0, self._per_finger_max))
        for j in self._idx:
            p.setJointMotorControl2(
                self._body, j, p.POSITION_CONTROL, targetPosition=per, force=self._force,
                maxVelocity=self._spec.speed_m_s, positionGain=0.2, physicsClientId=self._cid,
            )

    def open(self, width: float | None = None) -> None:
        self._target = self._spec.max_width_m if width is None else float(np.clip(width, 0.0, self.max_width))
        self._force = self._spec.max_force_n
        self._forget_contacts()
        self._apply()

    def _forget_contacts(self) -> None:
        """Drop the contact points Bullet keeps between the fingers and what they touch; the next
        step finds the contacts anew. Bullet carries a pair's contact points from step to step with
        the normal each was found with: a point found while a pad met a part on an edge (a normal
        across the pad, even pointing out of it) stays while the pad opens away from the part, and
        holds the finger against its motor, so that the fingers go on squeezing a part they were
        told to let go. Switching collisions of a pair off and on again clears its points (they
        collide as before: only pairs that are in contact, so colliding, are switched)."""
        pairs = {(j, c[2], c[4]) for j in self._idx
                 for c in p.getContactPoints(bodyA=self._body, linkIndexA=j, physicsClientId=self._cid)
                 if c[2] != self._body}
        for j, body, link in sorted(pairs):
            p.setCollisionFilterPair(self._body, body, j, link, 0, physicsClientId=self._cid)
            p.setCollisionFilterPair(self._body, body, j, link, 1, physicsClientId=self._cid)

    def close(self, width: float = 0.0, force: float | None = None) -> None:
        self._target = float(np.clip(width, 0.0, self.max_width))
        f = self._spec.max_force_n if force is None else float(force)
        self._force = float(np.clip(f, 0.0, self._spec.max_force_n))
        self._apply()

    def width(self) -> float:
        return float(sum(s[0] for s in p.getJointStates(self._body, self._idx, physicsClientId=self._cid)))

    def finger_speed(self) -> float:
        return float(max(abs(s[1]) for s in p.getJointStates(self._body, self._idx, physicsClientId=self._cid)))

    def finger_state(self) -> JointState:
        """Position (m), velocity (m/s) and effort (N) of each finger joint, in the order of the
        gripper's ``finger_joints``, stamped with the world's time."""
        a = np.array([(s[0], s[1], s[3]) for s in
                      p.getJointStates(self._body, self._idx, physicsClientId=self._cid)]).reshape(-1, 3).T
        return JointState(self._world.time, tuple(self._spec.finger_joints), a[0], a[1], a[2])

    def grasp_state(self) -> GraspState:
        w = self.width()
        moving = self.finger_speed() > 5e-3
        if moving:
            return GraspState.MOVING
        if self._target >= self.max_width - 1e-3 and w >= self._target - 2e-3:
            return GraspState.OPEN
        if w > self._target + 3e-3:
            return GraspState.HOLDING
        return GraspState.CLOSED_EMPTY if self._target < 1e-3 else GraspState.OPEN


class SimForceTorqueSensor:
    """A 6-axis force/torque sensor at a (fixed) joint, e.g. the wrist, with noise and bias.

    Reports the wrench the world applies to the tool side of the joint (the `Wrench` convention:
    PyBullet's joint reaction wrench with its sign turned), in the joint frame, plus a constant
    ``bias`` and Gaussian noise of ``noise_std`` drawn from the injected Generator.
    """

    def __init__(self, world: SimWorld, robot: SimRobotHandle, joint_name: str, *,
                 rng: np.random.Generator, noise_std=(0.0,) * 6, bias=(0.0,) * 6) -> None:
        if joint_name not in robot.joint_index:
            raise ValueError(f"force/torque sensor: joint {joint_name!r} not in robot {robot.spec.name!r}")
        self._world = world
        self._robot = robot
        self._cid = world.client_id
        self._body = robot.body_id
        self._j = robot.joint_index[joint_name]
        self._rng = rng
        self._noise = np.asarray(noise_std, dtype=float)
        self._bias = np.asarray(bias, dtype=float)
        p.enableJointForceTorqueSensor(self._body, self._j, True, physicsClientId=self._cid)

    def read(self) -> Wrench:
        w = -np.asarray(p.getJointState(self._body, self._j, physicsClientId=self._cid)[2], dtype=float)
        w = w + self._bias + (self._rng.normal(0.0, 1.0, 6) * self._noise if np.any(self._noise) else 0.0)
        return Wrench(self._world.time, w[:3].copy(), w[3:].copy())
